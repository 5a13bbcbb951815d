package bot

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// fuzzTypes are the envelope types that carry work.
var fuzzTypes = []string{
	socketmode.RequestTypeInteractive,
	socketmode.RequestTypeSlashCommands,
	socketmode.RequestTypeEventsAPI,
}

type nopHandlers struct{}

func (nopHandlers) HandleLinkShared(context.Context, LinkShared) error      { return nil }
func (nopHandlers) HandleCommand(context.Context, slack.SlashCommand) error { return nil }
func (nopHandlers) HandleAction(context.Context, Action) error              { return nil }

// FuzzDecode feeds arbitrary bytes as the payload of each envelope type that
// carries work, through the decoding the read loop and the replay at start
// both use. Decoding must never panic; decoded work always has a key that
// names what it is; the same message decodes to the same key every time, so
// a replayed envelope is recognised as the one recorded. Seeds are the
// shared envelope fixtures; committed inputs are under
// testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("..", "internal", "slackfake", "testdata", "envelope-*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no envelope fixtures: %v", err)
	}
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		req, err := parseEnvelope(raw)
		if err != nil {
			f.Fatalf("%s: %v", name, err)
		}
		for i, typ := range fuzzTypes {
			if typ == req.Type {
				f.Add(uint8(i), req.EnvelopeID, []byte(req.Payload))
			}
		}
	}

	n := nopHandlers{}
	b := New(nil, nil, Handlers{LinkShared: n, Commands: n, Actions: n}, zerolog.Nop(), Config{})
	f.Fuzz(func(t *testing.T, typ uint8, envelopeID string, payload []byte) {
		req := socketmode.Request{Type: fuzzTypes[int(typ)%len(fuzzTypes)], EnvelopeID: envelopeID, Payload: payload}
		w, err := decodeEnvelope(&req)
		if err != nil {
			if w.kind != "" || w.key != "" {
				t.Fatalf("decoding failed (%v) and still returned work %q under key %q", err, w.kind, w.key)
			}
			return
		}
		checkWork(t, &req, w)
		if w.kind != "" {
			if u := b.unitOf(w); u.run == nil || u.key != w.key || u.kind != w.kind {
				t.Fatalf("unit for %q/%q = kind %q key %q run set %v", w.kind, w.key, u.kind, u.key, u.run != nil)
			}
		}

		// The message as the socket delivers it and as the inbox keeps it.
		id, _ := json.Marshal(envelopeID)
		raw := []byte(`{"envelope_id":` + string(id) + `,"type":"` + req.Type + `","payload":` + string(payload) + `}`)
		live, err := parseEnvelope(raw)
		if err != nil {
			return // the read loop ignores it
		}
		first, err := decodeEnvelope(&live)
		if err != nil {
			return
		}
		checkWork(t, &live, first)
		again, err := parseEnvelope(raw)
		if err != nil {
			t.Fatalf("second parse failed: %v", err)
		}
		replayed, err := decodeEnvelope(&again)
		if err != nil || replayed.kind != first.kind || replayed.key != first.key {
			t.Fatalf("replayed decode = %q/%q (%v), want %q/%q", replayed.kind, replayed.key, err, first.kind, first.key)
		}
	})
}

// checkWork checks what decodeEnvelope made of req.
func checkWork(t *testing.T, req *socketmode.Request, w work) {
	t.Helper()
	envKey := envelopeKey(req.EnvelopeID)
	switch w.kind {
	case "":
		if w.key != "" {
			t.Fatalf("nothing to do, yet key %q", w.key)
		}
		if req.Type == socketmode.RequestTypeSlashCommands {
			t.Fatal("a decoded slash command carries no work")
		}
	case kindLinkShared:
		if req.Type != socketmode.RequestTypeEventsAPI {
			t.Fatalf("link_shared work from a %s envelope", req.Type)
		}
		if w.key != envKey && (!strings.HasPrefix(w.key, "event:") || w.key != "event:"+w.link.EventID || w.link.EventID == "") {
			t.Fatalf("link_shared key %q, want event:<event_id> or %q", w.key, envKey)
		}
	case kindCommand:
		if w.key != envKey {
			t.Fatalf("command key %q, want %q", w.key, envKey)
		}
	case kindAction:
		if req.Type != socketmode.RequestTypeInteractive {
			t.Fatalf("action work from a %s envelope", req.Type)
		}
		if w.key == "" {
			t.Fatal("action decoded with an empty key")
		}
		if w.key == envKey {
			return
		}
		acts := w.action.ActionCallback.BlockActions
		if len(acts) == 0 || acts[0].ActionTs == "" {
			t.Fatalf("action key %q without an action_ts to name it", w.key)
		}
		if !strings.HasPrefix(w.key, "action:") || !strings.HasSuffix(w.key, ":"+acts[0].ActionTs) {
			t.Fatalf("action key %q, want action:<team>:<user>:<action_id>:%s", w.key, acts[0].ActionTs)
		}
	default:
		t.Fatalf("unknown kind %q", w.kind)
	}
}
