package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestPurgesSpanBatches leaves more expired rows than several batches hold,
// beside rows that must stay: every expired row goes, in one call, and
// nothing else does.
func TestPurgesSpanBatches(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	clk := newClock(db)
	expired := 2*purgeBatch + 7

	for i := range expired {
		key := fmt.Sprintf("old:%d", i)
		mustAdmit(t, db, key, "env-"+key, time.Minute)
		if err := db.FinishEnvelope(ctx, key); err != nil {
			t.Fatal(err)
		}
		mustMarkSeen(t, db, "seen-"+key, time.Minute)
		if err := db.RecordCard(ctx, Card{ChannelID: "C1", TS: fmt.Sprintf("1.%06d", i), IssueID: "1", Kind: CardMessage}); err != nil {
			t.Fatal(err)
		}
	}
	mustAdmit(t, db, "pending", "env-pending", time.Minute) // never purged
	clk.Advance(2 * time.Minute)
	mustAdmit(t, db, "fresh", "env-fresh", time.Minute)
	if err := db.FinishEnvelope(ctx, "fresh"); err != nil {
		t.Fatal(err)
	}
	mustMarkSeen(t, db, "seen-fresh", time.Minute)
	if err := db.RecordCard(ctx, Card{ChannelID: "C1", TS: "2.000000", IssueID: "1", Kind: CardMessage}); err != nil {
		t.Fatal(err)
	}

	if n, err := db.PurgeEnvelopes(ctx); err != nil || n != int64(expired) {
		t.Errorf("PurgeEnvelopes = %d, %v; want %d", n, err, expired)
	}
	if n, err := db.PurgeExpired(ctx); err != nil || n != int64(expired) {
		t.Errorf("PurgeExpired = %d, %v; want %d", n, err, expired)
	}
	if n, err := db.PurgeAlerts(ctx, clk.Now(), clk.Now().Add(-time.Minute)); err != nil || n != int64(expired) {
		t.Errorf("PurgeAlerts = %d, %v; want %d", n, err, expired)
	}
	for table, want := range map[string]int{"envelope_inbox": 2, "seen_keys": 1, "cards": 1} {
		if got := countRows(t, db, table); got != want {
			t.Errorf("%s has %d rows after the purges, want %d", table, got, want)
		}
	}
	if got := pendingKeys(mustPending(t, db)); len(got) != 1 || got[0] != "pending" {
		t.Errorf("pending after purges = %v, want the one pending envelope", got)
	}
}

// TestPurgeStopsWithItsContext cancels a purge that has batches left: it
// stops, says why, and what it deleted stays deleted.
func TestPurgeStopsWithItsContext(t *testing.T) {
	db := MustOpenDB(t)
	clk := newClock(db)
	for i := range purgeBatch + 1 {
		mustMarkSeen(t, db, fmt.Sprintf("k:%d", i), time.Minute)
	}
	clk.Advance(time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	db.Now = func() time.Time { cancel(); return clk.Now() }
	n, err := db.PurgeExpired(ctx)
	if err == nil {
		t.Fatalf("PurgeExpired on a cancelled context = %d, nil; want an error", n)
	}
	if left := countRows(t, db, "seen_keys"); int64(left)+n != int64(purgeBatch+1) {
		t.Errorf("deleted %d and %d left, want %d in all", n, left, purgeBatch+1)
	}
}
