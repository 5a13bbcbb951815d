package bot

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"sentrybot/internal/slackfake"
	"sentrybot/store"
)

// inboxFake is the real store with AdmitEnvelope replaceable and purges
// counted.
type inboxFake struct {
	*store.DB
	AdmitFn func(ctx context.Context, key, envelopeID, kind string, envelope []byte, ttl time.Duration) (bool, error)

	envelopePurges, seenPurges atomic.Int32
}

func (f *inboxFake) PurgeEnvelopes(ctx context.Context) (int64, error) {
	f.envelopePurges.Add(1)
	return f.DB.PurgeEnvelopes(ctx)
}

func (f *inboxFake) PurgeExpired(ctx context.Context) (int64, error) {
	f.seenPurges.Add(1)
	return f.DB.PurgeExpired(ctx)
}

var _ Inbox = (*inboxFake)(nil)

func (f *inboxFake) AdmitEnvelope(ctx context.Context, key, envelopeID, kind string, envelope []byte, ttl time.Duration) (bool, error) {
	if f.AdmitFn != nil {
		return f.AdmitFn(ctx, key, envelopeID, kind, envelope, ttl)
	}
	return f.DB.AdmitEnvelope(ctx, key, envelopeID, kind, envelope, ttl)
}

func pendingKeys(t *testing.T, db *store.DB) []string {
	t.Helper()
	list, err := db.PendingEnvelopes(context.Background())
	if err != nil {
		t.Fatalf("PendingEnvelopes: %v", err)
	}
	var keys []string
	for _, p := range list {
		keys = append(keys, p.Key)
	}
	return keys
}

// eventually polls cond until it holds or 5 seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func acksOf(fake *slackfake.Server, envelopeID string) int {
	n := 0
	for _, a := range fake.Acks() {
		if a.EnvelopeID == envelopeID {
			n++
		}
	}
	return n
}

func TestAckWaitsForTheRecord(t *testing.T) {
	fake := slackfake.New(slackfake.Options{AppToken: appToken, BotToken: botToken})
	t.Cleanup(fake.Close)
	db := mustOpenDB(t)
	entered, release := make(chan struct{}), make(chan struct{})
	inbox := &inboxFake{DB: db, AdmitFn: func(ctx context.Context, key, id, kind string, env []byte, ttl time.Duration) (bool, error) {
		close(entered)
		<-release
		return db.AdmitEnvelope(ctx, key, id, kind, env, ttl)
	}}
	rec := newLinkRecorder()
	handlerRelease := make(chan struct{})
	rec.fn = func(ctx context.Context, ev LinkShared) error { <-handlerRelease; return nil }
	h := startHarness(t, fake, appToken, db, inbox, Handlers{LinkShared: rec}, Config{})
	// Cleanups run last-registered first: a failing test must not leave the
	// bot stuck in Admit or in the handler while the harness waits for Run.
	var releaseOnce, handlerOnce sync.Once
	t.Cleanup(func() {
		releaseOnce.Do(func() { close(release) })
		handlerOnce.Do(func() { close(handlerRelease) })
	})
	h.connected(1)

	id, env := linkEnvelope("EvAck", 0)
	if err := fake.Send(h.ctx(), env); err != nil {
		t.Fatal(err)
	}
	<-entered
	// A premature ack would have been written before Admit was called; give
	// it time to reach the fake.
	time.Sleep(50 * time.Millisecond)
	if n := acksOf(fake, id); n != 0 {
		t.Fatalf("%d acks while the envelope was not yet recorded, want 0", n)
	}
	if keys := pendingKeys(t, db); len(keys) != 0 {
		t.Fatalf("pending = %v before Admit returned", keys)
	}
	releaseOnce.Do(func() { close(release) })
	if _, err := fake.WaitAck(h.ctx(), id); err != nil {
		t.Fatal(err)
	}
	// The handler is still held, so the record must be there, pending.
	if keys := pendingKeys(t, db); !slices.Equal(keys, []string{"event:EvAck"}) {
		t.Fatalf("pending after the ack = %v, want [event:EvAck]", keys)
	}
	handlerOnce.Do(func() { close(handlerRelease) })
	rec.next(t)
	eventually(t, "the unit is marked done", func() bool { return len(pendingKeys(t, db)) == 0 })
}

func TestAdmitFailureIsNotAcked(t *testing.T) {
	fake := slackfake.New(slackfake.Options{AppToken: appToken, BotToken: botToken})
	t.Cleanup(fake.Close)
	db := mustOpenDB(t)
	var failing atomic.Bool
	failing.Store(true)
	inbox := &inboxFake{DB: db, AdmitFn: func(ctx context.Context, key, id, kind string, env []byte, ttl time.Duration) (bool, error) {
		if failing.Load() && key == "event:EvFail" {
			return false, errors.New("disk I/O error")
		}
		return db.AdmitEnvelope(ctx, key, id, kind, env, ttl)
	}}
	rec := newLinkRecorder()
	h := startHarness(t, fake, appToken, db, inbox, Handlers{LinkShared: rec}, Config{Workers: 1})
	h.connected(1)

	idFail, envFail := linkEnvelope("EvFail", 0)
	if err := fake.Send(h.ctx(), envFail); err != nil {
		t.Fatal(err)
	}
	// The read loop takes envelopes in order: once the next one is acked,
	// the failed one is behind it. With one worker, its unit would have run
	// first had it been queued.
	idNext, envNext := linkEnvelope("EvNext", 0)
	h.send(idNext, envNext)
	if ev := rec.next(t); ev.EventID != "EvNext" {
		t.Fatalf("handled %s first, want EvNext: an unrecorded envelope must not run", ev.EventID)
	}
	if n := acksOf(fake, idFail); n != 0 {
		t.Fatalf("envelope whose record failed was acked %d times, want 0", n)
	}

	// Slack delivers it again; now the store takes it.
	failing.Store(false)
	idRetry, envRetry := linkEnvelope("EvFail", 1)
	h.send(idRetry, envRetry)
	if ev := rec.next(t); ev.EventID != "EvFail" {
		t.Fatalf("handled %s, want the redelivered EvFail", ev.EventID)
	}
	if n := rec.count(); n != 2 {
		t.Fatalf("handler calls = %d, want 2", n)
	}
}

func TestRedeliveredEnvelopeIDIsHandledOnce(t *testing.T) {
	rec := newLinkRecorder()
	h := newHarness(t, Handlers{LinkShared: rec}, Config{})
	h.connected(1)

	id, env := linkEnvelope("EvFirst", 0)
	h.send(id, env)
	rec.next(t)
	// Another event id under the same envelope id: the envelope id alone
	// marks it as already taken.
	idOther, envOther := linkEnvelope("EvSecond", 1)
	envOther = bytes.ReplaceAll(envOther, []byte(idOther), []byte(id))
	if err := h.slack.Send(h.ctx(), envOther); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the second ack arrives", func() bool { return acksOf(h.slack, id) == 2 })
	// The same bytes again.
	if err := h.slack.Send(h.ctx(), env); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the third ack arrives", func() bool { return acksOf(h.slack, id) == 3 })
	idLast, envLast := linkEnvelope("EvLast", 0)
	h.send(idLast, envLast)
	if ev := rec.next(t); ev.EventID != "EvLast" {
		t.Fatalf("handled %s, want EvLast (the redeliveries must be skipped)", ev.EventID)
	}
	if d := h.bot.Stats().Duplicates; d != 2 {
		t.Fatalf("duplicates = %d, want 2", d)
	}
}

func TestUnhandledEnvelopesAreNotRecorded(t *testing.T) {
	fake := slackfake.New(slackfake.Options{AppToken: appToken, BotToken: botToken})
	t.Cleanup(fake.Close)
	db := mustOpenDB(t)
	var admits atomic.Int32
	inbox := &inboxFake{DB: db, AdmitFn: func(ctx context.Context, key, id, kind string, env []byte, ttl time.Duration) (bool, error) {
		admits.Add(1)
		return db.AdmitEnvelope(ctx, key, id, kind, env, ttl)
	}}
	suggested := make(chan struct{}, 1)
	h := startHarness(t, fake, appToken, db, inbox, Handlers{
		Suggestions: suggestFn(func(ctx context.Context, cb slack.InteractionCallback) (any, error) {
			suggested <- struct{}{}
			return nil, nil
		}),
	}, Config{})
	h.connected(1)

	var ids []string
	add := func(id string, env []byte) { ids = append(ids, id); h.send(id, env) }
	add(linkEnvelope("EvNoHandler", 0))
	add(slackfake.SlashCommandEnvelope(slackfake.SlashCommand{Text: "help"}))
	add(slackfake.BlockActionsEnvelope(slackfake.BlockAction{ActionID: "sentry.issue.resolve", Value: "1", ActionTS: "1732810200.1"}))
	add(slackfake.BlockSuggestionEnvelope(slackfake.BlockSuggestion{ActionID: "sentry.issue.assign", Value: "bo"}))
	<-suggested
	// An envelope type nobody knows is acknowledged all the same.
	h.send("env-unknown", []byte(`{"envelope_id":"env-unknown","type":"brand_new","payload":{}}`))
	if n := admits.Load(); n != 0 {
		t.Fatalf("AdmitEnvelope called %d times for envelopes with nothing to run, want 0", n)
	}
	if n := h.bot.Stats().Envelopes; n != 5 {
		t.Fatalf("envelopes = %d, want 5", n)
	}
}

func TestOutcomesAreFinished(t *testing.T) {
	rec := newLinkRecorder()
	rec.fn = func(ctx context.Context, ev LinkShared) error {
		switch ev.EventID {
		case "EvErr":
			return errors.New("sentry said no")
		case "EvPanic":
			panic("boom")
		case "EvSlow":
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	h := newHarness(t, Handlers{LinkShared: rec}, Config{UnitTimeout: 50 * time.Millisecond})
	h.connected(1)
	for _, ev := range []string{"EvOK", "EvErr", "EvPanic", "EvSlow"} {
		id, env := linkEnvelope(ev, 0)
		h.send(id, env)
	}
	eventually(t, "every outcome is marked done", func() bool {
		return len(pendingKeys(t, h.db)) == 0 && h.bot.Stats().Panics == 1 && rec.count() == 3
	})
}

func TestKilledWorkRunsOnceAfterRestart(t *testing.T) {
	fake := slackfake.New(slackfake.Options{AppToken: appToken, BotToken: botToken})
	t.Cleanup(fake.Close)
	db := mustOpenDB(t)

	// The first process: its handler never finishes on its own, and the
	// drain cap cancels it, which is as far as the work gets before a kill.
	stuck := newLinkRecorder()
	started := make(chan struct{})
	stuck.fn = func(ctx context.Context, ev LinkShared) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}
	first := startHarness(t, fake, appToken, db, db, Handlers{LinkShared: stuck}, Config{DrainTimeout: 20 * time.Millisecond})
	first.connected(1)
	id, env := linkEnvelope("EvCrash", 0)
	first.send(id, env)
	<-started
	first.shutdown()
	if keys := pendingKeys(t, db); !slices.Equal(keys, []string{"event:EvCrash"}) {
		t.Fatalf("pending after the cut-short shutdown = %v, want [event:EvCrash]", keys)
	}

	// The next process runs it once, at start, before any envelope arrives.
	var mu sync.Mutex
	var ran []LinkShared
	replayed := map[string]bool{}
	again := newLinkRecorder()
	again.fn = func(ctx context.Context, ev LinkShared) error {
		mu.Lock()
		ran = append(ran, ev)
		replayed[ev.EventID] = Replayed(ctx)
		mu.Unlock()
		return nil
	}
	second := startHarness(t, fake, appToken, db, db, Handlers{LinkShared: again}, Config{})
	ev := again.next(t)
	if ev.EventID != "EvCrash" || ev.UnfurlID != "C0BACKEND.1732810000.123456.7a1b" || len(ev.URLs) != 1 {
		t.Fatalf("replayed %+v, want the recorded EvCrash decoded in full", ev)
	}
	second.connected(2)
	// Slack, never having seen the first ack arrive, might redeliver.
	idRe, envRe := linkEnvelope("EvCrash", 1)
	second.send(idRe, envRe)
	idNext, envNext := linkEnvelope("EvNext", 0)
	second.send(idNext, envNext)
	if ev := again.next(t); ev.EventID != "EvNext" {
		t.Fatalf("handled %s, want EvNext (the redelivery must be skipped)", ev.EventID)
	}
	eventually(t, "nothing is pending", func() bool { return len(pendingKeys(t, db)) == 0 })
	mu.Lock()
	defer mu.Unlock()
	if len(ran) != 2 {
		t.Fatalf("handler ran %d times, want 2 (EvCrash once, EvNext once)", len(ran))
	}
	if !replayed["EvCrash"] || replayed["EvNext"] {
		t.Errorf("Replayed(ctx) = %v, want true for the resumed EvCrash only", replayed)
	}
	if s := second.bot.Stats(); s.Replayed != 1 || s.Duplicates != 1 {
		t.Fatalf("stats = %+v, want 1 replayed and 1 duplicate", s)
	}
}

func TestPoisonEnvelopeIsGivenUp(t *testing.T) {
	ctx := context.Background()
	fake := slackfake.New(slackfake.Options{AppToken: appToken, BotToken: botToken})
	t.Cleanup(fake.Close)
	db := mustOpenDB(t)

	// Recorded by earlier processes: EvPoison attempted 3 times, EvTwice 2.
	for _, tc := range []struct {
		event   string
		retries int
	}{{"EvPoison", 2}, {"EvTwice", 1}} {
		id, env := linkEnvelope(tc.event, 0)
		key := "event:" + tc.event
		if first, err := db.AdmitEnvelope(ctx, key, id, "link_shared", env, time.Hour); err != nil || !first {
			t.Fatalf("seeding %s: %v, %v", key, first, err)
		}
		for range tc.retries {
			if err := db.RetryEnvelope(ctx, key); err != nil {
				t.Fatal(err)
			}
		}
	}

	rec := newLinkRecorder()
	h := startHarness(t, fake, appToken, db, db, Handlers{LinkShared: rec}, Config{Workers: 1})
	// EvPoison arrived first: with one worker it would run first.
	if ev := rec.next(t); ev.EventID != "EvTwice" {
		t.Fatalf("ran %s, want EvTwice (EvPoison must be given up)", ev.EventID)
	}
	h.connected(1)
	eventually(t, "nothing is pending", func() bool { return len(pendingKeys(t, db)) == 0 })
	if n := rec.count(); n != 1 {
		t.Fatalf("handler calls = %d, want 1", n)
	}
	if r := h.bot.Stats().Replayed; r != 1 {
		t.Fatalf("replayed = %d, want 1", r)
	}
}

func TestPurgeLoopPurgesEnvelopesAndSeenKeys(t *testing.T) {
	fake := slackfake.New(slackfake.Options{AppToken: appToken, BotToken: botToken})
	t.Cleanup(fake.Close)
	db := mustOpenDB(t)
	inbox := &inboxFake{DB: db}
	startHarness(t, fake, appToken, db, inbox, Handlers{}, Config{PurgeInterval: 5 * time.Millisecond})
	eventually(t, "both purges ran twice", func() bool {
		return inbox.envelopePurges.Load() >= 2 && inbox.seenPurges.Load() >= 2
	})
}
