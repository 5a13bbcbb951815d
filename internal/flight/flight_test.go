package flight

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCallersAtOnceShareOneRun(t *testing.T) {
	var g Group[string, int]
	const callers = 20
	var joined sync.WaitGroup
	joined.Add(callers - 1)
	g.OnJoin = joined.Done
	release := make(chan struct{})
	var runs atomic.Int32
	var wg sync.WaitGroup
	results := make(chan int, callers)
	for range callers {
		wg.Go(func() {
			v, err := g.Do(context.Background(), "alice", time.Second, func(context.Context) (int, error) {
				runs.Add(1)
				<-release
				return 42, nil
			})
			if err != nil {
				t.Errorf("Do: %v", err)
			}
			results <- v
		})
	}
	joined.Wait() // every caller but the first is waiting on the one run
	close(release)
	wg.Wait()
	close(results)
	if n := runs.Load(); n != 1 {
		t.Errorf("fn ran %d times for %d callers at once, want 1", n, callers)
	}
	for v := range results {
		if v != 42 {
			t.Errorf("a caller got %d, want 42", v)
		}
	}
	// Finished work is not remembered: the next caller runs fn again.
	if v, _ := g.Do(context.Background(), "alice", time.Second, func(context.Context) (int, error) { return 7, nil }); v != 7 {
		t.Errorf("after the run, Do gave %d, want a fresh 7", v)
	}
}

func TestKeysAreIndependent(t *testing.T) {
	var g Group[string, string]
	block := make(chan struct{})
	started := make(chan struct{})
	go func() {
		_, _ = g.Do(context.Background(), "a", time.Second, func(context.Context) (string, error) {
			close(started)
			<-block
			return "a", nil
		})
	}()
	<-started
	if v, err := g.Do(context.Background(), "b", time.Second, func(context.Context) (string, error) { return "b", nil }); v != "b" || err != nil {
		t.Errorf("key b = %q, %v while a runs; want its own run", v, err)
	}
	close(block)
}

func TestGivingUpFailsNoOneElse(t *testing.T) {
	var g Group[int, string]
	release := make(chan struct{})
	var workCtxErr error
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := g.Do(ctx, 1, time.Second, func(wctx context.Context) (string, error) {
			close(started)
			<-release
			workCtxErr = wctx.Err()
			return "ok", nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the caller that gave up got %v, want context.Canceled", err)
		}
	}()
	<-started
	joined := make(chan struct{})
	g.OnJoin = func() { close(joined) }
	other := make(chan string, 1)
	go func() {
		v, _ := g.Do(context.Background(), 1, time.Second, nil)
		other <- v
	}()
	<-joined
	cancel()
	<-done
	close(release)
	if v := <-other; v != "ok" {
		t.Errorf("the caller that stayed got %q, want ok", v)
	}
	if workCtxErr != nil {
		t.Errorf("the work's context ended with the first caller's: %v", workCtxErr)
	}
}

func TestWorkIsBoundedByTimeout(t *testing.T) {
	var g Group[int, int]
	_, err := g.Do(context.Background(), 1, 10*time.Millisecond, func(ctx context.Context) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Do = %v, want the work's deadline", err)
	}
}

func TestPanicReleasesEveryWaiter(t *testing.T) {
	var g Group[int, int]
	_, err := g.Do(context.Background(), 1, time.Second, func(context.Context) (int, error) { panic("boom") })
	if !errors.Is(err, ErrPanic) {
		t.Fatalf("Do = %v, want ErrPanic", err)
	}
	if v, err := g.Do(context.Background(), 1, time.Second, func(context.Context) (int, error) { return 3, nil }); v != 3 || err != nil {
		t.Errorf("after a panic Do = %d, %v; want a fresh run", v, err)
	}
}
