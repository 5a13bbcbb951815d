package links

import (
	"net/url"
	"strings"
	"testing"
)

const (
	testOrg   = "acme"
	eventHex  = "0123456789abcdef0123456789abcdef"
	eventUUID = "01234567-89ab-cdef-0123-456789abcdef"
)

var testHosts = []string{"sentry.io", "Sentry.Example.com:9000", "10.0.0.7"}

func newTestMatcher() *Matcher { return NewMatcher("ACME", testHosts) }

type matchCase struct {
	name  string
	url   string
	want  Link // URL and Org are filled in by the test when ok
	match bool
}

func yes(name, u, issue, event string) matchCase {
	return matchCase{name: name, url: u, want: Link{IssueID: issue, EventID: event}, match: true}
}

func no(name, u string) matchCase { return matchCase{name: name, url: u} }

var matchCases = []matchCase{
	// SaaS subdomain form.
	yes("SaaSSubdomain", "https://acme.sentry.io/issues/4321/?project=2&referrer=slack", "4321", ""),
	yes("SaaSSubdomainNoSlash", "https://acme.sentry.io/issues/4321", "4321", ""),
	yes("SaaSSubdomainSlackAmp", "https://acme.sentry.io/issues/4321/?project=2&amp;referrer=slack", "4321", ""),
	yes("SaaSSubdomainOrgPath", "https://acme.sentry.io/organizations/acme/issues/4321/", "4321", ""),
	yes("SaaSSubdomainUpperCase", "HTTPS://ACME.SENTRY.IO/issues/4321/", "4321", ""),
	yes("SaaSSubdomainEventLatest", "https://acme.sentry.io/issues/4321/events/latest/", "4321", "latest"),
	yes("SaaSSubdomainEvent", "https://acme.sentry.io/issues/4321/events/"+eventHex+"/?project=2", "4321", eventHex),
	yes("SaaSShortID", "https://acme.sentry.io/issues/BACKEND-1A2/", "BACKEND-1A2", ""),
	yes("SaaSShortIDUnderscore", "https://acme.sentry.io/issues/my_app-3/", "my_app-3", ""),
	yes("SaaSFragment", "https://acme.sentry.io/issues/4321/#exception", "4321", ""),
	yes("SaaSQueryAndFragment", "https://acme.sentry.io/issues/4321?a=1#b", "4321", ""),
	yes("HTTP", "http://acme.sentry.io/issues/4321/", "4321", ""),

	// Bare host forms.
	yes("BareOrgPath", "https://sentry.io/organizations/acme/issues/4321/", "4321", ""),
	yes("BareOrgPathUpperOrg", "https://sentry.io/organizations/ACME/issues/4321/", "4321", ""),
	yes("BareIssuesOrgFromConfig", "https://sentry.io/issues/4321/", "4321", ""),
	yes("BareIssuesNoSlash", "https://sentry.io/issues/4321", "4321", ""),
	yes("BareOrgPathEvent", "https://sentry.io/organizations/acme/issues/4321/events/"+eventHex, "4321", eventHex),

	// Self-hosted, with and without ports.
	yes("SelfHosted", "https://sentry.example.com/organizations/acme/issues/4322/events/latest/", "4322", "latest"),
	yes("SelfHostedPort", "https://sentry.example.com:9000/organizations/acme/issues/4322/", "4322", ""),
	yes("SelfHostedOtherPort", "http://sentry.example.com:8080/issues/4322/", "4322", ""),
	yes("SelfHostedEmptyPort", "https://sentry.example.com:/issues/4322/", "4322", ""),
	yes("SelfHostedSubdomain", "https://acme.sentry.example.com/issues/4322/", "4322", ""),
	yes("SelfHostedEventUUID", "https://sentry.example.com/issues/4322/events/"+eventUUID+"/", "4322", eventHex),
	yes("SelfHostedEventUpperHex", "https://sentry.example.com/issues/4322/events/"+strings.ToUpper(eventHex)+"/", "4322", eventHex),
	yes("IPHost", "http://10.0.0.7:9000/issues/7/", "7", ""),

	// Other orgs.
	no("ForeignOrgSubdomain", "https://other.sentry.io/issues/4321/"),
	no("ForeignOrgPath", "https://sentry.io/organizations/other/issues/4321/"),
	no("ForeignOrgPathOnOurSubdomain", "https://acme.sentry.io/organizations/other/issues/4321/"),
	no("OurOrgPathOnForeignSubdomain", "https://other.sentry.io/organizations/acme/issues/4321/"),
	no("ForeignOrgSelfHosted", "https://sentry.example.com/organizations/other/issues/4322/"),
	no("OrgPrefix", "https://sentry.io/organizations/acmecorp/issues/4321/"),

	// Look-alike hosts.
	no("SuffixedHost", "https://sentry.io.evil.com/issues/4321/"),
	no("PrefixedHost", "https://evilsentry.io/issues/4321/"),
	no("SubdomainSuffixedHost", "https://acme.sentry.io.evil.com/issues/4321/"),
	no("UserinfoTrick", "https://sentry.io@evil.com/issues/4321/"),
	no("UserinfoOnRealHost", "https://evil.com@acme.sentry.io/issues/4321/"),
	no("UserinfoPassword", "https://acme:x@sentry.io/issues/4321/"),
	no("URLInQuery", "https://evil.com/?u=https://sentry.io/issues/4321/"),
	no("MultiLabelSubdomain", "https://a.b.sentry.io/issues/4321/"),
	no("MultiLabelSubdomainOrg", "https://acme.b.sentry.io/issues/4321/"),
	no("EmptySubdomain", "https://.sentry.io/issues/4321/"),
	no("TrailingDotHost", "https://sentry.io./issues/4321/"),
	no("UnicodeLookAlike", "https://acme.\u017fentry.io/issues/4321/"),
	no("KelvinSignOrg", "https://sentry.io/organizations/ac\u212ame/issues/4321/"),
	no("PercentEncodedHost", "https://sentry%2eio/issues/4321/"),
	no("BackslashTrick", "https://evil.com\\@sentry.io/issues/4321/"),
	no("SubdomainOfIP", "http://acme.10.0.0.7/issues/7/"),
	no("UnconfiguredHost", "https://example.com/issues/4321/"),

	// Schemes and shapes.
	no("FTP", "ftp://sentry.io/issues/4321/"),
	no("JavaScript", "javascript://sentry.io/issues/4321/"),
	no("NoScheme", "sentry.io/issues/4321/"),
	no("SchemeRelative", "//sentry.io/issues/4321/"),
	no("Opaque", "https:sentry.io/issues/4321/"),
	no("SingleSlash", "https:/sentry.io/issues/4321/"),
	no("TripleSlash", "https:///sentry.io/issues/4321/"),
	no("Empty", ""),
	no("Garbage", "not a url"),
	no("LeadingSpace", " https://sentry.io/issues/4321/"),
	no("TabInPath", "https://sentry.io/issues/43\t21/"),

	// Paths.
	no("Root", "https://sentry.io/"),
	no("IssuesList", "https://sentry.io/issues/"),
	no("OrgIssuesList", "https://sentry.io/organizations/acme/issues/"),
	no("EmptyID", "https://sentry.io/issues//"),
	no("DoubleTrailingSlash", "https://sentry.io/issues/4321//"),
	no("ExtraSegment", "https://sentry.io/issues/4321/tags/"),
	no("ExtraSegmentAfterEvent", "https://sentry.io/issues/4321/events/latest/json/"),
	no("EventsList", "https://sentry.io/issues/4321/events/"),
	no("EmptyEvent", "https://sentry.io/issues/4321/events//"),
	no("ShortEvent", "https://sentry.io/issues/4321/events/abc/"),
	no("NonHexEvent", "https://sentry.io/issues/4321/events/"+strings.Repeat("g", 32)+"/"),
	no("MisplacedDashesEvent", "https://sentry.io/issues/4321/events/0123456789-abcdef0123456789abcdef0/"),
	no("LatestUpperCase", "https://sentry.io/issues/4321/events/LATEST/"),
	no("DotDot", "https://sentry.io/issues/../"),
	no("DotDotAfterID", "https://sentry.io/issues/4321/../../api/"),
	no("EncodedDotDot", "https://sentry.io/issues/%2e%2e/"),
	no("EncodedSlash", "https://sentry.io/issues/4321%2Fevents/"),
	no("EncodedLetter", "https://sentry.io/issues/%41BC-1/"),
	no("DotInID", "https://sentry.io/issues/43.21/"),
	no("ColonInID", "https://sentry.io/issues/a:b/"),
	no("UnicodeID", "https://sentry.io/issues/\u0661\u0662/"),
	no("TooLongID", "https://sentry.io/issues/"+strings.Repeat("1", maxIDLength+1)+"/"),
	no("DoubleSlashPrefix", "https://sentry.io//issues/4321/"),
	no("UpperCaseLiteral", "https://sentry.io/Issues/4321/"),
	no("OrgWithoutIssues", "https://sentry.io/organizations/acme/4321/"),
	no("OrgEmpty", "https://sentry.io/organizations//issues/4321/"),
	no("ProjectPath", "https://sentry.io/organizations/acme/projects/backend/"),
	no("APIPath", "https://sentry.io/api/0/organizations/acme/issues/4321/"),
	no("OldProjectPath", "https://sentry.io/acme/backend/issues/4321/"),
	no("Oversized", "https://acme.sentry.io/issues/4321/?q="+strings.Repeat("a", MaxURLLength)),
}

func TestMatch(t *testing.T) {
	m := newTestMatcher()
	for _, tc := range matchCases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := m.Match(tc.url)
			if ok != tc.match {
				t.Fatalf("Match(%q) ok = %v, want %v (link %+v)", tc.url, ok, tc.match, got)
			}
			want := Link{}
			if tc.match {
				want = tc.want
				want.URL = tc.url
				want.Org = testOrg
			}
			if got != want {
				t.Fatalf("Match(%q) = %+v, want %+v", tc.url, got, want)
			}
		})
	}
}

func TestMatchLengthBoundary(t *testing.T) {
	m := newTestMatcher()
	base := "https://acme.sentry.io/issues/4321/?q="
	atLimit := base + strings.Repeat("a", MaxURLLength-len(base))
	if _, ok := m.Match(atLimit); !ok {
		t.Errorf("URL of exactly %d bytes did not match", MaxURLLength)
	}
	if _, ok := m.Match(atLimit + "a"); ok {
		t.Errorf("URL of %d bytes matched", MaxURLLength+1)
	}
}

func TestNewMatcherNormalisesHosts(t *testing.T) {
	m := NewMatcher(" Acme ", []string{"", "  SENTRY.io  ", "https://sentry.example.com:9000/x", "sentry.io", "[::1]:9000", "self.example.org."})
	want := []string{"sentry.io", "sentry.example.com", "::1", "self.example.org"}
	if strings.Join(m.hosts, " ") != strings.Join(want, " ") {
		t.Fatalf("hosts = %q, want %q", m.hosts, want)
	}
	if m.org != "acme" {
		t.Fatalf("org = %q, want acme", m.org)
	}
	if _, ok := m.Match("http://[::1]:9000/issues/1/"); !ok {
		t.Error("IPv6 link host did not match")
	}
}

func TestMatchNothingConfigured(t *testing.T) {
	const u = "https://acme.sentry.io/issues/4321/"
	for name, m := range map[string]*Matcher{
		"NoOrg":   NewMatcher("", []string{"sentry.io"}),
		"NoHosts": NewMatcher("acme", nil),
		"Nil":     nil,
	} {
		if _, ok := m.Match(u); ok {
			t.Errorf("%s: Match(%q) matched", name, u)
		}
	}
}

func TestMatchOverlappingHosts(t *testing.T) {
	// A link host that is itself a subdomain of another link host is a bare
	// host, not an org subdomain.
	m := NewMatcher("acme", []string{"sentry.io", "eu.sentry.io"})
	if _, ok := m.Match("https://eu.sentry.io/organizations/acme/issues/9/"); !ok {
		t.Error("bare eu.sentry.io link did not match")
	}
	if _, ok := m.Match("https://acme.eu.sentry.io/issues/9/"); !ok {
		t.Error("acme.eu.sentry.io subdomain link did not match")
	}
}

func TestMatchSubdomainIsOneLabel(t *testing.T) {
	// Even with an org that contains a dot (config forbids it), a
	// subdomain is exactly one label.
	m := NewMatcher("a.b", []string{"sentry.io"})
	if l, ok := m.Match("https://a.b.sentry.io/issues/1/"); ok {
		t.Fatalf("two-label subdomain matched: %+v", l)
	}
}

// allowedHost re-derives, independently of Match, whether rawURL's host is
// a link host or {org}.{link host}.
func allowedHost(t testing.TB, m *Matcher, rawURL string) bool {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("matched URL %q does not parse: %v", rawURL, err)
	}
	host := strings.ToLower(u.Hostname())
	for _, h := range m.hosts {
		if host == h || host == m.org+"."+h {
			return true
		}
	}
	return false
}

func FuzzMatch(f *testing.F) {
	for _, tc := range matchCases {
		f.Add(tc.url)
	}
	m := newTestMatcher()
	f.Fuzz(func(t *testing.T, raw string) {
		got, ok := m.Match(raw)
		again, ok2 := m.Match(raw)
		if ok != ok2 || got != again {
			t.Fatalf("Match(%q) not deterministic: %+v/%v then %+v/%v", raw, got, ok, again, ok2)
		}
		if !ok {
			if got != (Link{}) {
				t.Fatalf("Match(%q) returned %+v without matching", raw, got)
			}
			return
		}
		if len(raw) > MaxURLLength {
			t.Fatalf("oversized URL of %d bytes matched", len(raw))
		}
		if got.URL != raw {
			t.Fatalf("Link.URL = %q, want %q", got.URL, raw)
		}
		if !strings.EqualFold(got.Org, testOrg) {
			t.Fatalf("Match(%q) org = %q, want %q", raw, got.Org, testOrg)
		}
		if !allowedHost(t, m, raw) {
			t.Fatalf("Match(%q) matched a host that is not allowed", raw)
		}
		if got.IssueID == "" {
			t.Fatalf("Match(%q) returned an empty issue id", raw)
		}
		for _, c := range got.IssueID {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
				t.Fatalf("Match(%q) issue id %q has %q", raw, got.IssueID, c)
			}
		}
		if !strings.Contains(raw, "/issues/"+got.IssueID) {
			t.Fatalf("Match(%q) issue id %q is not in the URL", raw, got.IssueID)
		}
		if e := got.EventID; e != "" && e != "latest" {
			if len(e) != 32 || strings.Trim(e, "0123456789abcdef") != "" {
				t.Fatalf("Match(%q) event id %q is not 32 lower-case hex digits", raw, e)
			}
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	m := newTestMatcher()
	for _, bc := range []struct{ name, url string }{
		{"Match", "https://acme.sentry.io/issues/4321/events/latest/?project=2&referrer=slack"},
		{"NoMatch", "https://github.com/getsentry/sentry/issues/4321"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.Match(bc.url)
			}
		})
	}
}
