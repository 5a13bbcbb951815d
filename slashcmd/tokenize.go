package slashcmd

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxTextBytes is the longest command text Parse accepts. Slack caps message
// text at 4,000 characters; nothing legitimate typed after /sentry is longer.
const MaxTextBytes = 4000

// TokenKind says what a token is once Slack's escaping is undone.
type TokenKind int

const (
	// TokenWord is plain (possibly quoted) text, or text mixed with escapes.
	TokenWord TokenKind = iota
	// TokenUser is a whole-token user mention: <@U123|alice> or <@U123>.
	TokenUser
	// TokenChannel is a whole-token channel mention: <#C123|payments> or <#C123>.
	TokenChannel
	// TokenLink is a whole-token link: <https://…> or <https://…|label>, <mailto:…>.
	TokenLink
	// TokenSpecial is a group mention: <!here>, <!channel>, <!everyone>,
	// <!subteam^S123|@team>.
	TokenSpecial
)

func (k TokenKind) String() string {
	switch k {
	case TokenWord:
		return "word"
	case TokenUser:
		return "user mention"
	case TokenChannel:
		return "channel mention"
	case TokenLink:
		return "link"
	case TokenSpecial:
		return "special mention"
	}
	return "unknown"
}

// Token is one whitespace-separated argument of the command text.
type Token struct {
	// Text is the argument as the user meant it: quotes removed, &amp; &lt;
	// &gt; decoded, and Slack escapes replaced by their readable form
	// (@alice, #payments, the URL, an email for mailto links, @here).
	Text string
	// Raw is the token exactly as it appears in the cleaned input.
	Raw string
	// Quoted is true when any part of the token was inside quotes.
	Quoted bool
	Kind   TokenKind
	// ID is set for whole-token escapes: the user or channel id (U123, C123),
	// the URL of a link, or the special's name (here, channel, everyone,
	// subteam^S123).
	ID string
	// Label is the text after "|" in an escape, decoded; empty when Slack sent none.
	Label string
}

// Quote characters. Slack clients turn typed quotes into typographic ones
// (“ ” ‘ ’), and some keyboards produce „ or ”…” pairs, so each family
// accepts all its members as openers and closers.
func isDoubleQuote(r rune) bool {
	return r == '"' || r == '“' || r == '”' || r == '„'
}

func isSingleQuote(r rune) bool {
	return r == '\'' || r == '‘' || r == '’' || r == '‚'
}

// asciiQuote maps typographic quotes to the ASCII ones Sentry's search
// syntax understands.
func asciiQuote(r rune) rune {
	switch {
	case isDoubleQuote(r):
		return '"'
	case isSingleQuote(r):
		return '\''
	}
	return r
}

// invisible reports format characters that render as nothing (zero-width
// space, BOM, word joiner) or reorder text (bidi controls): they would make
// a token look valid while not matching anything.
func invisible(r rune) bool {
	switch {
	case r == '\u200B', r == '\u2060', r == '\uFEFF', r == '\u200E', r == '\u200F':
		return true
	case r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

// clean makes the text valid UTF-8, turns every Unicode space (tabs,
// newlines, no-break spaces) into a separator the tokenizer recognises, and
// drops control and invisible characters.
func clean(text string) string {
	text = strings.ToValidUTF8(text, "\uFFFD")
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return r
		case unicode.IsControl(r), invisible(r):
			return -1
		}
		return r
	}, text)
}

// Tokenize splits command text into tokens. Whitespace separates tokens
// except inside quotes. A quote opens only at the start of a token or right
// after ':' (as in message:"timed out"), so apostrophes inside words (don't)
// stay literal; a single quote closes only before a non-letter, so 'it's ok'
// is one token. An unclosed quote is an *Error. Slack escapes (<…>) are
// atomic: quotes and spaces inside them do not split or open anything.
func Tokenize(text string) ([]Token, error) {
	if len(text) > MaxTextBytes {
		return nil, &Error{Msg: "That command is too long: keep it under 4,000 characters."}
	}
	s := clean(text)
	var toks []Token
	i := 0
	for {
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			if !unicode.IsSpace(r) {
				break
			}
			i += n
		}
		if i >= len(s) {
			return toks, nil
		}
		t, next, err := scanToken(s, i)
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
		i = next
	}
}

// scanToken reads one token starting at s[start] (not a space) and returns
// it with the offset just past it.
func scanToken(s string, start int) (Token, int, error) {
	var (
		text    strings.Builder
		quoted  bool
		escapes int    // whole escapes seen
		plain   bool   // any text outside escapes seen
		last    escape // the last escape seen
		prev    rune   // previous rune of the raw token
	)
	i := start
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) {
			break
		}
		if r == '<' {
			if e, end, ok := scanEscape(s, i); ok {
				text.WriteString(e.text)
				escapes++
				last = e
				prev = '>'
				i = end
				continue
			}
		}
		if r == '&' {
			if dec, n := entity(s[i:]); n > 0 {
				text.WriteByte(dec)
				plain = true
				prev = ';'
				i += n
				continue
			}
		}
		if (isDoubleQuote(r) || isSingleQuote(r)) && (i == start || prev == ':') {
			end, ok := scanQuoted(s, i, &text, &escapes, &plain, &last)
			if !ok {
				return Token{}, 0, &Error{Msg: "A quote isn't closed: add the closing quote, e.g. `search message:\"timed out\"`."}
			}
			quoted = true
			prev = '"'
			i = end
			continue
		}
		text.WriteRune(r)
		plain = true
		prev = r
		i += n
	}
	t := Token{Text: text.String(), Raw: s[start:i], Quoted: quoted}
	if escapes == 1 && !plain {
		t.Kind, t.ID, t.Label = last.kind, last.id, last.label
	}
	return t, i, nil
}

// scanQuoted reads a quoted section whose opening quote is at s[open]. It
// appends the content to text and returns the offset past the closing quote.
func scanQuoted(s string, open int, text *strings.Builder, escapes *int, plain *bool, last *escape) (int, bool) {
	opener, n := utf8.DecodeRuneInString(s[open:])
	double := isDoubleQuote(opener)
	i := open + n
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == '<' {
			if e, end, ok := scanEscape(s, i); ok {
				text.WriteString(e.text)
				*escapes++
				*last = e
				i = end
				continue
			}
		}
		if r == '&' {
			if dec, m := entity(s[i:]); m > 0 {
				text.WriteByte(dec)
				*plain = true
				i += m
				continue
			}
		}
		if double && isDoubleQuote(r) {
			return i + n, true
		}
		if !double && isSingleQuote(r) && !wordRuneAt(s, i+n) {
			return i + n, true
		}
		text.WriteRune(r)
		*plain = true
		i += n
	}
	return 0, false
}

// wordRuneAt reports whether a letter or digit starts at s[i].
func wordRuneAt(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// entity decodes the three HTML entities Slack uses to escape its control
// characters (api.slack.com, "Formatting text for app surfaces": &amp; &lt;
// &gt;). It returns the byte and the entity's length, or 0 when s does not
// start with one.
func entity(s string) (byte, int) {
	switch {
	case strings.HasPrefix(s, "&amp;"):
		return '&', 5
	case strings.HasPrefix(s, "&lt;"):
		return '<', 4
	case strings.HasPrefix(s, "&gt;"):
		return '>', 4
	}
	return 0, 0
}

// unentity decodes &amp; &lt; &gt; everywhere in s.
func unentity(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if dec, n := entity(s[i:]); n > 0 {
			b.WriteByte(dec)
			i += n
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

type escape struct {
	kind      TokenKind
	id, label string
	text      string // readable form
}

// scanEscape reads a Slack escape starting with '<' at s[i] and returns it
// with the offset past its '>'. Slack encodes literal '<' and '>' as
// entities, so a '<' without a well-formed escape after it is kept as text.
func scanEscape(s string, i int) (escape, int, bool) {
	j := strings.IndexByte(s[i+1:], '>')
	if j <= 0 {
		return escape{}, 0, false
	}
	content := s[i+1 : i+1+j]
	if strings.ContainsAny(content, "<\n\r") {
		return escape{}, 0, false
	}
	body, label, _ := strings.Cut(content, "|")
	if body == "" {
		return escape{}, 0, false
	}
	label = unentity(label)
	end := i + 1 + j + 1
	switch body[0] {
	case '@', '#':
		id := body[1:]
		if !slackID(id) {
			return escape{}, 0, false
		}
		e := escape{kind: TokenUser, id: id, label: strings.TrimPrefix(label, "@")}
		sigil := "@"
		if body[0] == '#' {
			e.kind, e.label, sigil = TokenChannel, strings.TrimPrefix(label, "#"), "#"
		}
		e.text = sigil + id
		if e.label != "" {
			e.text = sigil + e.label
		}
		return e, end, true
	case '!':
		name := body[1:]
		switch {
		case name == "here" || name == "channel" || name == "everyone":
			return escape{kind: TokenSpecial, id: name, label: label, text: "@" + name}, end, true
		case strings.HasPrefix(name, "subteam^") && slackID(name[len("subteam^"):]):
			e := escape{kind: TokenSpecial, id: name, label: label, text: label}
			if !strings.HasPrefix(label, "@") {
				e.text = "@" + label
			}
			if label == "" {
				e.text = "@" + name[len("subteam^"):]
			}
			return e, end, true
		case name == "":
			return escape{}, 0, false
		}
		// Other specials (<!date^…|fallback>) read as their fallback text.
		txt := label
		if txt == "" {
			txt = name
		}
		return escape{kind: TokenWord, text: txt}, end, true
	}
	if strings.IndexFunc(body, unicode.IsSpace) >= 0 {
		return escape{}, 0, false
	}
	u := unentity(body)
	e := escape{kind: TokenLink, id: u, label: label, text: u}
	if len(u) > len("mailto:") && strings.EqualFold(u[:len("mailto:")], "mailto:") {
		e.text = u[len("mailto:"):]
	}
	return e, end, true
}

// slackID reports whether s looks like a Slack object id (U0BOB, C0PAY, S123).
func slackID(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// plain renders a raw token for a Sentry search query: escapes become their
// readable form, entities are decoded, typographic quotes become ASCII, and
// everything else (quotes included) is kept.
func plain(raw string) string {
	var b strings.Builder
	for i := 0; i < len(raw); {
		r, n := utf8.DecodeRuneInString(raw[i:])
		if r == '<' {
			if e, end, ok := scanEscape(raw, i); ok {
				b.WriteString(e.text)
				i = end
				continue
			}
		}
		if r == '&' {
			if dec, m := entity(raw[i:]); m > 0 {
				b.WriteByte(dec)
				i += m
				continue
			}
		}
		b.WriteRune(asciiQuote(r))
		i += n
	}
	return b.String()
}
