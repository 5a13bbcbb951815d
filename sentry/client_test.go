package sentry

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// testToken looks like a real org token so a leak would be obvious.
const testToken = "sntrys_eyJpYXQiOjE3MDAwMDAwMDB9_SECRETSECRET"

func newTestClient(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL + "/", Token: testToken, UserAgent: "sentrybot/test"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func exampleIssue(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/issue-retrieve.openapi-example.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *sentry.Error, got %T: %v", err, err)
	}
	if strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), "SECRETSECRET") {
		t.Fatalf("token leaked into error: %v", err)
	}
	return e
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"OK", Config{BaseURL: "https://sentry.io", Token: "t"}, true},
		{"TrailingSlashAndPrefix", Config{BaseURL: "http://127.0.0.1:9000/sentry/", Token: "t"}, true},
		{"EmptyToken", Config{BaseURL: "https://sentry.io", Token: "  "}, false},
		{"TokenWithNewline", Config{BaseURL: "https://sentry.io", Token: "abc\r\nX-Evil: 1"}, false},
		{"Relative", Config{BaseURL: "sentry.io", Token: "t"}, false},
		{"NoHost", Config{BaseURL: "https://", Token: "t"}, false},
		{"FTP", Config{BaseURL: "ftp://sentry.io", Token: "t"}, false},
		{"Credentials", Config{BaseURL: "https://user:pw@sentry.io", Token: "t"}, false},
		{"Query", Config{BaseURL: "https://sentry.io/?x=1", Token: "t"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.ok != (err == nil) {
				t.Fatalf("New(%+v) error = %v, want ok=%v", tt.cfg, err, tt.ok)
			}
			if err != nil {
				if strings.Contains(err.Error(), "pw") || (tt.cfg.Token != "t" && tt.cfg.Token != "  " && strings.Contains(err.Error(), tt.cfg.Token)) {
					t.Fatalf("secret in error: %v", err)
				}
				return
			}
			if c.userAgent != "sentrybot" {
				t.Fatalf("default user agent = %q", c.userAgent)
			}
			if c.http.Timeout != 10*time.Second {
				t.Fatalf("default timeout = %v", c.http.Timeout)
			}
		})
	}
}

func TestNew_KeepsCallerClient(t *testing.T) {
	hc := &http.Client{Timeout: 3 * time.Second}
	c, err := New(Config{BaseURL: "https://sentry.io", Token: "t", HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	if c.http.Timeout != 3*time.Second {
		t.Fatalf("timeout = %v, want the caller's 3s", c.http.Timeout)
	}
	if hc.CheckRedirect != nil {
		t.Fatal("New modified the caller's http.Client")
	}
}

func TestIssue_DecodesExample(t *testing.T) {
	body := exampleIssue(t)
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	is, err := c.Issue(context.Background(), "the-interstellar-jurisdiction", "1")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"ID", is.ID, "1"},
		{"ShortID", is.ShortID, "PUMP-STATION-1"},
		{"Title", is.Title, "This is an example Python exception"},
		{"Culprit", deref(is.Culprit), "raven.scripts.runner in main"},
		{"Level", is.Level, "error"},
		{"Status", is.Status, StatusUnresolved},
		{"Substatus", deref(is.Substatus), SubstatusOngoing},
		{"Priority", deref(is.Priority), "medium"},
		{"Platform", deref(is.Platform), "python"},
		{"Project", is.Project, Project{ID: "2", Name: "Pump Station", Slug: "pump-station", Platform: "python"}},
		{"Count", is.Count, "150"},
		{"UserCount", is.UserCount, 12},
		{"AssignedTo", *is.AssignedTo, Assignee{Type: "user", ID: "1", Name: "John Doe", Email: "john.doe@example.com"}},
		{"FirstSeen", is.FirstSeen.UTC(), time.Date(2018, 11, 6, 21, 19, 55, 0, time.UTC)},
		{"LastSeen", is.LastSeen.UTC(), time.Date(2018, 12, 6, 21, 19, 55, 0, time.UTC)},
		{"FirstRelease", is.FirstRelease.ShortVersion, "1764232"},
		{"LastRelease", is.LastRelease == nil, true},
		{"Stats24h", is.Stats.Day, []StatPoint{{1541451600, 557}, {1541455200, 473}}},
		{"Stats30d", len(is.Stats.Month), 2},
		{"Metadata", is.Metadata.Title, "This is an example Python exception"},
		{"Permalink", is.Permalink, "https://sentry.io/the-interstellar-jurisdiction/pump-station/issues/1/"},
		{"StatusDetails", string(is.StatusDetails), "{}"},
	}
	for _, ch := range checks {
		gotJSON, _ := json.Marshal(ch.got)
		wantJSON, _ := json.Marshal(ch.want)
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("%s = %s, want %s", ch.name, gotJSON, wantJSON)
		}
	}
}

func TestIssue_NullableFields(t *testing.T) {
	var m map[string]any
	if err := json.Unmarshal(exampleIssue(t), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"culprit", "assignedTo", "substatus", "priority", "platform", "firstSeen", "firstRelease"} {
		m[k] = nil
	}
	body, _ := json.Marshal(m)
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	is, err := c.Issue(context.Background(), "acme", "1")
	if err != nil {
		t.Fatal(err)
	}
	if is.Culprit != nil || is.AssignedTo != nil || is.Substatus != nil || is.Priority != nil ||
		is.Platform != nil || is.FirstSeen != nil || is.FirstRelease != nil {
		t.Fatalf("null fields should decode to nil pointers: %+v", is)
	}
	if is.Count != "150" || is.UserCount != 12 {
		t.Fatalf("other fields lost: count %q userCount %d", is.Count, is.UserCount)
	}
}

func TestIssue_Request(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		w.Write(exampleIssue(t))
	}))
	defer srv.Close()
	// A self-hosted Sentry under a path prefix, configured with a trailing slash.
	c, err := New(Config{BaseURL: srv.URL + "/sentry/", Token: testToken, UserAgent: "sentrybot/1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Issue(context.Background(), "acme", "BACKEND-1A2"); err != nil {
		t.Fatal(err)
	}
	if got.Method != http.MethodGet {
		t.Errorf("method = %s", got.Method)
	}
	if want := "/sentry/api/0/organizations/acme/issues/BACKEND-1A2/"; got.URL.Path != want {
		t.Errorf("path = %q, want %q", got.URL.Path, want)
	}
	if h := got.Header.Get("Authorization"); h != "Bearer "+testToken {
		t.Errorf("Authorization = %q", h)
	}
	if h := got.Header.Get("User-Agent"); h != "sentrybot/1.2.3" {
		t.Errorf("User-Agent = %q", h)
	}
	if h := got.Header.Get("Accept"); h != "application/json" {
		t.Errorf("Accept = %q", h)
	}
}

func TestIssue_RejectsBadIdentifiers(t *testing.T) {
	var calls atomic.Int32
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { calls.Add(1) })
	for _, id := range []string{"", "..", "1/../../users", "1?x=y", "ABC DEF"} {
		_, err := c.Issue(context.Background(), "acme", id)
		if e := asError(t, err); e.Kind != KindInvalid {
			t.Errorf("Issue(%q) kind = %v, want invalid", id, e.Kind)
		}
	}
	if _, err := c.Issue(context.Background(), "ac/me", "1"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad org slug: err = %v", err)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d requests sent for invalid identifiers", n)
	}
}

func TestIssue_MergedIssueRedirects(t *testing.T) {
	// Sentry answers a merged issue's old id with a redirect to the issue it
	// was merged into; the client follows it and returns the new id.
	var m map[string]any
	if err := json.Unmarshal(exampleIssue(t), &m); err != nil {
		t.Fatal(err)
	}
	m["id"] = "2"
	merged, _ := json.Marshal(m)
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/api/0/organizations/acme/issues/1/":
			http.Redirect(w, r, "/api/0/organizations/acme/issues/2/", http.StatusFound)
		case "/api/0/organizations/acme/issues/2/":
			w.Write(merged)
		default:
			http.NotFound(w, r)
		}
	})
	is, err := c.Issue(context.Background(), "acme", "1")
	if err != nil {
		t.Fatal(err)
	}
	if is.ID != "2" {
		t.Fatalf("ID = %q, want the merged-into issue 2", is.ID)
	}
}

func TestDo_DoesNotFollowRedirectForPUT(t *testing.T) {
	var gets atomic.Int32
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			http.Redirect(w, r, "/api/0/organizations/acme/issues/2/", http.StatusFound)
			return
		}
		gets.Add(1)
		w.Write([]byte(`{}`))
	})
	_, err := c.do(context.Background(), "update issue", http.MethodPut, "/api/0/organizations/acme/issues/1/", nil, map[string]string{"status": "resolved"}, nil)
	e := asError(t, err)
	if e.Kind != KindBadResponse || e.StatusCode != http.StatusFound || !strings.Contains(e.Detail, "/issues/2/") {
		t.Fatalf("got %+v, want an unexpected-redirect bad response", e)
	}
	if gets.Load() != 0 {
		t.Fatal("a redirected PUT was replayed as GET")
	}
}

func TestDo_SendsJSONBody(t *testing.T) {
	var body map[string]string
	var ctype string
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		ctype = r.Header.Get("Content-Type")
		json.NewDecoder(r.Body).Decode(&body)
		w.WriteHeader(http.StatusNoContent)
	})
	var out map[string]any
	if _, err := c.do(context.Background(), "update issue", http.MethodPut, "/api/0/x/", nil, map[string]string{"status": "resolved"}, &out); err != nil {
		t.Fatal(err)
	}
	if ctype != "application/json" || body["status"] != "resolved" {
		t.Fatalf("content type %q, body %v", ctype, body)
	}
	if out != nil {
		t.Fatalf("204 should leave out untouched, got %v", out)
	}
}

func TestErrors_Status(t *testing.T) {
	now := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		status  int
		header  map[string]string
		body    string
		kind    Kind
		is      error
		detail  string
		retryAt time.Time
	}{
		{"Unauthorized", 401, nil, `{"detail": "Invalid token"}`, KindUnauthorized, ErrUnauthorized, "Invalid token", time.Time{}},
		{"Forbidden", 403, nil, `{"detail": "You do not have permission to perform this action."}`, KindForbidden, ErrForbidden, "You do not have permission to perform this action.", time.Time{}},
		{"NotFound", 404, nil, `{"detail": "The requested resource does not exist"}`, KindNotFound, ErrNotFound, "The requested resource does not exist", time.Time{}},
		{"Gone", 410, map[string]string{"X-Sentry-Deprecation-Date": "2026-01-01"}, `{"message": "This API no longer exists."}`, KindGone, ErrGone, "This API no longer exists.", time.Time{}},
		{"RateLimitedWithReset", 429, map[string]string{
			"X-Sentry-Rate-Limit-Reset": "1785585605", "X-Sentry-Rate-Limit-Limit": "5", "X-Sentry-Rate-Limit-Remaining": "0",
		}, `"You are attempting to use this endpoint too frequently. Limit is 5 requests in 1 seconds"`,
			KindRateLimited, ErrRateLimited, "You are attempting to use this endpoint too frequently. Limit is 5 requests in 1 seconds", time.Unix(1785585605, 0)},
		{"RateLimitedSelfHosted", 429, nil, `"Rate limit exceeded"`, KindRateLimited, ErrRateLimited, "Rate limit exceeded", time.Time{}},
		{"RateLimitedRetryAfter", 429, map[string]string{"Retry-After": "7"}, ``, KindRateLimited, ErrRateLimited, "", now.Add(7 * time.Second)},
		{"Server", 500, nil, `<html><body>Internal Server Error</body></html>`, KindServer, ErrServer, "", time.Time{}},
		{"BadGateway", 502, nil, ``, KindServer, ErrServer, "", time.Time{}},
		{"InvalidDetail", 400, nil, `{"detail": "No release data present in the system to form a basis for 'Next Release'"}`, KindInvalid, ErrInvalid, "No release data present in the system to form a basis for 'Next Release'", time.Time{}},
		{"InvalidSerializer", 400, nil, `{"statusDetails": ["Invalid release"], "non_field_errors": ["Bad input"]}`, KindInvalid, ErrInvalid, "Bad input; statusDetails: Invalid release", time.Time{}},
		{"DetailObject", 401, nil, `{"detail": {"code": "sso-required", "message": "Must login via SSO"}}`, KindUnauthorized, ErrUnauthorized, "Must login via SSO", time.Time{}},
		{"Conflict", 409, nil, `{"detail": "Conflict"}`, KindInvalid, ErrInvalid, "Conflict", time.Time{}},
		{"TokenEchoed", 401, nil, `{"detail": "Invalid token Bearer ` + testToken + `"}`, KindUnauthorized, ErrUnauthorized, "Invalid token Bearer [redacted]", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c, err := New(Config{BaseURL: srv.URL, Token: testToken, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Issue(context.Background(), "acme", "1")
			e := asError(t, err)
			if e.Kind != tt.kind || e.StatusCode != tt.status || e.Op != "get issue" {
				t.Errorf("kind %v status %d op %q, want %v %d", e.Kind, e.StatusCode, e.Op, tt.kind, tt.status)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(err, %v) = false", tt.is)
			}
			if tt.is != ErrNotFound && errors.Is(err, ErrNotFound) {
				t.Errorf("errors.Is matched the wrong sentinel")
			}
			if e.Detail != tt.detail {
				t.Errorf("detail = %q, want %q", e.Detail, tt.detail)
			}
			if !e.RetryAt.Equal(tt.retryAt) {
				t.Errorf("RetryAt = %v, want %v", e.RetryAt, tt.retryAt)
			}
			if tt.detail != "" && !strings.Contains(err.Error(), tt.detail) {
				t.Errorf("error string %q lacks the detail", err.Error())
			}
		})
	}
}

func TestErrors_BadResponses(t *testing.T) {
	tests := []struct {
		name string
		h    http.HandlerFunc
	}{
		{"NotJSON", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>login</html>")) }},
		{"WrongShape", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"id": 1, "count": 150}`)) }},
		{"NoID", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{}`)) }},
		{"TooLarge", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"title": "`))
			chunk := []byte(strings.Repeat("x", 64<<10))
			for range (maxBodyBytes / len(chunk)) + 1 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			w.Write([]byte(`"}`))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, tt.h)
			_, err := c.Issue(context.Background(), "acme", "1")
			e := asError(t, err)
			if e.Kind != KindBadResponse || !errors.Is(err, ErrBadResponse) {
				t.Fatalf("got %v, want bad response", err)
			}
		})
	}
}

func TestErrors_Timeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)

	t.Run("ClientTimeout", func(t *testing.T) {
		c, err := New(Config{BaseURL: srv.URL, Token: testToken, HTTPClient: &http.Client{Timeout: 50 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Issue(context.Background(), "acme", "1")
		if e := asError(t, err); e.Kind != KindTimeout || e.StatusCode != 0 || !errors.Is(err, ErrTimeout) {
			t.Fatalf("got %v (kind %v), want timeout", err, e.Kind)
		}
	})
	t.Run("ContextDeadline", func(t *testing.T) {
		c, err := New(Config{BaseURL: srv.URL, Token: testToken})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err = c.Whoami(ctx)
		if e := asError(t, err); e.Kind != KindTimeout || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v (kind %v), want timeout wrapping the deadline", err, e.Kind)
		}
	})
	t.Run("Canceled", func(t *testing.T) {
		c, err := New(Config{BaseURL: srv.URL, Token: testToken})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		_, err = c.Organization(ctx, "acme")
		if e := asError(t, err); e.Kind != KindCanceled || !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v (kind %v), want canceled", err, e.Kind)
		}
	})
}

func TestErrors_Unreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	c, err := New(Config{BaseURL: "http://" + addr, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Issue(context.Background(), "acme", "1")
	if e := asError(t, err); e.Kind != KindUnreachable || e.StatusCode != 0 || !errors.Is(err, ErrUnreachable) {
		t.Fatalf("got %v, want unreachable", err)
	}
}

func TestWhoami(t *testing.T) {
	var path string
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		w.Write([]byte(`{"version": "0", "auth": {"scopes": ["event:read", "event:write", "org:read"]},
			"user": {"id": "5", "name": "sentrybot", "username": "sentrybot-abc", "email": "bot@example.com", "isActive": true}}`))
	})
	auth, err := c.Whoami(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if path != "/api/0/" {
		t.Errorf("path = %q", path)
	}
	if !auth.HasScope("event:write") || auth.HasScope("member:read") || len(auth.Scopes) != 3 {
		t.Errorf("scopes = %v", auth.Scopes)
	}
	if auth.User == nil || *auth.User != (User{ID: "5", Name: "sentrybot", Email: "bot@example.com", Username: "sentrybot-abc"}) {
		t.Errorf("user = %+v", auth.User)
	}
}

func TestWhoami_Anonymous(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"version": "0", "auth": null, "user": null}`))
	})
	_, err := c.Whoami(context.Background())
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v, want unauthorized", err)
	}
}

func TestOrganization(t *testing.T) {
	var query string
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/0/organizations/the-interstellar-jurisdiction/" {
			http.NotFound(w, r)
			return
		}
		query = r.URL.RawQuery
		// The schema's "Retrieve an organization" example.
		w.Write([]byte(`{"avatar": {"avatarType": "letter_avatar", "avatarUuid": null},
			"dateCreated": "2018-11-06T21:19:55.101Z", "hasAuthProvider": false, "id": "2",
			"isEarlyAdopter": false, "allowMemberInvite": true, "allowMemberProjectCreation": true,
			"allowSuperuserAccess": false,
			"links": {"organizationUrl": "https://the-interstellar-jurisdiction.sentry.io", "regionUrl": "https://us.sentry.io"},
			"name": "The Interstellar Jurisdiction", "require2FA": false, "slug": "the-interstellar-jurisdiction",
			"status": {"id": "active", "name": "active"}}`))
	})
	org, err := c.Organization(context.Background(), "the-interstellar-jurisdiction")
	if err != nil {
		t.Fatal(err)
	}
	want := Organization{ID: "2", Slug: "the-interstellar-jurisdiction", Name: "The Interstellar Jurisdiction",
		Links: OrganizationLinks{OrganizationURL: "https://the-interstellar-jurisdiction.sentry.io", RegionURL: "https://us.sentry.io"}}
	if *org != want {
		t.Fatalf("org = %+v, want %+v", *org, want)
	}
	if query != "detailed=0" {
		t.Fatalf("query = %q, want detailed=0", query)
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Op: "get issue", StatusCode: 429, Kind: KindRateLimited, RetryAt: time.Unix(1785585605, 0), Detail: "slow down"}
	want := "sentry: get issue: rate limited (429), retry at 2026-08-01T12:00:05Z: slow down"
	if e.Error() != want {
		t.Fatalf("Error() = %q, want %q", e.Error(), want)
	}
	cause := errors.New("dial tcp: connection refused")
	e = &Error{Op: "whoami", Kind: KindUnreachable, Err: cause}
	if e.Error() != "sentry: whoami: unreachable: dial tcp: connection refused" || !errors.Is(e, cause) {
		t.Fatalf("Error() = %q", e.Error())
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func BenchmarkIssueDecode(b *testing.B) {
	body := exampleIssue(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var is Issue
		if err := json.Unmarshal(body, &is); err != nil {
			b.Fatal(err)
		}
	}
}

func TestObserve(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/issues/404/") {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"detail":"The requested resource does not exist"}`))
			return
		}
		w.Write(exampleIssue(t))
	}))
	defer srv.Close()
	type call struct {
		op     string
		status int
	}
	var calls []call
	c, err := New(Config{BaseURL: srv.URL, Token: testToken, Observe: func(op string, status int, took time.Duration) {
		if took <= 0 {
			t.Errorf("took = %v", took)
		}
		calls = append(calls, call{op, status})
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Issue(context.Background(), "acme", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Issue(context.Background(), "acme", "404"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	if len(calls) != 2 || calls[0] != (call{"get issue", 200}) || calls[1] != (call{"get issue", 404}) {
		t.Fatalf("observed %+v", calls)
	}
}
