package slackfake

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// shape maps every key path of a JSON document ("payload.event.links[].url")
// to the kind of its value. Array elements share one path, so lengths and
// values do not matter; structure and kinds do.
func shape(t *testing.T, doc []byte) map[string]string {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatalf("decoding %.80s: %v", doc, err)
	}
	out := map[string]string{}
	walk("", v, out)
	return out
}

func walk(path string, v any, out map[string]string) {
	kind := "null"
	switch x := v.(type) {
	case map[string]any:
		kind = "object"
		for k, child := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			walk(p, child, out)
		}
	case []any:
		kind = "array"
		for _, child := range x {
			walk(path+"[]", child, out)
		}
	case string:
		kind = "string"
	case float64:
		kind = "number"
	case bool:
		kind = "bool"
	}
	if path != "" {
		out[path] = kind
	}
}

// diff lists paths of a missing from b or of another kind there.
func diff(a, b map[string]string) []string {
	var out []string
	for p, k := range a {
		if b[p] != k {
			out = append(out, p+" ("+k+" vs "+b[p]+")")
		}
	}
	sort.Strings(out)
	return out
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestContract_BuildersMatchFixtures(t *testing.T) {
	urls := []string{
		"https://acme.sentry.io/issues/4321/?project=2&referrer=slack",
		"https://sentry.example.com/organizations/acme/issues/4322/events/latest/",
	}
	cases := []struct {
		fixture string
		build   func() (string, []byte)
	}{
		{"envelope-link-shared.json", func() (string, []byte) {
			return LinkSharedEnvelope(LinkShared{Channel: "C0BACKEND", User: "U0ALICE", MessageTS: "1732810000.123456", ThreadTS: "1732800000.000100", URLs: urls, IsBotUserMember: true})
		}},
		{"envelope-slash-command.json", func() (string, []byte) {
			return SlashCommandEnvelope(SlashCommand{UserID: "U0ALICE", Text: "assign BACKEND-12 <@U0BOB|bob>", ResponseURL: "https://hooks.slack.com/commands/T0001/111/xxx"})
		}},
		{"envelope-block-actions-unfurl.json", func() (string, []byte) {
			return BlockActionsEnvelope(BlockAction{UserID: "U0BOB", InUnfurl: true, UnfurlURL: urls[0], ActionID: "resolve", BlockID: "issue:4321", Value: "4321", Text: "Resolve", ResponseURL: "https://hooks.slack.com/actions/T0001/222/yyy"})
		}},
		{"envelope-block-suggestion.json", func() (string, []byte) {
			return BlockSuggestionEnvelope(BlockSuggestion{UserID: "U0BOB", InUnfurl: true, ActionID: "assign", BlockID: "issue:4321", Value: "bo"})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.fixture, func(t *testing.T) {
			want := shape(t, fixture(t, tc.fixture))
			id, b := tc.build()
			got := shape(t, b)
			if missing := diff(want, got); len(missing) > 0 {
				t.Errorf("builder lacks fixture paths: %q", missing)
			}
			if extra := diff(got, want); len(extra) > 0 {
				t.Errorf("builder has paths the fixture does not: %q", extra)
			}
			var env struct {
				EnvelopeID string `json:"envelope_id"`
			}
			if err := json.Unmarshal(b, &env); err != nil || env.EnvelopeID != id || len(id) != 36 {
				t.Errorf("returned id %q, envelope has %q (%v)", id, env.EnvelopeID, err)
			}
		})
	}
}

// The composer fixture is an abbreviated link_shared: the builder must cover
// it and may add only fields the full link_shared fixture has.
func TestContract_ComposerLinkShared(t *testing.T) {
	composer := shape(t, fixture(t, "envelope-link-shared-composer.json"))
	union := shape(t, fixture(t, "envelope-link-shared.json"))
	for p, k := range composer {
		union[p] = k
	}
	_, b := LinkSharedEnvelope(LinkShared{Channel: "COMPOSER", User: "U0ALICE", URLs: []string{"https://acme.sentry.io/issues/4321/"}})
	got := shape(t, b)
	if missing := diff(composer, got); len(missing) > 0 {
		t.Errorf("builder lacks fixture paths: %q", missing)
	}
	if extra := diff(got, union); len(extra) > 0 {
		t.Errorf("builder invents paths: %q", extra)
	}
	if _, ok := got["payload.event.thread_ts"]; ok {
		t.Error("composer link has a thread_ts")
	}

	var env struct {
		Payload struct {
			Event struct {
				MessageTS string `json:"message_ts"`
				UnfurlID  string `json:"unfurl_id"`
				Source    string `json:"source"`
			} `json:"event"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	if ev := env.Payload.Event; ev.Source != "composer" || ev.UnfurlID == "" || ev.UnfurlID != ev.MessageTS {
		t.Errorf("composer event = %+v", ev)
	}
}

// The comparison must notice drift, or the contract tests prove nothing.
func TestContract_ShapeDetectsDrift(t *testing.T) {
	base := shape(t, []byte(`{"a":{"b":[{"c":1}]},"d":"x"}`))
	for _, doc := range []string{
		`{"a":{"b":[{"c":"1"}]},"d":"x"}`, // kind changed
		`{"a":{"b":[{}]},"d":"x"}`,        // key in array element gone
		`{"a":{"b":[{"c":1}]},"d":"x","e":null}`,
	} {
		other := shape(t, []byte(doc))
		if len(diff(base, other))+len(diff(other, base)) == 0 {
			t.Errorf("no difference found between %s and the base", doc)
		}
	}
	if d := diff(base, shape(t, []byte(`{"d":"y","a":{"b":[{"c":2},{"c":3}]}}`))); len(d) != 0 {
		t.Errorf("values or lengths counted as drift: %q", d)
	}
}

func TestBlockActionsMessageContainer(t *testing.T) {
	_, b := BlockActionsEnvelope(BlockAction{ChannelID: "C0ALERTS", MessageTS: "1.000001", ActionID: "assign", BlockID: "b", SelectedOption: "user:42"})
	got := shape(t, b)
	for p, k := range map[string]string{
		"payload.container.type":                      "string",
		"payload.message.ts":                          "string",
		"payload.actions[].selected_option.value":     "string",
		"payload.actions[].selected_option.text.text": "string",
	} {
		if got[p] != k {
			t.Errorf("%s is %q, want %s", p, got[p], k)
		}
	}
	if _, ok := got["payload.app_unfurl"]; ok {
		t.Error("message click carries app_unfurl")
	}
	var env struct {
		Payload struct {
			Container struct{ Type string }   `json:"container"`
			Actions   []struct{ Type string } `json:"actions"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	if env.Payload.Container.Type != "message" || env.Payload.Actions[0].Type != "external_select" {
		t.Errorf("container %q, action %q", env.Payload.Container.Type, env.Payload.Actions[0].Type)
	}
}
