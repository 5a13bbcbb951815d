package blocks

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// describe lists options as "value=text", one per line, for comparison.
func describe(opts []*slack.OptionBlockObject) string {
	var lines []string
	for _, o := range opts {
		lines = append(lines, o.Value+"="+o.Text.Text)
	}
	return strings.Join(lines, "\n")
}

func TestAssigneeOptions(t *testing.T) {
	me := &Assignable{Actor: "user:1", Label: "Alice Smith (alice@x.io)"}
	people := []Assignable{
		{Actor: "team:10", Label: "#payments"},
		{Actor: "user:2", Label: "Bob Jones (bob@x.io)"},
		{Actor: "team:11", Label: "#backend-oncall"},
		{Actor: "user:3", Label: "Carla Ruiz (carla@x.io)"},
		{Actor: "user:1", Label: "Alice Smith (alice@x.io)"}, // the caller again
	}
	tests := []struct {
		name string
		q    AssigneeQuery
		want []string
	}{
		{"empty typed shows all, users before teams", AssigneeQuery{Me: me, Assigned: true, Candidates: people}, []string{
			"me=Me (Alice Smith (alice@x.io))", "unassign=Unassign",
			"user:2=Bob Jones (bob@x.io)", "user:3=Carla Ruiz (carla@x.io)",
			"team:10=#payments", "team:11=#backend-oncall",
		}},
		{"not assigned: no Unassign", AssigneeQuery{Me: me, Candidates: people[:2]}, []string{
			"me=Me (Alice Smith (alice@x.io))", "user:2=Bob Jones (bob@x.io)", "team:10=#payments",
		}},
		{"not linked: no Me, but the caller as a candidate", AssigneeQuery{Candidates: people}, []string{
			"user:2=Bob Jones (bob@x.io)", "user:3=Carla Ruiz (carla@x.io)", "user:1=Alice Smith (alice@x.io)",
			"team:10=#payments", "team:11=#backend-oncall",
		}},
		// "me" is also found inside "#payments"; the caller is listed once.
		{"typed me", AssigneeQuery{Typed: "me", Me: me, Assigned: true, Candidates: people}, []string{
			"me=Me (Alice Smith (alice@x.io))", "team:10=#payments",
		}},
		{"typed ME with spaces", AssigneeQuery{Typed: "  ME ", Me: me, Candidates: people}, []string{
			"me=Me (Alice Smith (alice@x.io))", "team:10=#payments",
		}},
		{"typed part of own label", AssigneeQuery{Typed: "alice", Me: me, Candidates: people}, []string{
			"me=Me (Alice Smith (alice@x.io))",
		}},
		{"typed name", AssigneeQuery{Typed: "bo", Me: me, Assigned: true, Candidates: people}, []string{
			"user:2=Bob Jones (bob@x.io)",
		}},
		{"typed @name", AssigneeQuery{Typed: "@carla", Me: me, Candidates: people}, []string{
			"user:3=Carla Ruiz (carla@x.io)",
		}},
		{"typed email domain matches everyone with it", AssigneeQuery{Typed: "X.IO", Me: me, Candidates: people}, []string{
			"me=Me (Alice Smith (alice@x.io))", "user:2=Bob Jones (bob@x.io)", "user:3=Carla Ruiz (carla@x.io)",
		}},
		{"typed #team", AssigneeQuery{Typed: "#pay", Me: me, Assigned: true, Candidates: people}, []string{
			"team:10=#payments",
		}},
		{"typed id after the prefix", AssigneeQuery{Typed: "11", Candidates: people}, []string{
			"team:11=#backend-oncall",
		}},
		{"prefix itself does not match", AssigneeQuery{Typed: "team:", Candidates: people}, nil},
		{"typed unassign", AssigneeQuery{Typed: "unass", Me: me, Assigned: true, Candidates: people}, []string{
			"unassign=Unassign",
		}},
		{"typed unassign when not assigned", AssigneeQuery{Typed: "unassign", Me: me, Candidates: people}, nil},
		{"no match", AssigneeQuery{Typed: "zzz", Me: me, Assigned: true, Candidates: people}, nil},
		{"nothing at all", AssigneeQuery{}, nil},
		{"malformed actors left out", AssigneeQuery{Candidates: []Assignable{
			{Actor: "2", Label: "bare id"},
			{Actor: "user:", Label: "no id"},
			{Actor: "bot:4", Label: "a bot"},
			{Actor: "user:4 5", Label: "space in id"},
			{Actor: "User:6", Label: "capitalised"},
			{Actor: "user:" + strings.Repeat("7", maxOptionValue), Label: "too long to be a value"},
			{Actor: "user:8\x00", Label: "control character"},
			{Actor: "user:9", Label: "fine"},
		}}, []string{"user:9=fine"}},
		{"malformed Me left out", AssigneeQuery{Me: &Assignable{Actor: "alice", Label: "Alice"}, Assigned: true}, []string{"unassign=Unassign"}},
		{"Me without label", AssigneeQuery{Me: &Assignable{Actor: "user:1"}}, []string{"me=Me"}},
		{"label blank: the actor stands in", AssigneeQuery{Candidates: []Assignable{{Actor: "team:5", Label: " \n "}}}, []string{"team:5=team:5"}},
		{"duplicates once, first wins", AssigneeQuery{Candidates: []Assignable{
			{Actor: "user:2", Label: "Bob"}, {Actor: "user:2", Label: "Robert"},
		}}, []string{"user:2=Bob"}},
		{"multi-line label folded", AssigneeQuery{Candidates: []Assignable{{Actor: "user:2", Label: "Bob\nJones\t(b@x)"}}}, []string{"user:2=Bob Jones (b@x)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AssigneeOptions(tt.q)
			if d, want := describe(got), strings.Join(tt.want, "\n"); d != want {
				t.Errorf("options =\n%s\nwant\n%s", d, want)
			}
			for _, e := range optionErrors("options", got) {
				t.Error(e)
			}
		})
	}
}

func TestAssigneeOptionsLimits(t *testing.T) {
	long := strings.Repeat("Ünïcødé ", 40)
	var cands []Assignable
	for i := range 150 {
		cands = append(cands, Assignable{Actor: "team:" + strconv.Itoa(i), Label: "#" + long})
		cands = append(cands, Assignable{Actor: "user:" + strconv.Itoa(i), Label: long})
	}
	got := AssigneeOptions(AssigneeQuery{Me: &Assignable{Actor: "user:me", Label: long}, Assigned: true, Candidates: cands})
	if len(got) != maxSelectOpts {
		t.Fatalf("%d options, want %d", len(got), maxSelectOpts)
	}
	for _, e := range optionErrors("options", got) {
		t.Error(e)
	}
	me := got[0].Text.Text
	if !strings.HasPrefix(me, "Me (Ünïcødé") || !strings.HasSuffix(me, "…)") || utf8.RuneCountInString(me) != maxOptionText {
		t.Errorf("Me option = %q (%d runes), want the label cut inside the parenthesis", me, utf8.RuneCountInString(me))
	}
	// Users come first, so the 98 places after Me and Unassign go to users.
	if got[2].Value != "user:0" || got[99].Value != "user:97" {
		t.Errorf("options 2 and 99 = %s, %s; want user:0, user:97", got[2].Value, got[99].Value)
	}
	if n := utf8.RuneCountInString(got[2].Text.Text); n != maxOptionText {
		t.Errorf("candidate text %d runes, want %d", n, maxOptionText)
	}
}

func TestSuggestionResponse(t *testing.T) {
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := enc(SuggestionResponse(nil)); got != `{"options":[]}` {
		t.Errorf("nil options = %s", got)
	}
	if got := enc(SuggestionResponse([]*slack.OptionBlockObject{nil})); got != `{"options":[]}` {
		t.Errorf("nil option = %s", got)
	}
	opts := AssigneeOptions(AssigneeQuery{Assigned: true, Candidates: []Assignable{{Actor: "team:3", Label: "#pay & <ops>"}}})
	want := `{"options":[{"text":{"type":"plain_text","text":"Unassign","emoji":true},"value":"unassign"},` +
		`{"text":{"type":"plain_text","text":"#pay \u0026 \u003cops\u003e","emoji":true},"value":"team:3"}]}`
	if got := enc(SuggestionResponse(opts)); got != want {
		t.Errorf("response =\n%s\nwant\n%s", got, want)
	}
	many := make([]*slack.OptionBlockObject, 250)
	for i := range many {
		many[i] = option(strconv.Itoa(i), "x")
	}
	var back struct{ Options []json.RawMessage }
	if err := json.Unmarshal([]byte(enc(SuggestionResponse(many))), &back); err != nil || len(back.Options) != maxSelectOpts {
		t.Errorf("250 options answered as %d (%v), want %d", len(back.Options), err, maxSelectOpts)
	}
}
