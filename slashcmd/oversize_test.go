package slashcmd

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// maxErrorBytes bounds what a parse error may cost to post: whatever the
// input, the message repeats at most maxEcho runes of it.
const maxErrorBytes = 600

// checkRefusal asserts err is a user-facing *Error no longer than
// maxErrorBytes, with no angle brackets, and that cmd is empty.
func checkRefusal(t *testing.T, in string, cmd Command, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Parse(%d bytes) = %+v, %v; want an *Error", len(in), cmd, err)
	}
	if !reflect.DeepEqual(cmd, Command{}) {
		t.Errorf("Parse(%d bytes) returned %+v with its error", len(in), cmd)
	}
	if len(e.Msg) > maxErrorBytes {
		t.Errorf("error of %d bytes for %d bytes of input: %.200s…", len(e.Msg), len(in), e.Msg)
	}
	if strings.ContainsAny(e.Msg, "<>") {
		t.Errorf("error message has angle brackets: %.200s", e.Msg)
	}
	return e
}

func TestParseRefusesOversizedText(t *testing.T) {
	const size = 100 << 10
	fill := func(unit string) string { return strings.Repeat(unit, size/len(unit)+1)[:size] }
	for _, tc := range []struct{ name, in string }{
		{"Letters", fill("a")},
		{"RepeatedCommand", fill("resolve 4321 ")},
		{"Mentions", fill("<@U0BOB|bob> ")},
		{"Links", fill("<https://acme.sentry.io/issues/4321/|x> ")},
		{"OpenEscapes", fill("<")},
		{"Quotes", fill(`"`)},
		{"Entities", fill("&amp;")},
		{"Spaces", "help" + fill(" ")},
		{"ValidSearchThenPadding", "search is:unresolved " + fill("x")},
		{"JustOverTheLimit", "search " + strings.Repeat("a", MaxTextBytes-len("search ")) + "b"},
		// The limit counts bytes: 2,001 two-byte runes are under 4,000
		// characters but over MaxTextBytes.
		{"MultiByteRunes", "search " + strings.Repeat("é", 2001)},
		{"InvalidUTF8", "search " + strings.Repeat("\xff", MaxTextBytes)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.in) <= MaxTextBytes {
				t.Fatalf("case is %d bytes, not over MaxTextBytes", len(tc.in))
			}
			cmd, err := Parse(tc.in)
			e := checkRefusal(t, tc.in, cmd, err)
			if !strings.Contains(e.Msg, "too long") {
				t.Errorf("refusal %q does not say the command is too long", e.Msg)
			}
			if toks, err := Tokenize(tc.in); err == nil || toks != nil {
				t.Errorf("Tokenize accepted %d bytes: %d tokens", len(tc.in), len(toks))
			}
		})
	}
}

func TestParseAcceptsTextAtTheLimit(t *testing.T) {
	in := "search " + strings.Repeat("a", MaxTextBytes-len("search "))
	if len(in) != MaxTextBytes {
		t.Fatalf("case is %d bytes", len(in))
	}
	cmd, err := Parse(in)
	if err != nil {
		t.Fatalf("Parse of exactly MaxTextBytes: %v", err)
	}
	if cmd.Verb != VerbSearch || len(cmd.Query) != MaxTextBytes-len("search ") {
		t.Fatalf("Parse = verb %q, query of %d bytes", cmd.Verb, len(cmd.Query))
	}
}

// Inside the limit, one huge argument is refused by its own bounds (ids,
// slugs, emails, URLs), and the refusal echoes only a little of it.
func TestParseRefusesOversizedArguments(t *testing.T) {
	// long fills the text up to MaxTextBytes with unit between prefix and suffix.
	long := func(prefix, unit, suffix string) string {
		return prefix + strings.Repeat(unit, (MaxTextBytes-len(prefix)-len(suffix))/len(unit)) + suffix
	}
	for _, tc := range []struct{ name, in string }{
		{"NumericIssue", long("resolve ", "9", "")},
		{"ShortIssue", long("resolve ", "A", "-1")},
		{"ShortIDOverHundred", "resolve " + strings.Repeat("B", 100) + "-1"},
		{"IssueURLOverTwoThousand", "unresolve https://acme.sentry.io/issues/4321/?" + strings.Repeat("q", 2000)},
		{"ArchiveDuration", long("archive 4321 ", "9", "d")},
		{"ArchiveCount", long("archive 4321 ", "9", "")},
		{"AssignTeam", long("assign 4321 #", "t", "")},
		{"AssignEmail", long("assign 4321 ", "e", "@acme.test")},
		{"AssignManyPeople", long("assign 4321 ", "<@U0BOB> ", "")},
		{"AdminRoleRole", long("admin role <@U0BOB> ", "r", "")},
		{"AdminAuditMany", long("admin audit ", "4321 ", "")},
		{"UnknownVerb", long("", "z", "")},
		{"ManyExtraArgs", long("whoami ", "x ", "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.in) > MaxTextBytes {
				t.Fatalf("case is %d bytes, over MaxTextBytes", len(tc.in))
			}
			cmd, err := Parse(tc.in)
			e := checkRefusal(t, tc.in, cmd, err)
			if strings.Contains(e.Msg, "too long") {
				t.Errorf("refused for its length, not its argument: %s", e.Msg)
			}
			// No run of the input longer than the echo limit is repeated.
			for _, run := range strings.Fields(tc.in) {
				if utf8.RuneCountInString(run) > maxEcho && strings.Contains(e.Msg, run[:maxEcho+1]) {
					t.Errorf("the refusal repeats more than %d runes of the input: %.200s", maxEcho, e.Msg)
				}
			}
		})
	}
}
