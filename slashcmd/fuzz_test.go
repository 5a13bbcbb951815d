package slashcmd

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

func FuzzParse(f *testing.F) {
	for _, tc := range parseCases() {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		cmd, err := Parse(in)
		again, err2 := Parse(in)
		if !reflect.DeepEqual(cmd, again) || !reflect.DeepEqual(err, err2) {
			t.Fatalf("Parse(%q) is not deterministic: %+v, %v then %+v, %v", in, cmd, err, again, err2)
		}
		if err != nil {
			if errors.Is(err, ErrEmpty) {
				if cmd.Verb != VerbHelp {
					t.Fatalf("Parse(%q) = ErrEmpty with verb %q", in, cmd.Verb)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q) error %T %v is not *Error", in, err, err)
			}
			if strings.ContainsAny(e.Msg, "<>") {
				t.Fatalf("Parse(%q) error message has angle brackets: %s", in, e.Msg)
			}
			if !reflect.DeepEqual(cmd, Command{}) {
				t.Fatalf("Parse(%q) returned %+v with an error", in, cmd)
			}
			return
		}
		if !cmd.Verb.Known() {
			t.Fatalf("Parse(%q) verb %q is not known", in, cmd.Verb)
		}
		for _, ref := range []string{cmd.Issue, cmd.AuditFilter.ID} {
			if strings.IndexFunc(ref, unicode.IsSpace) >= 0 {
				t.Fatalf("Parse(%q) issue reference %q has whitespace", in, ref)
			}
		}
		a := cmd.Archive
		set := 0
		for _, b := range []bool{a.UntilEscalating, a.Forever, a.For != 0, a.Count != 0} {
			if b {
				set++
			}
		}
		if (cmd.Verb == VerbArchive) != (set == 1) {
			t.Fatalf("Parse(%q) archive argument %+v", in, a)
		}
		if a.For != 0 && (a.For < MinArchiveFor || a.For > MaxArchiveFor) || a.Count < 0 || a.Count > MaxArchiveCount {
			t.Fatalf("Parse(%q) archive argument out of range: %+v", in, a)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	inputs := []string{
		"assign BACKEND-12 <@U0BOB|bob>",
		"search is:unresolved level:error assigned:me",
		"issue https://acme.sentry.io/issues/4321/ share",
		"archive BACKEND-12 1d",
		"subscribe backend level:error is:unresolved",
		`search message:“timed out” url:<https://acme.com/a?x=1&amp;y=2>`,
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, in := range inputs {
			if _, err := Parse(in); err != nil {
				b.Fatal(err)
			}
		}
	}
}
