package sentryfake

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"sentrybot/sentry"
)

func TestMain(m *testing.M) {
	// Close must leave nothing running, or every end-to-end test that uses
	// the fake would inherit its goroutines.
	goleak.VerifyTestMain(m)
}

func newFake(t *testing.T, opts Options) (*Server, *sentry.Client) {
	t.Helper()
	s := New(opts)
	t.Cleanup(s.Close)
	c := newClient(t, s, s.Token())
	return s, c
}

func newClient(t *testing.T, s *Server, token string) *sentry.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := sentry.New(sentry.Config{BaseURL: s.URL(), Token: token, HTTPClient: &http.Client{Transport: tr, Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// get performs a raw request so tests can see status, headers and body.
func get(t *testing.T, s *Server, path, token string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func kindOf(t *testing.T, err error) sentry.Kind {
	t.Helper()
	var e *sentry.Error
	if !errors.As(err, &e) {
		t.Fatalf("want *sentry.Error, got %v", err)
	}
	return e.Kind
}

func TestWhoami(t *testing.T) {
	_, c := newFake(t, Options{})
	auth, err := c.Whoami(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(auth.Scopes, DefaultScopes()) || auth.User == nil || auth.User.Name != "sentrybot" {
		t.Fatalf("auth = %+v", auth)
	}

	_, c = newFake(t, Options{Scopes: []string{"event:read"}})
	auth, err = c.Whoami(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if auth.HasScope("event:write") {
		t.Fatalf("custom scopes ignored: %v", auth.Scopes)
	}
}

func TestAuthentication(t *testing.T) {
	s, _ := newFake(t, Options{Token: "right"})
	s.AddIssue(NewIssue("1", "BACKEND-1", "ValueError: x"))

	resp, body := get(t, s, "/api/0/organizations/acme/issues/1/", "")
	if resp.StatusCode != 401 || !strings.Contains(string(body), "Authentication credentials were not provided.") {
		t.Errorf("no token: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, s, "/api/0/organizations/acme/issues/1/", "wrong")
	if resp.StatusCode != 401 || string(body) != `{"detail":"Invalid token"}` {
		t.Errorf("wrong token: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, s, "/api/0/", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"auth":null`) {
		t.Errorf("anonymous index: %d %s", resp.StatusCode, body)
	}

	_, err := newClient(t, s, "wrong").Issue(context.Background(), "acme", "1")
	if !errors.Is(err, sentry.ErrUnauthorized) {
		t.Errorf("client with wrong token: %v", err)
	}
	_, err = newClient(t, s, "right").Issue(context.Background(), "acme", "1")
	if err != nil {
		t.Errorf("client with right token: %v", err)
	}
}

func TestOrganization(t *testing.T) {
	s, c := newFake(t, Options{Org: "umbrella"})
	org, err := c.Organization(context.Background(), "umbrella")
	if err != nil {
		t.Fatal(err)
	}
	if org.Slug != "umbrella" || org.ID != "1" || org.Name != "Umbrella" || org.Links.OrganizationURL != s.URL() {
		t.Fatalf("org = %+v", org)
	}
	if _, err := c.Organization(context.Background(), "1"); err != nil {
		t.Fatalf("org by id: %v", err)
	}
	if _, err := c.Organization(context.Background(), "acme"); !errors.Is(err, sentry.ErrNotFound) {
		t.Fatalf("other org: %v, want not found", err)
	}
}

func TestIssue(t *testing.T) {
	s, c := newFake(t, Options{})
	s.AddIssue(NewIssue("101", "BACKEND-1A2", "ZeroDivisionError: division by zero"))

	for _, ref := range []string{"101", "BACKEND-1A2", "backend-1a2"} {
		is, err := c.Issue(context.Background(), "acme", ref)
		if err != nil {
			t.Fatalf("Issue(%q): %v", ref, err)
		}
		if is.ID != "101" || is.ShortID != "BACKEND-1A2" {
			t.Fatalf("Issue(%q) = %s %s", ref, is.ID, is.ShortID)
		}
	}
	is, err := c.Issue(context.Background(), "acme", "101")
	if err != nil {
		t.Fatal(err)
	}
	if want := s.URL() + "/organizations/acme/issues/101/"; is.Permalink != want {
		t.Errorf("permalink = %q, want %q", is.Permalink, want)
	}
	if is.Count != "42" || is.UserCount != 7 || is.Level != "error" || is.Project.Slug != "backend" {
		t.Errorf("issue = %+v", is)
	}
	if is.Metadata.Type != "ZeroDivisionError" || is.Metadata.Value != "division by zero" {
		t.Errorf("metadata = %+v", is.Metadata)
	}
	if is.Culprit == nil || is.FirstSeen == nil || is.LastSeen == nil || !is.FirstSeen.Before(*is.LastSeen) {
		t.Errorf("culprit/seen times missing or out of order: %+v", is)
	}
	if len(is.Stats.Day) != 24 {
		t.Fatalf("24h stats has %d points", len(is.Stats.Day))
	}
	var total int64
	for i, p := range is.Stats.Day {
		total += p.Count
		if i > 0 && p.Time-is.Stats.Day[i-1].Time != 3600 {
			t.Fatalf("stats points not hourly at %d", i)
		}
	}
	if total != 42 {
		t.Errorf("stats sum to %d, want the issue's 42 events", total)
	}

	if _, err := c.Issue(context.Background(), "acme", "999"); !errors.Is(err, sentry.ErrNotFound) {
		t.Errorf("unknown issue: %v", err)
	}
	if _, err := c.Issue(context.Background(), "other-org", "101"); !errors.Is(err, sentry.ErrNotFound) {
		t.Errorf("issue in another org: %v", err)
	}
}

func TestAddIssue_Defaults(t *testing.T) {
	s, c := newFake(t, Options{})
	first := s.AddIssue(sentry.Issue{Title: "minimal"})
	second := s.AddIssue(sentry.Issue{Title: "minimal too"})
	if first.ID != "1" || second.ID != "2" {
		t.Fatalf("ids %q %q, want 1 and 2", first.ID, second.ID)
	}
	if first.ShortID != "BACKEND-1" || first.Project.Slug != "backend" {
		t.Fatalf("derived identity: %+v", first)
	}
	is, err := c.Issue(context.Background(), "acme", "backend-2")
	if err != nil {
		t.Fatal(err)
	}
	// Unset strings come from the schema example; nil pointers are null.
	if is.Title != "minimal too" || is.Count != "150" || is.Culprit != nil || is.AssignedTo != nil {
		t.Fatalf("minimal issue = %+v", is)
	}
	replaced := s.AddIssue(sentry.Issue{ID: "1", Title: "replaced"})
	if got, _ := s.Issue("1"); got.Title != "replaced" || replaced.ID != "1" {
		t.Fatalf("AddIssue with an existing id should replace it, got %+v", got)
	}
}

func TestSetIssue(t *testing.T) {
	s, c := newFake(t, Options{})
	s.AddIssue(NewIssue("7", "WEB-7", "TypeError: x is undefined"))
	ok := s.SetIssue("web-7", func(is *sentry.Issue) {
		is.Status = sentry.StatusResolved
		is.Substatus = nil
		is.AssignedTo = &sentry.Assignee{Type: "team", ID: "3", Name: "backend"}
	})
	if !ok {
		t.Fatal("SetIssue did not find the issue by short id")
	}
	if s.SetIssue("nope", func(*sentry.Issue) {}) {
		t.Fatal("SetIssue reported an unknown issue as found")
	}
	is, err := c.Issue(context.Background(), "acme", "7")
	if err != nil {
		t.Fatal(err)
	}
	if is.Status != sentry.StatusResolved || is.Substatus != nil || is.AssignedTo == nil || is.AssignedTo.Type != "team" {
		t.Fatalf("served issue does not reflect SetIssue: %+v", is)
	}
	if got, ok := s.Issue("7"); !ok || got.Status != sentry.StatusResolved {
		t.Fatalf("Issue() = %+v, %v", got, ok)
	}
}

func TestMergeIssue(t *testing.T) {
	s, c := newFake(t, Options{})
	s.AddIssue(NewIssue("1", "API-1", "KeyError: 'user'"))
	s.AddIssue(NewIssue("2", "API-2", "KeyError: 'user'"))
	if !s.MergeIssue("API-1", "2") {
		t.Fatal("merge failed")
	}
	for _, ref := range []string{"1", "api-1"} {
		is, err := c.Issue(context.Background(), "acme", ref)
		if err != nil {
			t.Fatalf("Issue(%q): %v", ref, err)
		}
		if is.ID != "2" {
			t.Fatalf("Issue(%q).ID = %q, want the merged-into 2", ref, is.ID)
		}
	}
	if _, ok := s.Issue("1"); ok {
		t.Fatal("merged-away issue still stored")
	}
}

func TestUnknownPathsAndMethods(t *testing.T) {
	s, _ := newFake(t, Options{})
	resp, body := get(t, s, "/api/0/organizations/acme/nothing-here/", s.Token())
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" || !json.Valid(body) {
		t.Errorf("unknown path: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	req, _ := http.NewRequest(http.MethodDelete, s.URL()+"/api/0/organizations/acme/", nil)
	req.Header.Set("Authorization", "Bearer "+s.Token())
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	r, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 405 || string(b) != `{"detail":"Method \"DELETE\" not allowed."}` {
		t.Errorf("DELETE: %d %s", r.StatusCode, b)
	}
}

func TestFail(t *testing.T) {
	ctx := context.Background()
	s, c := newFake(t, Options{})
	s.AddIssue(NewIssue("5", "BACKEND-5", "OSError: disk full"))
	s.AddIssue(NewIssue("6", "BACKEND-6", "OSError: disk full again"))

	t.Run("CountedByIssueAnyAddress", func(t *testing.T) {
		s.Fail("5", http.StatusNotFound, 2)
		if _, err := c.Issue(ctx, "acme", "BACKEND-5"); !errors.Is(err, sentry.ErrNotFound) {
			t.Fatalf("1st: %v", err)
		}
		if _, err := c.Issue(ctx, "acme", "6"); err != nil {
			t.Fatalf("another issue must not fail: %v", err)
		}
		if _, err := c.Issue(ctx, "acme", "5"); !errors.Is(err, sentry.ErrNotFound) {
			t.Fatalf("2nd: %v", err)
		}
		if _, err := c.Issue(ctx, "acme", "5"); err != nil {
			t.Fatalf("3rd should succeed: %v", err)
		}
	})
	t.Run("Forbidden", func(t *testing.T) {
		s.Fail("/api/0/organizations/", http.StatusForbidden, 1)
		_, err := c.Organization(ctx, "acme")
		var e *sentry.Error
		if !errors.As(err, &e) || e.Kind != sentry.KindForbidden || e.Detail != "You do not have permission to perform this action." {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("ForeverUntilCleared", func(t *testing.T) {
		s.Fail("/api/0/", http.StatusBadGateway, -1)
		for range 3 {
			if _, err := c.Whoami(ctx); kindOf(t, err) != sentry.KindServer {
				t.Fatalf("got %v", err)
			}
		}
		s.ClearFailures()
		if _, err := c.Whoami(ctx); err != nil {
			t.Fatalf("after ClearFailures: %v", err)
		}
	})
	t.Run("RateLimited", func(t *testing.T) {
		s.Fail("BACKEND-6", http.StatusTooManyRequests, 1)
		resp, body := get(t, s, "/api/0/organizations/acme/issues/6/", s.Token())
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "" {
			t.Fatalf("status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		var msg string
		if err := json.Unmarshal(body, &msg); err != nil || !strings.Contains(msg, "too frequently") {
			t.Fatalf("429 body should be a bare JSON string, got %s", body)
		}
		for _, h := range []string{"Limit", "Remaining", "Reset", "ConcurrentLimit", "ConcurrentRemaining"} {
			if resp.Header.Get("X-Sentry-Rate-Limit-"+h) == "" {
				t.Errorf("missing X-Sentry-Rate-Limit-%s", h)
			}
		}
		s.Fail("6", http.StatusTooManyRequests, 1)
		_, err := c.Issue(ctx, "acme", "6")
		var e *sentry.Error
		if !errors.As(err, &e) || e.Kind != sentry.KindRateLimited || e.RetryAt.IsZero() || time.Until(e.RetryAt) > 2*time.Second {
			t.Fatalf("client error %+v", e)
		}
	})
	t.Run("RateLimitedSelfHosted", func(t *testing.T) {
		sh, shc := newFake(t, Options{SelfHosted: true})
		sh.Fail("/api/0/", http.StatusTooManyRequests, 1)
		_, err := shc.Whoami(ctx)
		var e *sentry.Error
		if !errors.As(err, &e) || e.Kind != sentry.KindRateLimited || !e.RetryAt.IsZero() {
			t.Fatalf("self-hosted 429: %+v", e)
		}
	})
	t.Run("Gone", func(t *testing.T) {
		// A fresh client: the one above holds calls back after its 429.
		s.Fail("/api/0/", http.StatusGone, 1)
		_, err := newClient(t, s, s.Token()).Whoami(ctx)
		var e *sentry.Error
		if !errors.As(err, &e) || e.Kind != sentry.KindGone || e.Detail != "This API no longer exists." {
			t.Fatalf("got %v", err)
		}
	})
}

func TestLatency(t *testing.T) {
	s, c := newFake(t, Options{})
	s.AddIssue(NewIssue("1", "BACKEND-1", "boom"))
	s.SetLatency(300 * time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Issue(ctx, "acme", "1"); kindOf(t, err) != sentry.KindTimeout {
		t.Fatalf("got %v, want timeout", err)
	}
	start := time.Now()
	if _, err := c.Issue(context.Background(), "acme", "1"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("answered after %v, want at least the 300ms latency", d)
	}
}

func TestCloseDoesNotWaitForLatency(t *testing.T) {
	s := New(Options{})
	s.SetLatency(time.Hour)
	c := newClient(t, s, s.Token())
	done := make(chan error, 1)
	go func() {
		_, err := c.Whoami(context.Background())
		done <- err
	}()
	for s.Count("", "/api/0/") == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if err := <-done; err == nil {
		t.Fatal("request in flight at Close should fail")
	}
	s.Close() // a second Close is harmless
}

func TestRequests(t *testing.T) {
	s, c := newFake(t, Options{})
	s.AddIssue(NewIssue("1", "BACKEND-1", "boom"))
	c.Issue(context.Background(), "acme", "1")
	c.Issue(context.Background(), "acme", "1")
	c.Organization(context.Background(), "acme")

	reqs := s.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests recorded", len(reqs))
	}
	last := reqs[2]
	if last.Method != http.MethodGet || last.Path != "/api/0/organizations/acme/" || last.Query.Get("detailed") != "0" || last.Time.IsZero() {
		t.Fatalf("last request = %+v", last)
	}
	if n := s.Count(http.MethodGet, "/api/0/organizations/acme/issues/1/"); n != 2 {
		t.Fatalf("Count = %d, want 2", n)
	}
	if n := s.Count(http.MethodPut, "/api/0/organizations/acme/issues/1/"); n != 0 {
		t.Fatalf("Count(PUT) = %d, want 0", n)
	}

	// Bodies are recorded too, for the update endpoints to come.
	req, _ := http.NewRequest(http.MethodPut, s.URL()+"/api/0/organizations/acme/issues/1/", strings.NewReader(`{"status":"resolved"}`))
	req.Header.Set("Authorization", "Bearer "+s.Token())
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	reqs = s.Requests()
	if got := string(reqs[len(reqs)-1].Body); got != `{"status":"resolved"}` {
		t.Fatalf("recorded body %q", got)
	}
}
