package sentry

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestWithToken(t *testing.T) {
	var gotAuth, gotAgent atomic.Value
	var observed atomic.Int32
	srv := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		gotAuth.Store(r.Header.Get("Authorization"))
		gotAgent.Store(r.Header.Get("User-Agent"))
		w.Write(exampleIssue(t))
	})
	srv.observe = func(string, int, time.Duration) { observed.Add(1) }

	t.Run("OK", func(t *testing.T) {
		user, err := srv.WithToken("user-oauth-token")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := user.Issue(context.Background(), "acme", "1"); err != nil {
			t.Fatal(err)
		}
		if got := gotAuth.Load(); got != "Bearer user-oauth-token" {
			t.Errorf("Authorization = %q, want the user's token", got)
		}
		if got := gotAgent.Load(); got != "sentrybot/test" {
			t.Errorf("User-Agent = %q, want the original's", got)
		}
		if observed.Load() != 1 {
			t.Errorf("observe hook called %d times, want 1", observed.Load())
		}
		if user.base != srv.base || user.http != srv.http {
			t.Error("the copy does not share base URL and HTTP client")
		}

		// The original keeps its own token.
		if _, err := srv.Issue(context.Background(), "acme", "1"); err != nil {
			t.Fatal(err)
		}
		if got := gotAuth.Load(); got != "Bearer "+testToken {
			t.Errorf("original's Authorization = %q", got)
		}
	})

	for name, tok := range map[string]string{
		"Empty":      "",
		"Blank":      "  \t",
		"InnerSpace": "abc def",
		"Newline":    "abc\r\nX-Evil: 1",
		"Control":    "abc\x7f",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := srv.WithToken(tok)
			if err == nil || c != nil {
				t.Fatalf("WithToken(%q) = %v, %v; want an error", tok, c, err)
			}
			if tok != "" && strings.TrimSpace(tok) != "" && strings.Contains(err.Error(), tok) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}
