package slashcmd

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrEmpty is returned by Parse for text that is empty once whitespace and
// control characters are removed; the caller shows help.
var ErrEmpty = errors.New("slashcmd: empty command")

// Error is a mistake in what the user typed. Msg is written for them: it
// says what was expected, with an example. Msg never contains '<' or '>', so
// echoed input cannot turn into a mention or link when posted to Slack.
type Error struct {
	Msg string
}

func (e *Error) Error() string { return e.Msg }

func fail(msg string) error { return &Error{Msg: msg} }

// maxEcho is how much of the user's own text an error message repeats.
const maxEcho = 40

// echo renders user text for an error message: inside backticks, with Slack
// escapes already resolved (callers pass Token.Text), angle brackets and
// backticks removed, whitespace collapsed, at most maxEcho runes.
func echo(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '<' || r == '>' || r == '`' {
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
	if utf8.RuneCountInString(s) > maxEcho {
		r := []rune(s)
		s = strings.TrimRightFunc(string(r[:maxEcho-1]), unicode.IsSpace) + "…"
	}
	if s == "" {
		s = `""`
	}
	return "`" + s + "`"
}

// echoTokens echoes a run of tokens, e.g. the unexpected extra arguments.
func echoTokens(toks []Token) string {
	parts := make([]string, len(toks))
	for i, t := range toks {
		parts[i] = t.Text
	}
	return echo(strings.Join(parts, " "))
}
