package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func mustMarkSeen(t *testing.T, db *DB, key string, ttl time.Duration) bool {
	t.Helper()
	first, err := db.MarkSeen(context.Background(), key, ttl)
	if err != nil {
		t.Fatalf("MarkSeen(%q): %v", key, err)
	}
	return first
}

func TestMarkSeen(t *testing.T) {
	ctx := context.Background()
	const key = "event:Ev0LINK0001"

	t.Run("FirstThenSeenThenExpired", func(t *testing.T) {
		db := MustOpenDB(t)
		clk := newClock(db)
		if !mustMarkSeen(t, db, key, time.Minute) {
			t.Fatal("first MarkSeen = false, want true")
		}
		if mustMarkSeen(t, db, key, time.Minute) {
			t.Fatal("second MarkSeen = true, want false")
		}
		clk.Advance(time.Minute - time.Millisecond)
		if mustMarkSeen(t, db, key, time.Minute) {
			t.Fatal("MarkSeen 1ms before expiry = true, want false")
		}
		clk.Advance(time.Millisecond)
		if !mustMarkSeen(t, db, key, time.Minute) {
			t.Fatal("MarkSeen at expiry = false, want true")
		}
		// Taking an expired key starts a fresh ttl.
		clk.Advance(30 * time.Second)
		if mustMarkSeen(t, db, key, time.Minute) {
			t.Fatal("MarkSeen within the renewed ttl = true, want false")
		}
	})

	t.Run("KeysAreIndependent", func(t *testing.T) {
		db := MustOpenDB(t)
		newClock(db)
		if !mustMarkSeen(t, db, "event:A", time.Minute) || !mustMarkSeen(t, db, "event:B", time.Minute) {
			t.Fatal("distinct keys were not each first")
		}
	})

	t.Run("InvalidArguments", func(t *testing.T) {
		db := MustOpenDB(t)
		for _, tc := range []struct {
			key string
			ttl time.Duration
		}{
			{"", time.Minute},
			{key, 0},
			{key, -time.Second},
			{key, time.Microsecond},
		} {
			if _, err := db.MarkSeen(ctx, tc.key, tc.ttl); err == nil || !strings.HasPrefix(err.Error(), "store: mark seen") {
				t.Errorf("MarkSeen(%q, %v) error = %v, want a store: mark seen error", tc.key, tc.ttl, err)
			}
		}
		if n := countRows(t, db, "seen_keys"); n != 0 {
			t.Errorf("seen_keys has %d rows after rejected calls, want 0", n)
		}
	})

	t.Run("Closed", func(t *testing.T) {
		db := MustOpenDB(t)
		db.Close()
		if _, err := db.MarkSeen(ctx, key, time.Minute); err == nil || !strings.Contains(err.Error(), "store: mark seen "+key) {
			t.Errorf("MarkSeen on a closed DB error = %v, want one naming the key", err)
		}
	})

	t.Run("ConcurrentSameKey", func(t *testing.T) {
		db := MustOpenDB(t)
		newClock(db)
		const n = 50
		var firsts, failures atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range n {
			wg.Go(func() {
				<-start
				first, err := db.MarkSeen(ctx, key, time.Minute)
				if err != nil {
					failures.Add(1)
					t.Errorf("MarkSeen: %v", err)
					return
				}
				if first {
					firsts.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if got := firsts.Load(); got != 1 || failures.Load() != 0 {
			t.Errorf("%d of %d goroutines were first (%d failed), want exactly 1", got, n, failures.Load())
		}
	})

	t.Run("ConcurrentDistinctKeys", func(t *testing.T) {
		// Every call writes, so this is the write contention case.
		db := MustOpenDB(t)
		newClock(db)
		const n = 50
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				first, err := db.MarkSeen(ctx, fmt.Sprintf("event:%d", i), time.Minute)
				if err != nil {
					t.Errorf("MarkSeen: %v", err)
				} else if !first {
					t.Errorf("key %d: first = false, want true", i)
				}
			})
		}
		close(start)
		wg.Wait()
		if got := countRows(t, db, "seen_keys"); got != n {
			t.Errorf("seen_keys has %d rows, want %d", got, n)
		}
	})
}

func TestForgetSeen(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	newClock(db)
	const key = "event:Ev0LINK0002"

	mustMarkSeen(t, db, key, time.Hour)
	mustMarkSeen(t, db, "event:other", time.Hour)
	if err := db.ForgetSeen(ctx, key); err != nil {
		t.Fatalf("ForgetSeen: %v", err)
	}
	if !mustMarkSeen(t, db, key, time.Hour) {
		t.Error("MarkSeen after ForgetSeen = false, want true")
	}
	if mustMarkSeen(t, db, "event:other", time.Hour) {
		t.Error("ForgetSeen removed another key")
	}
	if err := db.ForgetSeen(ctx, "event:never"); err != nil {
		t.Errorf("ForgetSeen of an unknown key: %v", err)
	}
}

func TestPurgeExpired(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	clk := newClock(db)

	for i := range 3 {
		mustMarkSeen(t, db, fmt.Sprintf("short:%d", i), time.Minute)
	}
	for i := range 2 {
		mustMarkSeen(t, db, fmt.Sprintf("long:%d", i), time.Hour)
	}

	n, err := db.PurgeExpired(ctx)
	if err != nil || n != 0 {
		t.Fatalf("PurgeExpired before any expiry = %d, %v; want 0, nil", n, err)
	}
	clk.Advance(time.Minute)
	if n, err = db.PurgeExpired(ctx); err != nil || n != 3 {
		t.Fatalf("PurgeExpired after a minute = %d, %v; want 3, nil", n, err)
	}
	if got := countRows(t, db, "seen_keys"); got != 2 {
		t.Errorf("seen_keys has %d rows, want the 2 live ones", got)
	}
	if n, err = db.PurgeExpired(ctx); err != nil || n != 0 {
		t.Errorf("second PurgeExpired = %d, %v; want 0, nil", n, err)
	}
	clk.Advance(time.Hour)
	if n, err = db.PurgeExpired(ctx); err != nil || n != 2 {
		t.Errorf("PurgeExpired after an hour = %d, %v; want 2, nil", n, err)
	}
}

func BenchmarkMarkSeen(b *testing.B) {
	ctx := context.Background()

	b.Run("Sequential", func(b *testing.B) {
		db := MustOpenDB(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := db.MarkSeen(ctx, "event:"+strconv.Itoa(i), time.Hour); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})

	b.Run("Parallel", func(b *testing.B) {
		db := MustOpenDB(b)
		b.ReportAllocs()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := db.MarkSeen(ctx, "event:"+strconv.FormatInt(next.Add(1), 10), time.Hour); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})

	b.Run("ParallelSameKey", func(b *testing.B) {
		// Redeliveries: mostly the false path, which writes nothing.
		db := MustOpenDB(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := db.MarkSeen(ctx, "event:same", time.Hour); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
