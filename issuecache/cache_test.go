package issuecache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sentrybot/internal/testkit"
	"sentrybot/sentry"
)

type fetcherFn func(ctx context.Context, org, id string) (*sentry.Issue, error)

func (f fetcherFn) Issue(ctx context.Context, org, id string) (*sentry.Issue, error) {
	return f(ctx, org, id)
}

var _ Fetcher = fetcherFn(nil)

func TestConcurrentFetchesShareOneCall(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	c := New(fetcherFn(func(ctx context.Context, org, id string) (*sentry.Issue, error) {
		calls.Add(1)
		<-release
		return &sentry.Issue{ID: id}, nil
	}), Options{})

	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			is, err := c.Issue(context.Background(), "acme", "42")
			if err != nil || is.ID != "42" {
				t.Errorf("Issue = %v, %v", is, err)
			}
		})
	}
	time.Sleep(20 * time.Millisecond) // let all five join the flight
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("Sentry calls = %d, want 1", n)
	}
}

func TestTTL(t *testing.T) {
	clk := testkit.NewClock(time.Unix(1_700_000_000, 0))
	var calls atomic.Int32
	c := New(fetcherFn(func(ctx context.Context, org, id string) (*sentry.Issue, error) {
		calls.Add(1)
		return &sentry.Issue{ID: id}, nil
	}), Options{TTL: 10 * time.Second, Now: clk.Now})
	ctx := context.Background()
	for range 3 {
		if _, err := c.Issue(ctx, "acme", "1"); err != nil {
			t.Fatal(err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("calls within TTL = %d, want 1", calls.Load())
	}
	clk.Advance(10 * time.Second)
	if _, err := c.Issue(ctx, "acme", "1"); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 {
		t.Fatalf("calls after TTL = %d, want 2", calls.Load())
	}
	c.Forget("acme", "1")
	if _, err := c.Issue(ctx, "acme", "1"); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 {
		t.Fatalf("calls after Forget = %d, want 3", calls.Load())
	}
	c.Put("acme", "2", &sentry.Issue{ID: "2", Title: "put"})
	is, _ := c.Issue(ctx, "acme", "2")
	if is.Title != "put" || calls.Load() != 3 {
		t.Fatalf("Put copy not served: %+v, calls %d", is, calls.Load())
	}
}

func TestErrorsAreNotCached(t *testing.T) {
	var calls atomic.Int32
	boom := errors.New("boom")
	c := New(fetcherFn(func(ctx context.Context, org, id string) (*sentry.Issue, error) {
		if calls.Add(1) == 1 {
			return nil, boom
		}
		return &sentry.Issue{ID: id}, nil
	}), Options{})
	if _, err := c.Issue(context.Background(), "acme", "1"); !errors.Is(err, boom) {
		t.Fatalf("first err = %v, want boom", err)
	}
	if _, err := c.Issue(context.Background(), "acme", "1"); err != nil {
		t.Fatalf("second err = %v", err)
	}
}

func TestCallerCancellationDoesNotFailOthers(t *testing.T) {
	release := make(chan struct{})
	c := New(fetcherFn(func(ctx context.Context, org, id string) (*sentry.Issue, error) {
		select {
		case <-release:
			return &sentry.Issue{ID: id}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}), Options{})
	first, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := c.Issue(first, "acme", "7"); errc <- err }()
	done := make(chan error, 1)
	go func() {
		time.Sleep(10 * time.Millisecond)
		_, err := c.Issue(context.Background(), "acme", "7")
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller err = %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("second caller failed with the first caller's cancellation: %v", err)
	}
}

func TestMaxSizeIsAHardBoundOldestGoFirst(t *testing.T) {
	f := fetcherFn(func(ctx context.Context, org, id string) (*sentry.Issue, error) {
		t.Errorf("Sentry asked for %s; every issue here is put", id)
		return nil, context.Canceled
	})
	now := time.Unix(1_700_000_000, 0)
	c := New(f, Options{MaxSize: 3, TTL: time.Minute, Now: func() time.Time { return now }})
	for _, id := range []string{"1", "2", "3", "2", "4", "5"} {
		c.Put("acme", id, &sentry.Issue{ID: id})
		now = now.Add(time.Second)
	}
	if n := len(c.entries); n != 3 {
		t.Fatalf("%d entries, want the cap of 3", n)
	}
	// "1" and "3" were the oldest stores still live; "2" was stored again.
	for id, want := range map[string]bool{"1": false, "3": false, "2": true, "4": true, "5": true} {
		if _, ok := c.lookup(key("acme", id)); ok != want {
			t.Errorf("issue %s cached = %v, want %v", id, ok, want)
		}
	}
	if len(c.order)-c.head > 4 {
		t.Errorf("%d items queued for 3 entries; stale items are not dropped", len(c.order)-c.head)
	}
}
