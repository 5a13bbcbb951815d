package sentry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sentrybot/internal/testkit"
)

func newTestClock() *testkit.Clock {
	return testkit.NewClock(time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC))
}

// flakySentry answers every request with its current status and counts
// the requests that reached it.
type flakySentry struct {
	status   atomic.Int64
	requests atomic.Int64
	header   http.Header // set on every answer
	srv      *httptest.Server
}

func newFlakySentry(t *testing.T, status int) *flakySentry {
	t.Helper()
	return newFlakySentryWith(t, status, nil)
}

func newFlakySentryWith(t *testing.T, status int, header http.Header) *flakySentry {
	t.Helper()
	f := &flakySentry{header: header}
	f.status.Store(int64(status))
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		for k, v := range f.header {
			w.Header()[k] = v
		}
		st := int(f.status.Load())
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(st)
		if st == http.StatusOK {
			_, _ = w.Write([]byte(`{"id":"1","shortId":"P-1","title":"t"}`))
			return
		}
		_, _ = w.Write([]byte(`{"detail":"nope"}`))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *flakySentry) set(status int) { f.status.Store(int64(status)) }
func (f *flakySentry) count() int     { return int(f.requests.Load()) }

func breakerClient(t *testing.T, baseURL string, clk *testkit.Clock, cfg Config) *Client {
	t.Helper()
	cfg.BaseURL, cfg.Token, cfg.Now = baseURL, testToken, clk.Now
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func getIssue(c *Client) error {
	_, err := c.Issue(context.Background(), "acme", "1")
	return err
}

// failAtOnce checks err is the breaker's: unreachable, retry at want, with
// no request sent (Sentry's count unchanged from before).
func failAtOnce(t *testing.T, err error, f *flakySentry, before int, want time.Time) {
	t.Helper()
	e := asError(t, err)
	if e.Kind != KindUnreachable || !errors.Is(err, ErrUnreachable) || !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("err = %v, want unreachable with ErrCircuitOpen", err)
	}
	if !e.RetryAt.Equal(want) {
		t.Errorf("RetryAt = %v, want %v", e.RetryAt, want)
	}
	if e.StatusCode != 0 || e.Op != "get issue" {
		t.Errorf("err = %+v, want op get issue and no status", e)
	}
	if n := f.count(); n != before {
		t.Errorf("Sentry got %d requests while the breaker was open", n-before)
	}
}

func TestBreakerOpensAfterThresholdFailures(t *testing.T) {
	for _, status := range []int{500, 502, 503, 504} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			clk := newTestClock()
			f := newFlakySentry(t, status)
			var observed atomic.Int64
			c := breakerClient(t, f.srv.URL, clk, Config{Observe: func(string, int, time.Duration) { observed.Add(1) }})
			for i := range 5 {
				if c.BreakerState() != BreakerClosed {
					t.Fatalf("breaker %v after %d failures", c.BreakerState(), i)
				}
				if err := getIssue(c); asError(t, err).Kind != KindServer {
					t.Fatalf("call %d: %v, want the server error", i, err)
				}
			}
			if c.BreakerState() != BreakerOpen {
				t.Fatalf("breaker %v after 5 failures, want open", c.BreakerState())
			}
			clk.Advance(29 * time.Second)
			err := getIssue(c)
			failAtOnce(t, err, f, 5, clk.Now().Add(time.Second))
			for _, want := range []string{"get issue", "unreachable", "retry at 2026-08-01T12:00:30Z", "Sentry keeps failing"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if n := observed.Load(); n != 5 {
				t.Errorf("Observe called %d times, want once per request sent (5)", n)
			}
		})
	}
}

func TestBreakerProbeAfterCooldownCloses(t *testing.T) {
	clk := newTestClock()
	f := newFlakySentry(t, 500)
	c := breakerClient(t, f.srv.URL, clk, Config{BreakerThreshold: 2, BreakerCooldown: 10 * time.Second})
	_, _ = getIssue(c), getIssue(c)
	if c.BreakerState() != BreakerOpen {
		t.Fatalf("breaker %v after 2 failures with threshold 2", c.BreakerState())
	}
	failAtOnce(t, getIssue(c), f, 2, clk.Now().Add(10*time.Second))

	f.set(200)
	clk.Advance(10 * time.Second)
	if c.BreakerState() != BreakerHalfOpen {
		t.Fatalf("breaker %v after the cool-down, want half-open", c.BreakerState())
	}
	if err := getIssue(c); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if c.BreakerState() != BreakerClosed {
		t.Fatalf("breaker %v after a good probe, want closed", c.BreakerState())
	}
	for range 3 {
		if err := getIssue(c); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.count(); n != 2+1+3 {
		t.Errorf("Sentry got %d requests, want 2 failures, the probe and 3 more", n)
	}
}

func TestBreakerFailedProbesDoubleTheCooldown(t *testing.T) {
	clk := newTestClock()
	f := newFlakySentry(t, 500)
	c := breakerClient(t, f.srv.URL, clk, Config{BreakerThreshold: 1, BreakerCooldown: 40 * time.Second})
	_ = getIssue(c)
	// 40 s, then doubled per failed probe and capped at 5 minutes.
	for i, cool := range []time.Duration{40 * time.Second, 80 * time.Second, 160 * time.Second, 300 * time.Second, 300 * time.Second} {
		before := f.count()
		clk.Advance(cool - time.Second)
		failAtOnce(t, getIssue(c), f, before, clk.Now().Add(time.Second))
		clk.Advance(time.Second)
		if err := getIssue(c); asError(t, err).Kind != KindServer {
			t.Fatalf("probe %d: %v, want it to reach Sentry and fail", i, err)
		}
		if n := f.count(); n != before+1 {
			t.Fatalf("probe %d: Sentry got %d requests, want 1", i, n-before)
		}
	}
	// A good probe resets the cool-down to the configured one.
	f.set(200)
	clk.Advance(300 * time.Second)
	if err := getIssue(c); err != nil {
		t.Fatal(err)
	}
	f.set(500)
	_ = getIssue(c)
	before := f.count()
	failAtOnce(t, getIssue(c), f, before, clk.Now().Add(40*time.Second))
}

func TestBreakerOneProbeAtATime(t *testing.T) {
	clk := newTestClock()
	arrived := make(chan struct{})
	release := make(chan struct{})
	var requests, failing atomic.Int64
	failing.Store(1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if failing.Load() == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		arrived <- struct{}{}
		<-release
		_, _ = w.Write([]byte(`{"id":"1"}`))
	}))
	t.Cleanup(srv.Close)
	c := breakerClient(t, srv.URL, clk, Config{BreakerThreshold: 1, BreakerCooldown: time.Second})
	_ = getIssue(c)
	failing.Store(0)
	clk.Advance(time.Second)

	probe := make(chan error, 1)
	go func() { probe <- getIssue(c) }()
	<-arrived
	// While the probe is out, others fail at once and say to retry now.
	err := getIssue(c)
	if e := asError(t, err); !errors.Is(err, ErrCircuitOpen) || !e.RetryAt.Equal(clk.Now()) {
		t.Fatalf("call during the probe = %v, want held back with retry now", err)
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("Sentry got %d requests, want the failure and the probe", n)
	}
	close(release)
	if err := <-probe; err != nil {
		t.Fatalf("probe: %v", err)
	}
	if c.BreakerState() != BreakerClosed {
		t.Fatalf("breaker %v after the probe, want closed", c.BreakerState())
	}
}

func TestBreakerCountsOnlySentryFailing(t *testing.T) {
	t.Run("AnswersResetTheCount", func(t *testing.T) {
		clk := newTestClock()
		f := newFlakySentry(t, 500)
		c := breakerClient(t, f.srv.URL, clk, Config{})
		for _, answer := range []int{200, 400, 401, 403, 404, 410, 429} {
			for range 4 {
				_ = getIssue(c)
			}
			f.set(answer)
			_ = getIssue(c)
			f.set(500)
			if c.BreakerState() != BreakerClosed {
				t.Fatalf("breaker %v: 4 failures then a %d opened it", c.BreakerState(), answer)
			}
		}
		if n := f.count(); n != 7*5 {
			t.Errorf("Sentry got %d requests, want all 35", n)
		}
	})
	t.Run("ClientErrorsNeverOpen", func(t *testing.T) {
		clk := newTestClock()
		f := newFlakySentry(t, 404)
		c := breakerClient(t, f.srv.URL, clk, Config{})
		for range 20 {
			if err := getIssue(c); !errors.Is(err, ErrNotFound) {
				t.Fatalf("err = %v, want not found", err)
			}
		}
		if c.BreakerState() != BreakerClosed || f.count() != 20 {
			t.Errorf("breaker %v after 20 404s, %d requests", c.BreakerState(), f.count())
		}
	})
	t.Run("CanceledCallerNotCounted", func(t *testing.T) {
		clk := newTestClock()
		f := newFlakySentry(t, 500)
		c := breakerClient(t, f.srv.URL, clk, Config{BreakerThreshold: 2})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for range 10 {
			if _, err := c.Issue(ctx, "acme", "1"); !errors.Is(err, ErrCanceled) {
				t.Fatalf("err = %v, want canceled", err)
			}
		}
		if c.BreakerState() != BreakerClosed {
			t.Errorf("breaker %v after canceled calls", c.BreakerState())
		}
	})
	t.Run("InvalidRequestNotSent", func(t *testing.T) {
		clk := newTestClock()
		f := newFlakySentry(t, 500)
		c := breakerClient(t, f.srv.URL, clk, Config{BreakerThreshold: 2})
		_ = getIssue(c)
		// Refused before any request: says nothing about Sentry either way.
		if _, err := c.Issue(context.Background(), "acme", "../x"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("err = %v", err)
		}
		if err := c.UpdateIssue(context.Background(), "acme", "1", IssueUpdate{}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("err = %v", err)
		}
		_ = getIssue(c)
		if c.BreakerState() != BreakerOpen {
			t.Errorf("breaker %v: refused calls reset the count", c.BreakerState())
		}
	})
}

func TestBreakerCountsTransportFailuresAndTimeouts(t *testing.T) {
	t.Run("Unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close() // nothing listens there now
		clk := newTestClock()
		c := breakerClient(t, url, clk, Config{BreakerThreshold: 3})
		for range 3 {
			if err := getIssue(c); !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrCircuitOpen) {
				t.Fatalf("err = %v, want a transport failure", err)
			}
		}
		if err := getIssue(c); !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("err = %v after 3 refused connections, want the breaker's", err)
		}
	})
	t.Run("Timeout", func(t *testing.T) {
		stop := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-stop:
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(stop) })
		clk := newTestClock()
		c := breakerClient(t, srv.URL, clk, Config{BreakerThreshold: 2})
		for range 2 {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			_, err := c.Issue(ctx, "acme", "1")
			cancel()
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("err = %v, want a timeout", err)
			}
		}
		if c.BreakerState() != BreakerOpen {
			t.Errorf("breaker %v after 2 timeouts", c.BreakerState())
		}
	})
}

func TestBreakerCanceledProbeFreesTheSlot(t *testing.T) {
	clk := newTestClock()
	f := newFlakySentry(t, 500)
	c := breakerClient(t, f.srv.URL, clk, Config{BreakerThreshold: 1})
	_ = getIssue(c)
	clk.Advance(30 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Issue(ctx, "acme", "1"); !errors.Is(err, ErrCanceled) {
		t.Fatalf("canceled probe: %v", err)
	}
	f.set(200)
	if err := getIssue(c); err != nil {
		t.Fatalf("the next call should be the probe: %v", err)
	}
	if c.BreakerState() != BreakerClosed {
		t.Errorf("breaker %v", c.BreakerState())
	}
}

func TestBreakerLateSuccessDoesNotClose(t *testing.T) {
	clk := newTestClock()
	b := newBreaker(2, time.Minute, clk.Now)
	slow, err := b.admit("get issue", "t")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		tk, _ := b.admit("get issue", "t")
		b.done(tk, "t", &Error{Kind: KindServer, StatusCode: 500})
	}
	b.done(slow, "t", nil) // sent before the breaker opened
	if b.current() != BreakerOpen {
		t.Errorf("breaker %v: a call sent before it opened closed it", b.current())
	}
}

func TestBreakerDisabled(t *testing.T) {
	clk := newTestClock()
	f := newFlakySentry(t, 500)
	c := breakerClient(t, f.srv.URL, clk, Config{BreakerThreshold: -1})
	for range 20 {
		if err := getIssue(c); !errors.Is(err, ErrServer) {
			t.Fatalf("err = %v", err)
		}
	}
	if f.count() != 20 || c.BreakerState() != BreakerClosed {
		t.Errorf("%d requests, breaker %v; want all 20 sent", f.count(), c.BreakerState())
	}
}

func TestBreakerSharedByTokenCopies(t *testing.T) {
	clk := newTestClock()
	f := newFlakySentry(t, 500)
	c := breakerClient(t, f.srv.URL, clk, Config{BreakerThreshold: 2})
	user, err := c.WithToken("sntryu_another")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = getIssue(c), getIssue(user)
	if user.BreakerState() != BreakerOpen {
		t.Fatalf("breaker %v: failures of the two tokens did not add up", user.BreakerState())
	}
	failAtOnce(t, getIssue(user), f, 2, clk.Now().Add(30*time.Second))
}

func TestRateLimitHoldsCallsBack(t *testing.T) {
	clk := newTestClock()
	for _, tc := range []struct {
		name   string
		header http.Header
		want   time.Time
	}{
		{"SentryReset", http.Header{"X-Sentry-Rate-Limit-Reset": {strconv.FormatInt(clk.Now().Add(10*time.Second).Unix(), 10)}}, clk.Now().Add(10 * time.Second)},
		{"RetryAfter", http.Header{"Retry-After": {"7"}}, clk.Now().Add(7 * time.Second)},
		{"CappedAtFiveMinutes", http.Header{"Retry-After": {"86400"}}, clk.Now().Add(5 * time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newTestClock()
			f := newFlakySentryWith(t, 429, tc.header)
			c := breakerClient(t, f.srv.URL, clk, Config{})
			if err := getIssue(c); asError(t, err).StatusCode != 429 {
				t.Fatalf("first call: %v, want Sentry's 429", err)
			}
			f.set(200)
			clk.Advance(time.Second)
			err := getIssue(c)
			e := asError(t, err)
			if e.Kind != KindRateLimited || !errors.Is(err, ErrRateLimited) || !errors.Is(err, ErrRateLimitHold) || !e.RetryAt.Equal(tc.want) {
				t.Fatalf("second call: %v, want held back until %v", err, tc.want)
			}
			if f.count() != 1 {
				t.Errorf("Sentry got %d requests, want only the rate-limited one", f.count())
			}
			// Another token is not held back by this one's limit.
			other, err := c.WithToken("sntryu_another")
			if err != nil {
				t.Fatal(err)
			}
			if err := getIssue(other); err != nil {
				t.Errorf("another token: %v", err)
			}
			clk.Advance(tc.want.Sub(clk.Now()))
			if err := getIssue(c); err != nil {
				t.Fatalf("after the reset time: %v", err)
			}
			if f.count() != 3 || c.BreakerState() != BreakerClosed {
				t.Errorf("%d requests, breaker %v", f.count(), c.BreakerState())
			}
		})
	}
	t.Run("NoResetNoHold", func(t *testing.T) {
		clk := newTestClock()
		f := newFlakySentry(t, 429) // self-hosted Sentry names no reset time
		c := breakerClient(t, f.srv.URL, clk, Config{})
		for range 10 {
			if err := getIssue(c); asError(t, err).StatusCode != 429 {
				t.Fatalf("err = %v, want Sentry's 429", err)
			}
		}
		if f.count() != 10 {
			t.Errorf("Sentry got %d requests, want 10", f.count())
		}
	})
}

func TestBreakerStateString(t *testing.T) {
	for s, want := range map[BreakerState]string{BreakerClosed: "closed", BreakerOpen: "open", BreakerHalfOpen: "half-open", 9: "BreakerState(?)"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(s), s, want)
		}
	}
}
