// Package sentryfake is an in-process fake of the parts of Sentry's Web API
// that sentrybot uses, served over loopback HTTP. End-to-end tests and the
// offline demo both run against it, so it must not depend on package testing.
//
// Bodies follow Sentry's published OpenAPI description: issue and
// organization bodies start from the description's own examples (embedded
// from examples/) and overlay the fake's state, and a contract test checks
// them against the description's schemas.
package sentryfake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"sentrybot/sentry"
)

// Options configures a fake server.
type Options struct {
	Org        string   // organization slug; default "acme"
	Token      string   // bearer token every request must carry; default "fake-token"
	Scopes     []string // scopes GET /api/0/ reports; default DefaultScopes()
	SelfHosted bool     // answer 429 without X-Sentry-Rate-Limit-* headers, as self-hosted Sentry does
	// PageSize is the page size of the members and teams lists when the
	// request sets no per_page; default 100, as Sentry. Tests of pagination
	// set it small.
	PageSize int
	// User is the user behind the token: what GET /api/0/ reports, what
	// "assigned:me" searches for and who is recorded as the actor of status
	// changes. Default: the proxy user of an internal integration, id "2".
	// Requests with an OAuth access token act as that token's user instead.
	User *sentry.User

	// OAuthClientID and OAuthClientSecret identify the one OAuth
	// application the fake knows (see oauth.go); defaults
	// "fake-oauth-client" and "fake-oauth-secret".
	OAuthClientID     string
	OAuthClientSecret string
	// OAuthRedirectURIs are the redirect URIs registered for the
	// application; authorize accepts only these, compared exactly. Empty
	// accepts any absolute http or https URL.
	OAuthRedirectURIs []string
	// AccessTokenTTL is how long an OAuth access token lives; default 30
	// days, as Sentry.
	AccessTokenTTL time.Duration
}

// DefaultScopes are the scopes of an internal integration set up with
// everything sentrybot reads and writes.
func DefaultScopes() []string {
	return []string{"event:read", "event:write", "member:read", "org:read", "project:read", "team:read"}
}

// Request is one request the fake received.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	// Body is the request body, except for POST /oauth/token/, whose form
	// carries secrets: its Body is nil (see TokenRequests).
	Body []byte
	Time time.Time
	// UserID is the Sentry user id of the OAuth access token the request
	// carried, when that token was live: the request acts as that user.
	// It is "" for the organization token (Options.Token), whose actor is
	// Options.User, and for requests that did not authenticate.
	UserID string
}

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	opts    Options
	orgID   string
	url     string
	httpSrv *http.Server
	mux     *http.ServeMux
	closing chan struct{}

	putSchema []byte          // the PUT issue request schema of Sentry's description
	user      sentry.User     // Options.User or the default
	groupKeys map[string]bool // the fields of Sentry's base issue serializer

	mu       sync.Mutex
	issues   map[string]*sentry.Issue // by id
	order    []string                 // ids in insertion order, for listings
	merged   map[string]string        // merged-away id -> id it was merged into
	releases map[string][]string      // project slug -> release versions, oldest first
	members  []sentry.Member
	teams    []sentry.Team
	failures []*failure
	latency  time.Duration
	requests []Request
	closed   bool
	oauth    oauthState
}

// failure is one rule installed by Fail.
type failure struct {
	target    string // a path prefix ("/api/0/...") or an issue id / short id
	status    int
	remaining int // <0: forever
}

// maxRecordedBody bounds what the fake keeps of each request body.
const maxRecordedBody = 1 << 20

// New starts a fake on 127.0.0.1 with a random port. It panics if it cannot
// listen, like net/http/httptest.NewServer; call Close when done.
func New(opts Options) *Server {
	if opts.Org == "" {
		opts.Org = "acme"
	}
	if opts.Token == "" {
		opts.Token = "fake-token"
	}
	if opts.Scopes == nil {
		opts.Scopes = DefaultScopes()
	}
	if opts.PageSize <= 0 || opts.PageSize > maxPerPage {
		opts.PageSize = maxPerPage
	}
	if opts.OAuthClientID == "" {
		opts.OAuthClientID = "fake-oauth-client"
	}
	if opts.OAuthClientSecret == "" {
		opts.OAuthClientSecret = "fake-oauth-secret"
	}
	if opts.AccessTokenTTL <= 0 {
		opts.AccessTokenTTL = defaultAccessTokenTTL
	}
	user := sentry.User{ID: "2", Name: "sentrybot", Username: "sentrybot-7d1f3a52c0e94bd1a4c3c1f0e2b6d8a9"}
	if opts.User != nil {
		user = *opts.User
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("sentryfake: listen on loopback: %v", err))
	}
	s := &Server{
		opts:    opts,
		orgID:   "1",
		url:     "http://" + ln.Addr().String(),
		mux:     http.NewServeMux(),
		closing: make(chan struct{}),
		issues:  map[string]*sentry.Issue{},
		merged:  map[string]string{},

		putSchema: subsetSchema(putIssueRequestKey),
		user:      user,
		groupKeys: groupKeys(),
		releases:  map[string][]string{},
		oauth:     newOAuthState(),
	}
	s.routes()
	s.httpSrv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.httpSrv.Serve(ln)
	return s
}

// routes maps Sentry's paths to handlers. A new endpoint is one line here
// plus one handler; another method on an existing path is one more entry in
// its methods map.
func (s *Server) routes() {
	s.mux.Handle("/api/0/{$}", methods{http.MethodGet: s.whoami})
	s.mux.Handle("/api/0/organizations/{org}/{$}", methods{http.MethodGet: s.inOrg(s.getOrganization)})
	s.mux.Handle("/api/0/organizations/{org}/issues/{$}", methods{http.MethodGet: s.inOrg(s.listIssues)})
	s.mux.Handle("/api/0/organizations/{org}/issues/{issue}/{$}", methods{
		http.MethodGet: s.inOrg(s.getIssue),
		http.MethodPut: s.inOrg(s.updateIssue),
	})
	s.mux.Handle("/api/0/organizations/{org}/shortids/{issue}/{$}", methods{http.MethodGet: s.inOrg(s.getShortID)})
	s.mux.Handle("/api/0/organizations/{org}/members/{$}", methods{http.MethodGet: s.inOrg(s.listMembers)})
	s.mux.Handle("/api/0/organizations/{org}/members/{member_id}/{$}", methods{http.MethodGet: s.inOrg(s.getMember)})
	s.mux.Handle("/api/0/organizations/{org}/teams/{$}", methods{http.MethodGet: s.inOrg(s.listTeams)})
	s.mux.Handle(authorizePath+"{$}", methods{http.MethodGet: s.authorize})
	s.mux.Handle(tokenPath+"{$}", methods{http.MethodPost: s.token})
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeNotFound(w) })
}

// methods dispatches on the request method and answers others as Django
// REST framework does.
type methods map[string]http.HandlerFunc

func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, ok := m[r.Method]
	if !ok {
		writeJSON(w, http.StatusMethodNotAllowed, detail(fmt.Sprintf("Method %q not allowed.", r.Method)))
		return
	}
	h(w, r)
}

// inOrg answers 404 for any organization but the fake's own. Real Sentry
// answers 404 for a slug that does not exist and 403 for an organization
// that exists but the token cannot see; the fake knows only one
// organization, so every other slug "does not exist". Tests that need the
// 403 install it with Fail.
func (s *Server) inOrg(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if org := r.PathValue("org"); org != s.opts.Org && org != s.orgID {
			writeNotFound(w)
			return
		}
		h(w, r)
	}
}

// URL is the base URL to configure the client with, e.g. http://127.0.0.1:41234.
func (s *Server) URL() string { return s.url }

// Org is the organization slug the fake serves.
func (s *Server) Org() string { return s.opts.Org }

// Token is the bearer token the fake accepts.
func (s *Server) Token() string { return s.opts.Token }

// Close stops the server and waits for requests in flight, including ones
// sleeping in SetLatency, to finish.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	close(s.closing)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.httpSrv.Shutdown(ctx); err != nil {
		s.httpSrv.Close()
	}
}

// ServeHTTP records the request, applies latency, injected failures and
// authentication, then routes it. The OAuth endpoints under /oauth/ take no
// bearer token: they authenticate the client themselves.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxRecordedBody))
	r.Body = io.NopCloser(bytes.NewReader(body))
	auth := r.Header.Get("Authorization")
	oauthEndpoint := strings.HasPrefix(r.URL.Path, "/oauth/")

	rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: body, Time: time.Now()}
	if strings.HasPrefix(r.URL.Path, tokenPath) {
		rec.Body = nil
	}
	s.mu.Lock()
	var who caller
	var authErr string
	if !oauthEndpoint {
		who, authErr = s.authenticate(auth)
		rec.UserID = who.userID
	}
	s.requests = append(s.requests, rec)
	latency := s.latency
	s.mu.Unlock()

	if latency > 0 {
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return // the client gave up; nobody reads an answer
		case <-s.closing:
			return
		}
	}
	if status, ok := s.injectedFailure(r); ok {
		s.writeFailure(w, status)
		return
	}
	if oauthEndpoint {
		s.mux.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case auth == "" && r.URL.Path == "/api/0/":
		// The index admits anonymous callers and says so.
		writeJSON(w, http.StatusOK, map[string]any{"version": "0", "auth": nil, "user": nil})
		return
	case auth == "":
		writeJSON(w, http.StatusUnauthorized, detail("Authentication credentials were not provided."))
		return
	case authErr != "":
		writeJSON(w, http.StatusUnauthorized, detail(authErr))
		return
	}
	s.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, who)))
}

// Fail makes the next n requests matching target answer status, with the
// body Sentry sends for that status; n < 0 means until ClearFailures.
// target is either a path prefix starting with "/" (e.g. "/api/0/" for
// everything) or an issue id or short id, which matches every request about
// that issue however it is addressed. Rules are consulted in the order they
// were added.
func (s *Server) Fail(target string, status, n int) {
	if n == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, &failure{target: target, status: status, remaining: n})
}

// ClearFailures removes every rule installed by Fail.
func (s *Server) ClearFailures() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = nil
}

func (s *Server) injectedFailure(r *http.Request) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.failures {
		if !s.matches(f.target, r.URL.Path) {
			continue
		}
		if f.remaining > 0 {
			f.remaining--
			if f.remaining == 0 {
				s.failures = append(s.failures[:i:i], s.failures[i+1:]...)
			}
		}
		return f.status, true
	}
	return 0, false
}

// matches reports whether path is covered by target; s.mu must be held.
func (s *Server) matches(target, path string) bool {
	if strings.HasPrefix(target, "/") {
		return strings.HasPrefix(path, target)
	}
	ref, ok := issueRef(path)
	return ok && s.canonicalID(ref) == s.canonicalID(target)
}

// issueRef extracts the issue id or short id from an org-scoped issue path
// (and its sub-resources) or a short-id lookup path.
func issueRef(path string) (string, bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	// api 0 organizations {org} issues|shortids {ref} ...
	if len(parts) >= 6 && parts[0] == "api" && parts[1] == "0" && parts[2] == "organizations" &&
		(parts[4] == "issues" || parts[4] == "shortids") {
		return parts[5], true
	}
	return "", false
}

func (s *Server) writeFailure(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	switch status {
	case http.StatusBadRequest:
		writeJSON(w, status, detail("Invalid request"))
	case http.StatusUnauthorized:
		writeJSON(w, status, detail("Invalid token"))
	case http.StatusForbidden:
		writeJSON(w, status, detail("You do not have permission to perform this action."))
	case http.StatusNotFound:
		writeNotFound(w)
	case http.StatusGone:
		// What Sentry's deprecation brownouts answer.
		w.Header().Set("X-Sentry-Deprecation-Date", "2024-01-01T00:00:00Z")
		writeJSON(w, status, map[string]string{"message": "This API no longer exists."})
	case http.StatusTooManyRequests:
		// Sentry sends no Retry-After: the reset time is in its own headers,
		// and the body is a bare JSON string.
		const limit, window = 5, 1
		if !s.opts.SelfHosted {
			reset := time.Now().Add(window * time.Second).Unix()
			h := w.Header()
			h.Set("X-Sentry-Rate-Limit-Limit", strconv.Itoa(limit))
			h.Set("X-Sentry-Rate-Limit-Remaining", "0")
			h.Set("X-Sentry-Rate-Limit-Reset", strconv.FormatInt(reset, 10))
			h.Set("X-Sentry-Rate-Limit-ConcurrentLimit", "25")
			h.Set("X-Sentry-Rate-Limit-ConcurrentRemaining", "24")
		}
		writeJSON(w, status, fmt.Sprintf("You are attempting to use this endpoint too frequently. Limit is %d requests in %d seconds", limit, window))
	default:
		if status >= 500 {
			// Gateways in front of Sentry answer with HTML, not JSON.
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>\n", status, http.StatusText(status))
			return
		}
		writeJSON(w, status, detail(http.StatusText(status)))
	}
}

// SetLatency delays every later response by d. A request whose client gives
// up first gets no answer.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Requests returns a copy of every request received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}

// Count reports how many requests had the given method and path; an empty
// method counts every method.
func (s *Server) Count(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Path == path && (method == "" || r.Method == method) {
			n++
		}
	}
	return n
}

func detail(msg string) map[string]string { return map[string]string{"detail": msg} }

func writeNotFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, detail("The requested resource does not exist"))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"detail":"Internal Error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
