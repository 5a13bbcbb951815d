package slashcmd

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestTokenize(t *testing.T) {
	w := func(text, raw string) Token { return Token{Text: text, Raw: raw} }
	q := func(text, raw string) Token { return Token{Text: text, Raw: raw, Quoted: true} }
	for _, tc := range []struct {
		name string
		in   string
		want []Token
	}{
		{"empty", "", nil},
		{"spaces", " \t\n ", nil},
		{"words", "  a  bb\tccc\n", []Token{w("a", "a"), w("bb", "bb"), w("ccc", "ccc")}},
		{"user mention with label", "<@U0BOB|bob>", []Token{{Text: "@bob", Raw: "<@U0BOB|bob>", Kind: TokenUser, ID: "U0BOB", Label: "bob"}}},
		{"user mention without label", "<@U0BOB>", []Token{{Text: "@U0BOB", Raw: "<@U0BOB>", Kind: TokenUser, ID: "U0BOB"}}},
		{"channel mention with label", "<#C0PAY|payments>", []Token{{Text: "#payments", Raw: "<#C0PAY|payments>", Kind: TokenChannel, ID: "C0PAY", Label: "payments"}}},
		{"channel mention without label", "<#C0PAY>", []Token{{Text: "#C0PAY", Raw: "<#C0PAY>", Kind: TokenChannel, ID: "C0PAY"}}},
		{"link", "<https://acme.sentry.io/issues/1/>", []Token{{Text: "https://acme.sentry.io/issues/1/", Raw: "<https://acme.sentry.io/issues/1/>", Kind: TokenLink, ID: "https://acme.sentry.io/issues/1/"}}},
		{"link with spaced label", "<https://a.io/x?a=1&amp;b=2|the issue> x", []Token{{Text: "https://a.io/x?a=1&b=2", Raw: "<https://a.io/x?a=1&amp;b=2|the issue>", Kind: TokenLink, ID: "https://a.io/x?a=1&b=2", Label: "the issue"}, w("x", "x")}},
		{"mailto", "<mailto:a@b.io|a@b.io>", []Token{{Text: "a@b.io", Raw: "<mailto:a@b.io|a@b.io>", Kind: TokenLink, ID: "mailto:a@b.io", Label: "a@b.io"}}},
		{"here", "<!here>", []Token{{Text: "@here", Raw: "<!here>", Kind: TokenSpecial, ID: "here"}}},
		{"subteam", "<!subteam^S123|@oncall>", []Token{{Text: "@oncall", Raw: "<!subteam^S123|@oncall>", Kind: TokenSpecial, ID: "subteam^S123", Label: "@oncall"}}},
		{"date special reads as fallback", "<!date^1392734382^{date}|Feb 18>", []Token{w("Feb 18", "<!date^1392734382^{date}|Feb 18>")}},
		{"escape inside word", "assigned:<@U0BOB|bob>", []Token{w("assigned:@bob", "assigned:<@U0BOB|bob>")}},
		{"two escapes glued", "<@U1><@U2>", []Token{w("@U1@U2", "<@U1><@U2>")}},
		{"entities", "a&amp;b &lt;x&gt; &quot;", []Token{w("a&b", "a&amp;b"), w("<x>", "&lt;x&gt;"), w("&quot;", "&quot;")}},
		{"entity lt does not start an escape", "&lt;@U1&gt;", []Token{w("<@U1>", "&lt;@U1&gt;")}},
		{"double quotes", `"a b" c`, []Token{q("a b", `"a b"`), w("c", "c")}},
		{"quote after colon", `message:"a b"`, []Token{q("message:a b", `message:"a b"`)}},
		{"typographic double", "“a b”", []Token{q("a b", "“a b”")}},
		{"low-high double", "„a b“", []Token{q("a b", "„a b“")}},
		{"typographic single", "‘a b’", []Token{q("a b", "‘a b’")}},
		{"apostrophe in word", "don't it’s", []Token{w("don't", "don't"), w("it’s", "it’s")}},
		{"apostrophe inside single quotes", "'it's ok' x", []Token{q("it's ok", "'it's ok'"), w("x", "x")}},
		{"quote mid word is literal", `6"x`, []Token{w(`6"x`, `6"x`)}},
		{"quoted then glued", `"a b"c`, []Token{q("a bc", `"a b"c`)}},
		{"empty quotes", `""`, []Token{q("", `""`)}},
		{"quoted mention keeps kind", `"<@U0BOB|bob>"`, []Token{{Text: "@bob", Raw: `"<@U0BOB|bob>"`, Quoted: true, Kind: TokenUser, ID: "U0BOB", Label: "bob"}}},
		{"quote inside escape label", `<https://a.io|say "hi>`, []Token{{Text: "https://a.io", Raw: `<https://a.io|say "hi>`, Kind: TokenLink, ID: "https://a.io", Label: `say "hi`}}},
		{"entity and escape inside quotes", `"a&amp;b <@U0BOB|bob>"`, []Token{q("a&b @bob", `"a&amp;b <@U0BOB|bob>"`)}},
		{"lone angle bracket", "a < b", []Token{w("a", "a"), w("<", "<"), w("b", "b")}},
		{"empty escape is text", "<>", []Token{w("<>", "<>")}},
		{"escape with only a label is text", "<|x>", []Token{w("<|x>", "<|x>")}},
		{"control characters dropped", "a\x00b\x7f c", []Token{w("ab", "ab"), w("c", "c")}},
		{"unicode", "héllo 日本", []Token{w("héllo", "héllo"), w("日本", "日本")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Tokenize(tc.in)
			if err != nil {
				t.Fatalf("Tokenize(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Tokenize(%q)\n got %+v\nwant %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestTokenizeErrors(t *testing.T) {
	for _, in := range []string{`"a`, `x:"a`, "“a", "'a", "'it's", strings.Repeat("a", MaxTextBytes+1)} {
		toks, err := Tokenize(in)
		var e *Error
		if !errors.As(err, &e) || toks != nil {
			t.Errorf("Tokenize(%q) = %v, %v; want nil and *Error", in, toks, err)
		}
	}
	if _, err := Tokenize(strings.Repeat("a", MaxTextBytes)); err != nil {
		t.Errorf("text of exactly MaxTextBytes: %v", err)
	}
}
