package links

import (
	"strings"
	"testing"
)

// lookalikeCases are URLs built to pass for an issue link of acme on
// sentry.io or sentry.example.com without being one: other hosts dressed up
// as ours, ours wrapped in tricks a browser and Go's parser read
// differently, and paths whose issue id would not be a plain id once it
// reached Sentry's API. Every one must be rejected.
var lookalikeCases = []struct{ name, url string }{
	// Hosts that merely contain or resemble a link host.
	{"DashedHost", "https://evil-sentry.io/issues/4321/"},
	{"DashedSubdomain", "https://acme-sentry.io/issues/4321/"},
	{"HostAsSubdomainOfEvil", "https://sentry.io.evil.com/organizations/acme/issues/4321/"},
	{"OrgHostAsSubdomainOfEvil", "https://acme.sentry.io.evil.com/issues/4321/"},
	{"HostWithOtherTLD", "https://acme.sentry.com/issues/4321/"},
	{"HostDotsAsDashes", "https://acme.sentry-io.com/issues/4321/"},
	{"SelfHostedAsSubdomainOfEvil", "https://sentry.example.com.evil.com/organizations/acme/issues/4322/"},
	{"OrgSubdomainTrailingDot", "https://acme.sentry.io./issues/4321/"},
	{"OrgSubdomainTwoDots", "https://acme..sentry.io/issues/4321/"},
	{"IPv4MappedIPv6", "http://[::ffff:10.0.0.7]/issues/7/"},
	{"DecimalIP", "http://167772167/issues/7/"},

	// Internationalised look-alikes: the punycode form is a different
	// host, and the Unicode form must not fold onto ours.
	{"PunycodeHost", "https://xn--sentr-4ra.io/issues/4321/"},
	{"PunycodeOrgLabel", "https://xn--acm-4na.sentry.io/issues/4321/"},
	{"PunycodeUpperCase", "https://XN--ACM-4NA.sentry.io/issues/4321/"},
	{"CyrillicAInOrg", "https://\u0430cme.sentry.io/issues/4321/"},
	{"CyrillicEInHost", "https://acme.s\u0435ntry.io/issues/4321/"},
	{"GreekOmicronInTLD", "https://acme.sentry.i\u03bf/issues/4321/"},
	{"FullwidthLetters", "https://acme.\uff53\uff45\uff4e\uff54\uff52\uff59.io/issues/4321/"},
	{"FullwidthDot", "https://acme.sentry\uff0eio/issues/4321/"},
	{"IdeographicDot", "https://acme.sentry\u3002io/issues/4321/"},
	{"ZeroWidthSpaceInHost", "https://acme.sen\u200btry.io/issues/4321/"},
	{"CyrillicOrgInPath", "https://sentry.io/organizations/\u0430cme/issues/4321/"},

	// Userinfo in all its shapes, on either side of the real host.
	{"UserinfoRealHostFirst", "https://acme.sentry.io@evil.com/issues/4321/"},
	{"UserinfoWithPort", "https://acme.sentry.io:443@evil.com/issues/4321/"},
	{"UserinfoOnRealHostUser", "https://alice@acme.sentry.io/issues/4321/"},
	{"UserinfoEmpty", "https://@acme.sentry.io/issues/4321/"},
	{"UserinfoEmptyPassword", "https://:@acme.sentry.io/issues/4321/"},
	{"UserinfoEncodedAt", "https://acme.sentry.io%40evil.com/issues/4321/"},
	{"UserinfoEncodedSlash", "https://acme.sentry.io%2F@evil.com/issues/4321/"},
	{"UserinfoSemicolon", "https://acme.sentry.io;@evil.com/issues/4321/"},

	// Backslashes, which browsers read as slashes.
	{"BackslashBeforeAt", "https://acme.sentry.io\\@evil.com/issues/4321/"},
	{"BackslashAuthority", "https:\\\\acme.sentry.io\\issues\\4321\\"},
	{"BackslashInPath", "https://acme.sentry.io/issues\\4321/"},
	{"BackslashAfterScheme", "https:/\\acme.sentry.io/issues/4321/"},

	// The real host hidden in a fragment or a query of another.
	{"FragmentAt", "https://evil.com#@acme.sentry.io/issues/4321/"},
	{"QueryAt", "https://evil.com?@acme.sentry.io/issues/4321/"},
	{"RealURLInPath", "https://evil.com/https://acme.sentry.io/issues/4321/"},

	// Control characters and spaces.
	{"NULInHost", "https://acme.sentry.io\x00.evil.com/issues/4321/"},
	{"NewlineInHost", "https://acme.sentry.io\n.evil.com/issues/4321/"},
	{"SpaceInPath", "https://acme.sentry.io/issues/43 21/"},
	{"DELInPath", "https://acme.sentry.io/issues/4321\x7f/"},

	// Percent-encoding anywhere in the host or path.
	{"EncodedDotInHost", "https://acme%2Esentry.io/issues/4321/"},
	{"EncodedSlashAfterID", "https://acme.sentry.io/issues/4321%2F/"},
	{"EncodedSlashBeforeID", "https://acme.sentry.io/issues%2F4321/"},
	{"EncodedSlashInOrg", "https://sentry.io/organizations/acme%2Fissues/4321/"},
	{"DoubleEncodedSlash", "https://acme.sentry.io/issues/4321%252F..%252F/"},
	{"EncodedLetterInIssues", "https://acme.sentry.io/%69ssues/4321/"},
	{"EncodedNUL", "https://acme.sentry.io/issues/4321%00/"},
	{"EncodedDotDotInOrg", "https://sentry.io/organizations/%2e%2e/issues/4321/"},

	// Issue ids that are not a plain numeric or short id.
	{"SemicolonID", "https://acme.sentry.io/issues/4321;DROP/"},
	{"QuoteID", "https://acme.sentry.io/issues/4321'/"},
	{"DotDotID", "https://acme.sentry.io/issues/4321../"},
	{"ExtensionID", "https://acme.sentry.io/issues/4321.json"},
	{"ColonID", "https://acme.sentry.io/issues/4321:1/"},
	{"FullwidthDigitsID", "https://acme.sentry.io/issues/\uff14\uff13\uff12\uff11/"},
	{"SuperscriptDigitID", "https://acme.sentry.io/issues/432\u00b9/"},
	{"PlusID", "https://acme.sentry.io/issues/+4321/"},
	{"TildeID", "https://acme.sentry.io/issues/~4321/"},
	{"MatrixParam", "https://acme.sentry.io/issues/4321/..;/"},
	{"TraversalAfterEvent", "https://acme.sentry.io/issues/4321/events/latest/../../../"},
	{"VeryLongNumericID", "https://acme.sentry.io/issues/" + strings.Repeat("9", 10_000) + "/"},
	{"LongIDJustOverLimit", "https://acme.sentry.io/issues/" + strings.Repeat("A", maxIDLength) + "-1/"},
	{"VeryLongOrg", "https://sentry.io/organizations/" + strings.Repeat("a", 5_000) + "/issues/4321/"},
	{"HundredKilobyteURL", "https://acme.sentry.io/issues/4321/?" + strings.Repeat("x", 100_000)},

	// Ports that do not parse.
	{"TwoPorts", "https://acme.sentry.io:443:80/issues/4321/"},
	{"NamedPort", "https://acme.sentry.io:https/issues/4321/"},
}

func TestMatchRejectsLookalikes(t *testing.T) {
	m := NewMatcher("acme", []string{"sentry.io", "sentry.example.com", "10.0.0.7"})
	// The same matcher accepts the genuine links the cases imitate, so the
	// rejections below are about the tricks, not the configuration.
	for _, good := range []string{
		"https://acme.sentry.io/issues/4321/",
		"https://sentry.io/organizations/acme/issues/4321/",
		"https://sentry.example.com/organizations/acme/issues/4322/",
		"http://10.0.0.7/issues/7/",
		"https://acme.sentry.io/issues/" + strings.Repeat("9", maxIDLength) + "/",
	} {
		if _, ok := m.Match(good); !ok {
			t.Fatalf("the genuine link %q does not match; the look-alike cases prove nothing", good)
		}
	}
	seen := map[string]bool{}
	for _, tc := range lookalikeCases {
		if seen[tc.name] {
			t.Fatalf("case name %s used twice", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			if got, ok := m.Match(tc.url); ok || got != (Link{}) {
				t.Errorf("Match(%.120q) = %+v, %v; want no match", tc.url, got, ok)
			}
		})
	}
}
