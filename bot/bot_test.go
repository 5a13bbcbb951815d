package bot

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"go.uber.org/goleak"

	"sentrybot/internal/slackfake"
	"sentrybot/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	appToken = "xapp-1-A0SENTRY-1-test"
	botToken = "xoxb-1-test"
)

// harness runs a real Bot against the fake Slack over loopback.
type harness struct {
	t     *testing.T
	slack *slackfake.Server
	bot   *Bot
	db    *store.DB
	done  chan error
	stop  context.CancelFunc
}

func newHarness(t *testing.T, h Handlers, cfg Config) *harness {
	t.Helper()
	fake := slackfake.New(slackfake.Options{AppToken: appToken, BotToken: botToken})
	t.Cleanup(fake.Close)
	return newHarnessWith(t, fake, appToken, h, cfg)
}

func newHarnessWith(t *testing.T, fake *slackfake.Server, token string, h Handlers, cfg Config) *harness {
	t.Helper()
	db := mustOpenDB(t)
	return startHarness(t, fake, token, db, db, h, cfg)
}

func mustOpenDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "bot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// startHarness runs a Bot whose inbox is inbox, over the store db.
func startHarness(t *testing.T, fake *slackfake.Server, token string, db *store.DB, inbox Inbox, h Handlers, cfg Config) *harness {
	t.Helper()
	api := slack.New(botToken, slack.OptionAPIURL(fake.APIURL()), slack.OptionAppLevelToken(token))
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase = 20 * time.Millisecond
	}
	b := New(api, inbox, h, zerolog.New(zerolog.NewTestWriter(t)), cfg)
	ctx, cancel := context.WithCancel(context.Background())
	hs := &harness{t: t, slack: fake, bot: b, db: db, done: make(chan error, 1), stop: cancel}
	go func() { hs.done <- b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-hs.done })
	return hs
}

// shutdown stops the bot and waits for Run to return.
func (h *harness) shutdown() {
	h.t.Helper()
	h.stop()
	select {
	case err := <-h.done:
		h.done <- err // for the cleanup
		if err != nil {
			h.t.Fatalf("Run = %v, want nil on shutdown", err)
		}
	case <-time.After(5 * time.Second):
		h.t.Fatal("Run did not return")
	}
}

func (h *harness) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	h.t.Cleanup(cancel)
	return ctx
}

func (h *harness) connected(n int) {
	h.t.Helper()
	if err := h.slack.WaitConnected(h.ctx(), n); err != nil {
		h.t.Fatalf("waiting for connection %d: %v", n, err)
	}
}

// send delivers an envelope and waits for its ack.
func (h *harness) send(id string, env []byte) slackfake.Ack {
	h.t.Helper()
	if err := h.slack.Send(h.ctx(), env); err != nil {
		h.t.Fatalf("send %s: %v", id, err)
	}
	ack, err := h.slack.WaitAck(h.ctx(), id)
	if err != nil {
		h.t.Fatalf("ack %s: %v", id, err)
	}
	return ack
}

// linkRecorder is a LinkSharedHandler that records what it was given.
type linkRecorder struct {
	mu   sync.Mutex
	got  []LinkShared
	seen chan LinkShared
	fn   func(ctx context.Context, ev LinkShared) error
}

func newLinkRecorder() *linkRecorder { return &linkRecorder{seen: make(chan LinkShared, 100)} }

func (r *linkRecorder) HandleLinkShared(ctx context.Context, ev LinkShared) error {
	var err error
	if r.fn != nil {
		err = r.fn(ctx, ev)
	}
	r.mu.Lock()
	r.got = append(r.got, ev)
	r.mu.Unlock()
	r.seen <- ev
	return err
}

func (r *linkRecorder) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.got) }

func (r *linkRecorder) next(t *testing.T) LinkShared {
	t.Helper()
	select {
	case ev := <-r.seen:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("handler was not called")
		return LinkShared{}
	}
}

func linkEnvelope(eventID string, retry int) (string, []byte) {
	return slackfake.LinkSharedEnvelope(slackfake.LinkShared{
		TeamID: "T0001", Channel: "C0BACKEND", User: "U0ALICE", MessageTS: "1732810000.123456",
		UnfurlID: "C0BACKEND.1732810000.123456.7a1b", Source: "conversations_history",
		EventID: eventID, RetryAttempt: retry, IsBotUserMember: true,
		URLs: []string{"https://acme.sentry.io/issues/4321/"},
	})
}

func TestLinkSharedIsAckedAndDecoded(t *testing.T) {
	rec := newLinkRecorder()
	h := newHarness(t, Handlers{LinkShared: rec}, Config{})
	h.connected(1)

	id, env := slackfake.LinkSharedEnvelope(slackfake.LinkShared{
		TeamID: "T0001", Channel: "COMPOSER", User: "U0ALICE", MessageTS: "U0ALICE-909b",
		UnfurlID: "U0ALICE-909b", Source: "composer", EventID: "Ev1",
		URLs: []string{"https://acme.sentry.io/issues/1/", "https://acme.sentry.io/issues/2/"},
	})
	ack := h.send(id, env)
	if len(ack.Payload) != 0 && string(ack.Payload) != "null" {
		t.Errorf("ack payload = %s, want none", ack.Payload)
	}
	ev := rec.next(t)
	want := LinkShared{TeamID: "T0001", EventID: "Ev1", Channel: "COMPOSER", User: "U0ALICE",
		MessageTS: "U0ALICE-909b", UnfurlID: "U0ALICE-909b", Source: "composer",
		URLs: []string{"https://acme.sentry.io/issues/1/", "https://acme.sentry.io/issues/2/"}}
	if ev.UnfurlID != want.UnfurlID || ev.Source != want.Source || ev.Channel != want.Channel ||
		ev.TeamID != want.TeamID || ev.EventID != want.EventID || len(ev.URLs) != 2 || ev.URLs[1] != want.URLs[1] {
		t.Errorf("decoded %+v, want %+v", ev, want)
	}
	if !ev.InComposer() {
		t.Error("InComposer() = false for a composer link")
	}
}

func TestRedeliveredEventIsHandledOnce(t *testing.T) {
	rec := newLinkRecorder()
	h := newHarness(t, Handlers{LinkShared: rec}, Config{})
	h.connected(1)

	id1, env1 := linkEnvelope("EvSAME", 0)
	h.send(id1, env1)
	rec.next(t)
	// Slack redelivers with a new envelope id, the same event id and retry_attempt 1.
	id2, env2 := linkEnvelope("EvSAME", 1)
	h.send(id2, env2)
	// A different event afterwards proves the pool went on working.
	id3, env3 := linkEnvelope("EvOTHER", 0)
	h.send(id3, env3)
	if ev := rec.next(t); ev.EventID != "EvOTHER" {
		t.Fatalf("second handled event = %s, want EvOTHER (the redelivery must be skipped)", ev.EventID)
	}
	if n := rec.count(); n != 2 {
		t.Fatalf("handler calls = %d, want 2", n)
	}
	if d := h.bot.Stats().Duplicates; d != 1 {
		t.Fatalf("duplicates = %d, want 1", d)
	}
}

func TestPanicInHandlerIsRecovered(t *testing.T) {
	rec := newLinkRecorder()
	var calls atomic.Int32
	rec.fn = func(ctx context.Context, ev LinkShared) error {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		return nil
	}
	h := newHarness(t, Handlers{LinkShared: rec}, Config{})
	h.connected(1)
	id1, env1 := linkEnvelope("EvP1", 0)
	h.send(id1, env1)
	id2, env2 := linkEnvelope("EvP2", 0)
	h.send(id2, env2)
	// The first call panics before it is recorded; the second must still run.
	if ev := rec.next(t); ev.EventID != "EvP2" {
		t.Fatalf("handled %s, want EvP2", ev.EventID)
	}
	deadline := time.Now().Add(2 * time.Second)
	for h.bot.Stats().Panics != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if p := h.bot.Stats().Panics; p != 1 {
		t.Fatalf("panics = %d, want 1", p)
	}
}

func TestUnitDeadline(t *testing.T) {
	rec := newLinkRecorder()
	deadlineSeen := make(chan time.Duration, 1)
	rec.fn = func(ctx context.Context, ev LinkShared) error {
		d, _ := ctx.Deadline()
		deadlineSeen <- time.Until(d)
		<-ctx.Done()
		return ctx.Err()
	}
	h := newHarness(t, Handlers{LinkShared: rec}, Config{UnitTimeout: 100 * time.Millisecond})
	h.connected(1)
	id, env := linkEnvelope("EvD", 0)
	h.send(id, env)
	if left := <-deadlineSeen; left <= 0 || left > 100*time.Millisecond {
		t.Fatalf("unit deadline in %v, want within 100ms", left)
	}
	rec.next(t) // returned once the deadline passed
}

func TestReconnectsAfterDropAndDisconnect(t *testing.T) {
	rec := newLinkRecorder()
	h := newHarness(t, Handlers{LinkShared: rec}, Config{})
	h.connected(1)

	h.slack.DropConnection()
	h.connected(2)
	id, env := linkEnvelope("EvAfterDrop", 0)
	h.send(id, env)
	if ev := rec.next(t); ev.EventID != "EvAfterDrop" {
		t.Fatalf("got %s", ev.EventID)
	}

	h.slack.Disconnect("refresh_requested")
	h.connected(3)
	id, env = linkEnvelope("EvAfterRefresh", 0)
	h.send(id, env)
	if ev := rec.next(t); ev.EventID != "EvAfterRefresh" {
		t.Fatalf("got %s", ev.EventID)
	}
	if !h.bot.Connected() {
		t.Error("Connected() = false on a live socket")
	}
}

func TestLinkDisabledStopsWithClearError(t *testing.T) {
	fake := slackfake.New(slackfake.Options{AppToken: appToken, BotToken: botToken})
	t.Cleanup(fake.Close)
	fake.SetLinkDisabled(true)
	h := newHarnessWith(t, fake, appToken, Handlers{}, Config{BackoffBase: 10 * time.Millisecond})
	select {
	case err := <-h.done:
		h.done <- err // for the cleanup
		if !errors.Is(err, ErrLinkDisabled) {
			t.Fatalf("Run = %v, want ErrLinkDisabled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("bot kept reconnecting to a disabled link")
	}
	if n := fake.ConnectionsOpened(); n != 3 {
		t.Fatalf("apps.connections.open calls = %d, want exactly 3 (LinkDisabledMax)", n)
	}
}

func TestBadAppTokenIsFatal(t *testing.T) {
	fake := slackfake.New(slackfake.Options{AppToken: appToken, BotToken: botToken})
	t.Cleanup(fake.Close)
	h := newHarnessWith(t, fake, "xapp-wrong", Handlers{}, Config{})
	select {
	case err := <-h.done:
		h.done <- err
		var fe *FatalAuthError
		if !errors.As(err, &fe) {
			t.Fatalf("Run = %v, want FatalAuthError", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("bot kept retrying a rejected token")
	}
}

func TestShutdownDrainsInFlightWork(t *testing.T) {
	rec := newLinkRecorder()
	started := make(chan struct{})
	var finishedCleanly atomic.Bool
	rec.fn = func(ctx context.Context, ev LinkShared) error {
		close(started)
		select {
		case <-time.After(300 * time.Millisecond):
			finishedCleanly.Store(true)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h := newHarness(t, Handlers{LinkShared: rec}, Config{DrainTimeout: 5 * time.Second})
	h.connected(1)
	id, env := linkEnvelope("EvDrain", 0)
	h.send(id, env)
	<-started
	h.stop()
	select {
	case err := <-h.done:
		h.done <- err
		if err != nil {
			t.Fatalf("Run = %v, want nil on shutdown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if !finishedCleanly.Load() {
		t.Fatal("in-flight work was cancelled instead of drained")
	}
	if keys := pendingKeys(t, h.db); len(keys) != 0 {
		t.Fatalf("pending after a full drain = %v, want none", keys)
	}
}

func TestShutdownCapsDrain(t *testing.T) {
	rec := newLinkRecorder()
	started := make(chan struct{})
	rec.fn = func(ctx context.Context, ev LinkShared) error {
		close(started)
		<-ctx.Done() // never finishes on its own
		return ctx.Err()
	}
	h := newHarness(t, Handlers{LinkShared: rec}, Config{DrainTimeout: 100 * time.Millisecond, UnitTimeout: time.Minute})
	h.connected(1)
	id, env := linkEnvelope("EvStuck", 0)
	h.send(id, env)
	<-started
	begin := time.Now()
	h.stop()
	err := <-h.done
	h.done <- err
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Fatalf("shutdown took %v with a 100ms drain cap", took)
	}
}

type suggestFn func(ctx context.Context, cb slack.InteractionCallback) (any, error)

func (f suggestFn) Suggest(ctx context.Context, cb slack.InteractionCallback) (any, error) {
	return f(ctx, cb)
}

func TestSuggestionAnsweredInAck(t *testing.T) {
	h := newHarness(t, Handlers{Suggestions: suggestFn(func(ctx context.Context, cb slack.InteractionCallback) (any, error) {
		return map[string]any{"options": []map[string]any{{"text": map[string]string{"type": "plain_text", "text": "Me (" + cb.Value + ")"}, "value": "me"}}}, nil
	})}, Config{})
	h.connected(1)
	id, env := slackfake.BlockSuggestionEnvelope(slackfake.BlockSuggestion{TeamID: "T0001", UserID: "U0BOB", ChannelID: "C0BACKEND", ActionID: "sentry.issue.assign", Value: "bo"})
	ack := h.send(id, env)
	var p struct {
		Options []struct {
			Text  struct{ Text string } `json:"text"`
			Value string                `json:"value"`
		} `json:"options"`
	}
	if err := json.Unmarshal(ack.Payload, &p); err != nil {
		t.Fatalf("ack payload %s: %v", ack.Payload, err)
	}
	if len(p.Options) != 1 || p.Options[0].Text.Text != "Me (bo)" {
		t.Fatalf("options = %+v", p.Options)
	}
}

func TestSuggestionTimeoutStillAcks(t *testing.T) {
	h := newHarness(t, Handlers{Suggestions: suggestFn(func(ctx context.Context, cb slack.InteractionCallback) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})}, Config{SuggestTimeout: 50 * time.Millisecond})
	h.connected(1)
	id, env := slackfake.BlockSuggestionEnvelope(slackfake.BlockSuggestion{TeamID: "T0001", UserID: "U0BOB", ChannelID: "C0BACKEND", ActionID: "x", Value: "a"})
	ack := h.send(id, env)
	if string(ack.Payload) != `{"options":[]}` {
		t.Fatalf("ack payload = %s, want an empty option list", ack.Payload)
	}
}

func TestBackoffBounds(t *testing.T) {
	base, limit := 100*time.Millisecond, 2*time.Second
	for attempt := range 30 {
		want := min(base<<min(attempt, 20), limit)
		for range 50 {
			d := backoff(base, limit, attempt)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: backoff %v outside [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
}

type actionFn func(ctx context.Context, a Action) error

func (f actionFn) HandleAction(ctx context.Context, a Action) error { return f(ctx, a) }

func TestActionDecodedAndRedeliveryHandledOnce(t *testing.T) {
	got := make(chan Action, 10)
	h := newHarness(t, Handlers{Actions: actionFn(func(ctx context.Context, a Action) error {
		got <- a
		return nil
	})}, Config{})
	h.connected(1)
	click := slackfake.BlockAction{TeamID: "T0001", UserID: "U0BOB", ChannelID: "C0BACKEND", MessageTS: "1732810000.123456",
		InUnfurl: true, UnfurlURL: "https://acme.sentry.io/issues/4321/", ActionID: "sentry.issue.resolve",
		BlockID: "issue_actions:4321", Value: "4321", ActionTS: "1732810200.331110"}
	id, env := slackfake.BlockActionsEnvelope(click)
	h.send(id, env)
	var a Action
	select {
	case a = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("action not handled")
	}
	if !a.InUnfurl() || a.AppUnfurlURL != click.UnfurlURL || a.Container.ChannelID != "C0BACKEND" ||
		len(a.ActionCallback.BlockActions) != 1 || a.ActionCallback.BlockActions[0].ActionID != "sentry.issue.resolve" {
		t.Fatalf("decoded action = %+v (unfurl url %q)", a.Container, a.AppUnfurlURL)
	}
	// The same click delivered again (new envelope id, same action_ts) is skipped;
	// a second click has its own action_ts and runs.
	id, env = slackfake.BlockActionsEnvelope(click)
	h.send(id, env)
	click.ActionTS = "1732810201.000001"
	id, env = slackfake.BlockActionsEnvelope(click)
	h.send(id, env)
	select {
	case a = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("second click not handled")
	}
	if ts := a.ActionCallback.BlockActions[0].ActionTs; ts != "1732810201.000001" {
		t.Fatalf("handled action_ts %s, want the second click's (the redelivery must be skipped)", ts)
	}
	select {
	case a = <-got:
		t.Fatalf("an extra action ran: %s", a.ActionCallback.BlockActions[0].ActionTs)
	case <-time.After(100 * time.Millisecond):
	}
	if d := h.bot.Stats().Duplicates; d != 1 {
		t.Fatalf("duplicates = %d, want 1", d)
	}
}

func TestObserveAckLatency(t *testing.T) {
	type seen struct {
		kind string
		ack  time.Duration
	}
	got := make(chan seen, 10)
	rec := newLinkRecorder()
	h := newHarness(t, Handlers{LinkShared: rec}, Config{Observe: func(kind string, ack time.Duration) { got <- seen{kind, ack} }})
	h.connected(1)
	id, env := linkEnvelope("EvObs", 0)
	h.send(id, env)
	select {
	case s := <-got:
		if s.kind != "events_api" || s.ack <= 0 || s.ack > time.Second {
			t.Fatalf("observed %+v", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ack not observed")
	}
	rec.next(t)
}

func TestOtherWorkspaceIsAckedAndDropped(t *testing.T) {
	rec := newLinkRecorder()
	h := newHarness(t, Handlers{LinkShared: rec}, Config{TeamID: "T0001"})
	h.connected(1)

	foreign := slackfake.LinkShared{
		TeamID: "T0EVIL", Channel: "C1", User: "U0MALLORY", MessageTS: "1.1", Source: "conversations_history",
		EventID: "EvForeign", URLs: []string{"https://acme.sentry.io/issues/1/"},
	}
	id, env := slackfake.LinkSharedEnvelope(foreign)
	h.send(id, env) // acked: Slack must not redeliver it
	own := foreign
	own.TeamID, own.EventID = "T0001", "EvOwn"
	id, env = slackfake.LinkSharedEnvelope(own)
	h.send(id, env)
	if ev := rec.next(t); ev.EventID != "EvOwn" {
		t.Errorf("handled %s (team %s) first, want only EvOwn", ev.EventID, ev.TeamID)
	}
}
