package sentry

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// sourceRig is a Sentry that records the bearer token of every request.
type sourceRig struct {
	c    *Client
	mu   sync.Mutex
	seen []string
	// answer, when set, writes the response instead of an issue.
	answer func(w http.ResponseWriter, r *http.Request) bool
}

func newSourceRig(t *testing.T) *sourceRig {
	t.Helper()
	rg := &sourceRig{}
	issue := exampleIssue(t)
	rg.c = newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		rg.mu.Lock()
		rg.seen = append(rg.seen, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		answer := rg.answer
		rg.mu.Unlock()
		if answer != nil && answer(w, r) {
			return
		}
		w.Write(issue)
	})
	return rg
}

func (rg *sourceRig) tokens() []string {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	return append([]string(nil), rg.seen...)
}

// switchable is a TokenSource whose token the test sets.
type switchable struct {
	tok   atomic.Value // string
	err   atomic.Value // error wrapper
	calls atomic.Int32
}

type errBox struct{ err error }

func (s *switchable) set(tok string)      { s.tok.Store(tok) }
func (s *switchable) fail(err error)      { s.err.Store(errBox{err}) }
func (s *switchable) source() TokenSource { return s.Token }

func (s *switchable) Token(context.Context) (string, error) {
	s.calls.Add(1)
	if b, ok := s.err.Load().(errBox); ok && b.err != nil {
		return "", b.err
	}
	tok, _ := s.tok.Load().(string)
	return tok, nil
}

func TestWithTokenSource(t *testing.T) {
	ctx := context.Background()

	t.Run("SendsTheSourcesTokenOrItsOwn", func(t *testing.T) {
		rg := newSourceRig(t)
		var src switchable
		c := rg.c.WithTokenSource(src.source())
		if _, err := c.Issue(ctx, "acme", "1"); err != nil {
			t.Fatal(err)
		}
		src.set("install-token-1")
		if _, err := c.Issue(ctx, "acme", "1"); err != nil {
			t.Fatal(err)
		}
		src.set("install-token-2")
		if _, err := c.Issue(ctx, "acme", "1"); err != nil {
			t.Fatal(err)
		}
		src.set("")
		if _, err := c.Issue(ctx, "acme", "1"); err != nil {
			t.Fatal(err)
		}
		want := []string{testToken, "install-token-1", "install-token-2", testToken}
		if got := rg.tokens(); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("tokens sent = %q, want %q", got, want)
		}
		if n := src.calls.Load(); n != 4 {
			t.Errorf("source asked %d times, want once per call (4)", n)
		}
	})

	t.Run("OriginalUnchanged", func(t *testing.T) {
		rg := newSourceRig(t)
		var src switchable
		src.set("install-token")
		_ = rg.c.WithTokenSource(src.source())
		if _, err := rg.c.Issue(ctx, "acme", "1"); err != nil {
			t.Fatal(err)
		}
		if got := rg.tokens(); len(got) != 1 || got[0] != testToken {
			t.Errorf("original client sent %q", got)
		}
		if src.calls.Load() != 0 {
			t.Error("the original client asked the source")
		}
	})

	t.Run("NilSource", func(t *testing.T) {
		rg := newSourceRig(t)
		var src switchable
		src.set("install-token")
		c := rg.c.WithTokenSource(src.source()).WithTokenSource(nil)
		if _, err := c.Issue(ctx, "acme", "1"); err != nil {
			t.Fatal(err)
		}
		if got := rg.tokens(); len(got) != 1 || got[0] != testToken {
			t.Errorf("client without a source sent %q", got)
		}
	})

	t.Run("WithTokenCopySendsItsOwnToken", func(t *testing.T) {
		rg := newSourceRig(t)
		var src switchable
		src.set("install-token")
		org := rg.c.WithTokenSource(src.source())
		user, err := org.WithToken("user-oauth-token")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := user.Issue(ctx, "acme", "1"); err != nil {
			t.Fatal(err)
		}
		if _, err := org.Issue(ctx, "acme", "1"); err != nil {
			t.Fatal(err)
		}
		want := []string{"user-oauth-token", "install-token"}
		if got := rg.tokens(); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("tokens sent = %q, want %q", got, want)
		}
		if n := src.calls.Load(); n != 1 {
			t.Errorf("source asked %d times, want only for the org client's call", n)
		}
	})

	t.Run("SourceFails", func(t *testing.T) {
		rg := newSourceRig(t)
		var src switchable
		cause := errors.New("apptoken: the installation token could not be refreshed")
		src.fail(cause)
		c := rg.c.WithTokenSource(src.source())
		_, err := c.Issue(ctx, "acme", "1")
		e := asError(t, err)
		if e.Kind != KindUnauthorized || !errors.Is(err, ErrUnauthorized) || !errors.Is(err, cause) || e.Op != "get issue" {
			t.Errorf("err = %v (kind %v), want unauthorized wrapping the source's error", err, e.Kind)
		}
		if n := len(rg.tokens()); n != 0 {
			t.Errorf("%d requests reached Sentry, want none", n)
		}
		// A failing source says nothing about Sentry's health.
		for range 10 {
			_, _ = c.Issue(ctx, "acme", "1")
		}
		if c.BreakerState() != BreakerClosed {
			t.Errorf("breaker %v after source failures", c.BreakerState())
		}
	})

	t.Run("Canceled", func(t *testing.T) {
		rg := newSourceRig(t)
		cctx, cancel := context.WithCancel(ctx)
		c := rg.c.WithTokenSource(func(ctx context.Context) (string, error) {
			cancel()
			<-ctx.Done()
			return "", ctx.Err()
		})
		_, err := c.Issue(cctx, "acme", "1")
		if e := asError(t, err); e.Kind != KindCanceled || !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v (kind %v), want canceled", err, e.Kind)
		}
	})

	t.Run("MalformedToken", func(t *testing.T) {
		rg := newSourceRig(t)
		for _, bad := range []string{"abc def", "abc\r\nX-Evil: 1", "abc\x7f", " "} {
			var src switchable
			src.set(bad)
			_, err := rg.c.WithTokenSource(src.source()).Issue(ctx, "acme", "1")
			e := asError(t, err)
			if e.Kind != KindUnauthorized || strings.TrimSpace(bad) != "" && strings.Contains(err.Error(), bad) {
				t.Errorf("token %q: err = %v, want unauthorized not naming the token", bad, err)
			}
		}
		if n := len(rg.tokens()); n != 0 {
			t.Errorf("%d requests reached Sentry with a malformed token", n)
		}
	})

	t.Run("SourcesTokenIsRedacted", func(t *testing.T) {
		rg := newSourceRig(t)
		const secret = "install-token-SECRETSECRET-42"
		rg.answer = func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"detail":"bad header ` + r.Header.Get("Authorization") + `"}`))
			return true
		}
		var src switchable
		src.set(secret)
		_, err := rg.c.WithTokenSource(src.source()).Issue(ctx, "acme", "1")
		e := asError(t, err)
		if strings.Contains(err.Error(), secret) || !strings.Contains(e.Detail, "[redacted]") {
			t.Errorf("err = %v, want the source's token redacted", err)
		}
	})

	t.Run("RateLimitHoldsTheSourcesToken", func(t *testing.T) {
		rg := newSourceRig(t)
		rg.answer = func(w http.ResponseWriter, r *http.Request) bool {
			if r.Header.Get("Authorization") != "Bearer install-token-1" {
				return false
			}
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`"slow down"`))
			return true
		}
		var src switchable
		src.set("install-token-1")
		c := rg.c.WithTokenSource(src.source())
		if _, err := c.Issue(ctx, "acme", "1"); asError(t, err).StatusCode != 429 {
			t.Fatalf("first call: %v, want Sentry's 429", err)
		}
		if _, err := c.Issue(ctx, "acme", "1"); !errors.Is(err, ErrRateLimitHold) {
			t.Fatalf("second call with the same token: %v, want it held back", err)
		}
		// The static token and the next installation token are other
		// callers for Sentry's limits.
		if _, err := rg.c.Issue(ctx, "acme", "1"); err != nil {
			t.Errorf("the static token was held back: %v", err)
		}
		src.set("install-token-2")
		if _, err := c.Issue(ctx, "acme", "1"); err != nil {
			t.Errorf("the renewed token was held back: %v", err)
		}
		want := []string{"install-token-1", testToken, "install-token-2"}
		if got := rg.tokens(); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("tokens sent = %q, want %q", got, want)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		rg := newSourceRig(t)
		var src switchable
		src.set("install-token-a")
		c := rg.c.WithTokenSource(src.source())
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				if i%4 == 0 {
					src.set("install-token-b")
				}
				if _, err := c.Issue(ctx, "acme", "1"); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for _, tok := range rg.tokens() {
			if tok != "install-token-a" && tok != "install-token-b" {
				t.Errorf("a call sent %q", tok)
			}
		}
	})
}
