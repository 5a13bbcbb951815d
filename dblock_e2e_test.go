package main

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"sentrybot/internal/slackfake"
)

// TestE2EDatabaseLockedEnvelopeNotAckedThenDoneOnce: another process (a
// backup, an operator's sqlite3 shell) holds the database's write lock past
// every wait. The bot cannot record the envelope, so it does not
// acknowledge it; Slack delivers it again, and once the lock is gone the
// link unfurls exactly once.
func TestE2EDatabaseLockedEnvelopeNotAckedThenDoneOnce(t *testing.T) {
	const url = "https://acme.sentry.io/issues/4321/"
	s := newE2E(t, nil)
	s.start()

	// The bot may be writing as it starts; the lock is waited for, not
	// grabbed at the first try.
	other, err := sql.Open("sqlite", "file:"+s.env["SENTRYBOT_DB"]+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx := context.Background()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("taking the write lock: %v", err)
	}
	locked := true
	defer func() {
		if locked {
			_, _ = conn.ExecContext(ctx, "ROLLBACK")
		}
	}()

	ls := slackfake.LinkShared{TeamID: "T0001", Channel: "C0BACKEND", User: "U0ALICE", MessageTS: "1732850000.000001",
		Source: "conversations_history", EventID: nextEventID(), IsBotUserMember: true, URLs: []string{url}}
	id, env := slackfake.LinkSharedEnvelope(ls)
	if err := s.slack.Send(s.ctx(), env); err != nil {
		t.Fatal(err)
	}
	// The bot waits for the lock for a while, then gives up on recording.
	waitCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for !strings.Contains(s.logs.String(), "could not record envelope; not acknowledged") {
		select {
		case <-waitCtx.Done():
			t.Fatalf("the bot never gave up recording the envelope; logs:\n%s", s.logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	for _, a := range s.slack.Acks() {
		if a.EnvelopeID == id {
			t.Fatalf("envelope %s acknowledged though it could not be recorded", id)
		}
	}
	if n := s.issueGets("4321"); n != 0 {
		t.Errorf("Sentry was asked %d times for work that was never recorded", n)
	}
	if n := len(s.slack.Calls("chat.unfurl")); n != 0 {
		t.Errorf("%d unfurls for work that was never recorded", n)
	}

	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatalf("releasing the write lock: %v", err)
	}
	locked = false
	// Slack, without an ack, delivers the event again.
	ls.RetryAttempt = 1
	rid, renv := slackfake.LinkSharedEnvelope(ls)
	s.send(renv, rid)
	s.unfurls(1)
	if err := s.halt(); err != nil {
		t.Fatalf("run = %v", err)
	}
	if n := len(s.slack.Calls("chat.unfurl")); n != 1 {
		t.Errorf("%d unfurls, want exactly one", n)
	}
	if n := s.issueGets("4321"); n != 1 {
		t.Errorf("Sentry was asked %d times, want once", n)
	}
}
