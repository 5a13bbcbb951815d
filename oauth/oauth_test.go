package oauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"sentrybot/authz"
	"sentrybot/internal/testkit"
	"sentrybot/secrets"
	"sentrybot/sentry"
	"sentrybot/store"
)

var subj = authz.Subject{TeamID: "T1", UserID: "U1", ChannelID: "C1"}

const org = "acme"

// fakeMembers answers Members from a list, recording the queries.
type fakeMembers struct {
	mu      sync.Mutex
	list    []sentry.Member
	err     error
	queries []string
}

var _ Members = (*fakeMembers)(nil)

func (m *fakeMembers) Members(_ context.Context, o, query string) ([]sentry.Member, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.queries = append(m.queries, o+" "+query)
	return m.list, m.err
}

func (m *fakeMembers) set(list []sentry.Member, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.list, m.err = list, err
}

func (m *fakeMembers) seen() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.queries...)
}

// storeLinker links through the store, as authz.Authorizer does.
type storeLinker struct {
	db    *store.DB
	mu    sync.Mutex
	calls []authz.Subject
}

var _ Linker = (*storeLinker)(nil)

func (l *storeLinker) Link(ctx context.Context, s authz.Subject, id store.Identity) error {
	l.mu.Lock()
	l.calls = append(l.calls, s)
	l.mu.Unlock()
	return l.db.LinkIdentity(ctx, id)
}

func (l *storeLinker) subjects() []authz.Subject {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]authz.Subject(nil), l.calls...)
}

// fakeNotifier records the messages.
type fakeNotifier struct {
	mu    sync.Mutex
	sent  []string
	panic bool
}

var _ Notifier = (*fakeNotifier)(nil)

func (n *fakeNotifier) Notify(_ context.Context, teamID, userID, text string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.panic {
		panic("notifier broke")
	}
	n.sent = append(n.sent, teamID+"/"+userID+": "+text)
	return nil
}

func (n *fakeNotifier) messages() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.sent...)
}

type env struct {
	t       *testing.T
	svc     *Service
	db      *store.DB
	sentry  *fakeSentry
	pub     *httptest.Server
	clock   *testkit.Clock
	members *fakeMembers
	linker  *storeLinker
	notify  *fakeNotifier
	logs    *testkit.LogBuffer
	browser *http.Client

	mu     sync.Mutex
	values []string // grants and states handed out, for the leak checks
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, clock: testkit.NewClock(time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)), logs: &testkit.LogBuffer{}, notify: &fakeNotifier{}}
	var err error
	e.db, err = store.Open(context.Background(), filepath.Join(t.TempDir(), "sentrybot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	e.db.Now = e.clock.Now
	e.sentry = newFakeSentry(t, e.clock.Now)
	e.members = &fakeMembers{list: []sentry.Member{
		{ID: "m-7", Email: "alice@example.com", Role: "member", User: &sentry.User{ID: "42", Email: "alice@example.com"}},
	}}
	e.linker = &storeLinker{db: e.db}

	mux := http.NewServeMux()
	e.pub = httptest.NewServer(mux)
	t.Cleanup(e.pub.Close)

	var key [32]byte
	copy(key[:], "0123456789abcdef0123456789abcdef")
	box, err := secrets.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(e.logs).Level(zerolog.DebugLevel)
	e.svc, err = New(Config{
		SentryURL: e.sentry.srv.URL + "/", PublicURL: e.pub.URL,
		ClientID: e.sentry.clientID, ClientSecret: e.sentry.clientSecret, Org: org,
		Now: e.clock.Now,
	}, e.db, box, e.members, e.linker, e.notify, log)
	if err != nil {
		t.Fatal(err)
	}
	for pattern, h := range e.svc.Routes() {
		mux.Handle(pattern, h)
	}
	e.browser = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(e.checkNoLeaks)
	return e
}

// checkNoLeaks fails the test when any secret value appears in the logs.
func (e *env) checkNoLeaks() {
	logs := e.logs.String()
	e.mu.Lock()
	values := append(e.sentry.allSecrets(), e.values...)
	e.mu.Unlock()
	for _, v := range values {
		if v != "" && strings.Contains(logs, v) {
			e.t.Errorf("log output contains a secret value %.8s…", v)
		}
	}
}

func (e *env) remember(vs ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.values = append(e.values, vs...)
}

type answer struct {
	status   int
	location string
	header   http.Header
	body     string
}

func (e *env) get(rawURL string) answer {
	e.t.Helper()
	resp, err := e.browser.Get(rawURL)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, location: resp.Header.Get("Location"), header: resp.Header, body: string(b)}
}

// startURL makes a grant for subj.
func (e *env) startURL() string {
	e.t.Helper()
	u, err := e.svc.StartURL(context.Background(), subj)
	if err != nil {
		e.t.Fatal(err)
	}
	e.remember(mustQuery(e.t, u).Get("grant"))
	return u
}

// start visits the start URL and returns the authorize URL it redirects to.
func (e *env) start(startURL string) string {
	e.t.Helper()
	a := e.get(startURL)
	if a.status != http.StatusFound {
		e.t.Fatalf("start: %d %s", a.status, a.body)
	}
	e.remember(mustQuery(e.t, a.location).Get("state"))
	return a.location
}

// authorize lets the fake Sentry answer the authorize URL and returns the
// callback URL it sends the browser back to.
func (e *env) authorize(authorizeURL string) string {
	e.t.Helper()
	a := e.get(authorizeURL)
	if a.status != http.StatusFound || !strings.HasPrefix(a.location, e.pub.URL+"/oauth/callback?") {
		e.t.Fatalf("authorize: %d to %q", a.status, a.location)
	}
	return a.location
}

// signIn runs the whole flow and returns the callback's answer.
func (e *env) signIn() answer {
	e.t.Helper()
	return e.get(e.authorize(e.start(e.startURL())))
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// assertNothingStored checks that no tokens and no identity exist for subj.
func (e *env) assertNothingStored() {
	e.t.Helper()
	ctx := context.Background()
	if st, err := e.svc.Status(ctx, subj.TeamID, subj.UserID); err != nil || st.Linked {
		e.t.Errorf("status = %+v, %v; want not linked", st, err)
	}
	if _, err := e.db.Identity(ctx, subj.TeamID, subj.UserID); !errors.Is(err, store.ErrNotFound) {
		e.t.Errorf("identity: %v, want ErrNotFound", err)
	}
	if _, err := e.svc.Token(ctx, subj.TeamID, subj.UserID); !errors.Is(err, ErrNotLinked) {
		e.t.Errorf("Token: %v, want ErrNotLinked", err)
	}
}

func assertPage(t *testing.T, a answer, status int, want string) {
	t.Helper()
	if a.status != status {
		t.Errorf("status = %d, want %d (body %q)", a.status, status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if !strings.Contains(a.body, want) {
		t.Errorf("page %q does not say %q", a.body, want)
	}
	if len(a.body) > 1000 || strings.Contains(a.body, "goroutine") || strings.Contains(a.body, ".go:") {
		t.Errorf("page is not short and plain: %q", a.body)
	}
}

func TestSignIn(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)

	start := e.startURL()
	if !strings.HasPrefix(start, e.pub.URL+"/oauth/start?grant=") {
		t.Fatalf("StartURL = %q", start)
	}
	if g := mustQuery(t, start).Get("grant"); len(g) != 43 {
		t.Errorf("grant %q is not 32 random bytes in base64url", g)
	}

	a := e.get(start)
	if a.status != http.StatusFound {
		t.Fatalf("start: %d %s", a.status, a.body)
	}
	if !strings.HasPrefix(a.location, e.sentry.srv.URL+"/oauth/authorize/?") {
		t.Fatalf("redirect to %q, want Sentry's authorize endpoint", a.location)
	}
	if a.header.Get("Referrer-Policy") != "no-referrer" || a.header.Get("Cache-Control") != "no-store" {
		t.Errorf("start headers: %v", a.header)
	}
	q := mustQuery(t, a.location)
	for k, want := range map[string]string{
		"response_type":         "code",
		"client_id":             e.sentry.clientID,
		"redirect_uri":          e.pub.URL + "/oauth/callback",
		"scope":                 "org:read member:read project:read event:read event:write",
		"code_challenge_method": "S256",
	} {
		if got := q.Get(k); got != want {
			t.Errorf("authorize %s = %q, want %q", k, got, want)
		}
	}
	state := q.Get("state")
	if !wellFormed(state) {
		t.Errorf("state %q is not 32 random bytes in base64url", state)
	}
	e.remember(state)

	back := e.authorize(a.location)
	done := e.get(back)
	assertPage(t, done, http.StatusOK, "alice@example.com")

	exchanges, refreshes, access, refresh := e.sentry.state()
	if exchanges != 1 || refreshes != 0 {
		t.Errorf("token requests: %d exchanges, %d refreshes; want 1, 0", exchanges, refreshes)
	}
	t.Run("PKCE", func(t *testing.T) {
		e.sentry.mu.Lock()
		defer e.sentry.mu.Unlock()
		v := e.sentry.verifiers[0]
		sum := sha256.Sum256([]byte(v))
		if got := base64.RawURLEncoding.EncodeToString(sum[:]); got != q.Get("code_challenge") {
			t.Errorf("challenge %q is not base64url(sha256(verifier %q)) = %q", q.Get("code_challenge"), v, got)
		}
		if len(v) < 43 || len(v) > 128 {
			t.Errorf("verifier length %d outside RFC 7636's 43..128", len(v))
		}
	})

	t.Run("Linked", func(t *testing.T) {
		id, err := e.db.Identity(ctx, "T1", "U1")
		if err != nil {
			t.Fatal(err)
		}
		if id.Method != "oauth" || id.MemberID != "m-7" || id.SentryUserID != "42" || id.Email != "alice@example.com" || id.OrgRole != "member" || id.LinkedBy != "U1" {
			t.Errorf("identity = %+v", id)
		}
		if calls := e.linker.subjects(); len(calls) != 1 || calls[0] != subj {
			t.Errorf("Link called with %v, want [%v]", calls, subj)
		}
		if got := e.members.seen(); len(got) != 1 || got[0] != "acme email:alice@example.com" {
			t.Errorf("member queries = %q", got)
		}
		msgs := e.notify.messages()
		if len(msgs) != 1 || !strings.HasPrefix(msgs[0], "T1/U1: ") || !strings.Contains(msgs[0], "linked") {
			t.Errorf("notifications = %q", msgs)
		}
	})

	t.Run("Token", func(t *testing.T) {
		tok, err := e.svc.Token(ctx, "T1", "U1")
		if err != nil || tok != access {
			t.Fatalf("Token = %q, %v; want the issued access token", tok, err)
		}
		st, err := e.svc.Status(ctx, "T1", "U1")
		if err != nil {
			t.Fatal(err)
		}
		want := e.clock.Now().Add(30 * 24 * time.Hour)
		if !st.Linked || st.Stale || !st.ExpiresAt.Equal(want) || st.Scopes != Scopes || st.SentryUserID != "42" {
			t.Errorf("Status = %+v, want linked until %v", st, want)
		}
	})

	t.Run("SealedAtRest", func(t *testing.T) {
		path := e.db.Path()
		var files [][]byte
		for _, p := range []string{path, path + "-wal"} {
			b, err := os.ReadFile(p)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			files = append(files, b)
		}
		if len(files[0])+len(files[1]) == 0 {
			t.Fatal("database files are empty")
		}
		e.sentry.mu.Lock()
		verifier := e.sentry.verifiers[0]
		e.sentry.mu.Unlock()
		for name, secret := range map[string]string{"access token": access, "refresh token": refresh, "verifier": verifier, "state": state, "grant": mustQuery(t, start).Get("grant")} {
			for i, b := range files {
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("database file %d contains the %s", i, name)
				}
			}
		}
		// The sealed values are there, bound to their row and column.
		row, err := e.db.OAuthToken(ctx, "T1", "U1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.box.Open(row.AccessSealed, tokenAAD("T1", "U1", "refresh")); err == nil {
			t.Error("the sealed access token opens as a refresh token")
		}
	})

	t.Run("CallbackReplayed", func(t *testing.T) {
		assertPage(t, e.get(back), http.StatusGone, "already used")
		if ex, _, _, _ := e.sentry.state(); ex != 1 {
			t.Errorf("a replayed callback reached the token endpoint (%d exchanges)", ex)
		}
	})

	t.Run("StartReplayed", func(t *testing.T) {
		assertPage(t, e.get(start), http.StatusGone, "already used")
	})

	t.Run("LogsAtDebug", func(t *testing.T) {
		// The leak check at cleanup reads these; it proves something only
		// if the debug lines are there.
		logs := e.logs.String()
		for _, want := range []string{`"level":"debug"`, "sign-in grant created", "Sentry login linked"} {
			if !strings.Contains(logs, want) {
				t.Errorf("logs lack %q:\n%s", want, logs)
			}
		}
	})
}

func TestSignInRefused(t *testing.T) {
	cases := map[string]struct {
		run    func(e *env) answer
		status int
		text   string
	}{
		"ExpiredGrant": {func(e *env) answer {
			u := e.startURL()
			e.clock.Advance(10*time.Minute + time.Millisecond)
			return e.get(u)
		}, http.StatusGone, "expired"},
		"UnknownGrant": {func(e *env) answer {
			return e.get(e.pub.URL + "/oauth/start?grant=" + strings.Repeat("A", 43))
		}, http.StatusBadRequest, "not valid"},
		"MalformedGrant": {func(e *env) answer {
			return e.get(e.pub.URL + "/oauth/start?grant=%3Cscript%3E")
		}, http.StatusBadRequest, "not valid"},
		"NoGrant": {func(e *env) answer {
			return e.get(e.pub.URL + "/oauth/start")
		}, http.StatusBadRequest, "not valid"},
		"TamperedState": {func(e *env) answer {
			back := e.authorize(e.start(e.startURL()))
			q := mustQuery(e.t, back)
			s := []byte(q.Get("state"))
			if s[0] == 'A' {
				s[0] = 'B'
			} else {
				s[0] = 'A'
			}
			q.Set("state", string(s))
			a := e.get(e.pub.URL + "/oauth/callback?" + q.Encode())
			if ex, _, _, _ := e.sentry.state(); ex != 0 {
				e.t.Errorf("a tampered state reached the token endpoint")
			}
			return a
		}, http.StatusBadRequest, "not valid"},
		"MalformedState": {func(e *env) answer {
			return e.get(e.pub.URL + "/oauth/callback?code=abc&state=x")
		}, http.StatusBadRequest, "not valid"},
		"ExpiredState": {func(e *env) answer {
			back := e.authorize(e.start(e.startURL()))
			e.clock.Advance(10*time.Minute + time.Millisecond)
			return e.get(back)
		}, http.StatusGone, "expired"},
		"PKCEMismatch": {func(e *env) answer {
			e.sentry.set(func(f *fakeSentry) { f.badChallenge = true })
			a := e.signIn()
			if ex, _, _, _ := e.sentry.state(); ex != 1 {
				e.t.Errorf("%d exchanges, want 1", ex)
			}
			return a
		}, http.StatusBadRequest, "did not accept"},
		"Denied": {func(e *env) answer {
			e.sentry.set(func(f *fakeSentry) { f.deny = true })
			return e.signIn()
		}, http.StatusBadRequest, "did not authorize"},
		"NotAMember": {func(e *env) answer {
			e.members.set(nil, nil)
			return e.signIn()
		}, http.StatusForbidden, "not a member of the organization acme"},
		"OtherUsersMembership": {func(e *env) answer {
			// Same email, another Sentry user: not this person.
			e.members.set([]sentry.Member{{ID: "m-8", Email: "alice@example.com", User: &sentry.User{ID: "43"}}}, nil)
			return e.signIn()
		}, http.StatusForbidden, "not a member"},
		"PendingInvite": {func(e *env) answer {
			e.members.set([]sentry.Member{{ID: "m-9", Email: "alice@example.com", Pending: true, User: &sentry.User{ID: "42"}}}, nil)
			return e.signIn()
		}, http.StatusForbidden, "not a member"},
		"ExpiredInvite": {func(e *env) answer {
			e.members.set([]sentry.Member{{ID: "m-9", Email: "alice@example.com", Expired: true, User: &sentry.User{ID: "42"}}}, nil)
			return e.signIn()
		}, http.StatusForbidden, "not a member"},
		"MembersUnavailable": {func(e *env) answer {
			e.members.set(nil, errors.New("sentry: list members: 503"))
			return e.signIn()
		}, http.StatusBadGateway, "could not complete"},
		"WrongClientSecret": {func(e *env) answer {
			e.sentry.set(func(f *fakeSentry) { f.clientSecret = "rotated" })
			return e.signIn()
		}, http.StatusBadGateway, "could not complete"},
		"MemberLinkedElsewhere": {func(e *env) answer {
			if err := e.db.LinkIdentity(context.Background(), store.Identity{
				TeamID: "T1", SlackUserID: "U2", MemberID: "m-7", SentryUserID: "42", Method: "email"}); err != nil {
				e.t.Fatal(err)
			}
			return e.signIn()
		}, http.StatusConflict, "already linked to another Slack user"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			assertPage(t, tc.run(e), tc.status, tc.text)
			e.assertNothingStored()
			if msgs := e.notify.messages(); len(msgs) != 0 {
				t.Errorf("notifications: %q", msgs)
			}
		})
	}
}

// TestTamperedStateLeavesRealOne shows a forged state takes nothing: the
// real callback still completes afterwards.
func TestTamperedStateLeavesRealOne(t *testing.T) {
	e := newEnv(t)
	back := e.authorize(e.start(e.startURL()))
	q := mustQuery(t, back)
	q.Set("state", strings.Repeat("B", 43))
	assertPage(t, e.get(e.pub.URL+"/oauth/callback?"+q.Encode()), http.StatusBadRequest, "not valid")
	assertPage(t, e.get(back), http.StatusOK, "Linked")
}

func TestHeadDoesNotTakeGrant(t *testing.T) {
	e := newEnv(t)
	u := e.startURL()
	resp, err := e.browser.Head(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD = %d", resp.StatusCode)
	}
	e.start(u) // still unused
}

// linked signs subj in and returns the access token issued.
func linked(t *testing.T, e *env) string {
	t.Helper()
	assertPage(t, e.signIn(), http.StatusOK, "Linked")
	_, _, access, _ := e.sentry.state()
	return access
}

func TestTokenRefresh(t *testing.T) {
	ctx := context.Background()

	t.Run("NotLinked", func(t *testing.T) {
		e := newEnv(t)
		if _, err := e.svc.Token(ctx, "T1", "U1"); !errors.Is(err, ErrNotLinked) {
			t.Fatalf("Token: %v, want ErrNotLinked", err)
		}
		c, err := e.svc.ClientFor(ctx, nil, "T1", "U1")
		if !errors.Is(err, ErrNotLinked) || c != nil {
			t.Fatalf("ClientFor = %v, %v; want nil, ErrNotLinked", c, err)
		}
	})

	t.Run("FreshTokenNoRefresh", func(t *testing.T) {
		e := newEnv(t)
		first := linked(t, e)
		e.clock.Advance(30*24*time.Hour - 5*time.Minute - time.Second)
		if tok, err := e.svc.Token(ctx, "T1", "U1"); err != nil || tok != first {
			t.Fatalf("Token = %q, %v; want the first token", tok, err)
		}
		if _, r, _, _ := e.sentry.state(); r != 0 {
			t.Errorf("%d refreshes, want 0", r)
		}
	})

	t.Run("ConcurrentRefreshOnce", func(t *testing.T) {
		e := newEnv(t)
		first := linked(t, e)
		e.clock.Advance(30*24*time.Hour - time.Minute) // within RefreshBefore

		const n = 20
		var joins int
		allJoined := make(chan struct{})
		var mu sync.Mutex
		e.svc.flights.OnJoin = func() {
			mu.Lock()
			defer mu.Unlock()
			joins++
			if joins == n-1 {
				close(allJoined)
			}
		}
		// The refresh is held until every other caller waits for it, so
		// all 20 are in Token at once.
		e.sentry.set(func(f *fakeSentry) {
			f.refreshGate = func() {
				select {
				case <-allJoined:
				case <-time.After(10 * time.Second):
				}
			}
		})

		var wg sync.WaitGroup
		tokens := make([]string, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tokens[i], errs[i] = e.svc.Token(ctx, "T1", "U1")
			}()
		}
		wg.Wait()

		_, refreshes, access, _ := e.sentry.state()
		if refreshes != 1 {
			t.Errorf("%d refresh requests, want exactly 1", refreshes)
		}
		mu.Lock()
		if joins != n-1 {
			t.Errorf("%d callers joined the refresh, want %d", joins, n-1)
		}
		mu.Unlock()
		if access == first {
			t.Fatal("the fake issued no new token")
		}
		for i := range n {
			if errs[i] != nil || tokens[i] != access {
				t.Errorf("caller %d: %q, %v; want the refreshed token", i, tokens[i], errs[i])
			}
		}
		st, err := e.svc.Status(ctx, "T1", "U1")
		if err != nil || !st.ExpiresAt.Equal(e.clock.Now().Add(30*24*time.Hour)) {
			t.Errorf("Status after refresh = %+v, %v", st, err)
		}
		// The next call uses the stored new token without a refresh.
		if tok, err := e.svc.Token(ctx, "T1", "U1"); err != nil || tok != access {
			t.Errorf("Token after refresh = %q, %v", tok, err)
		}
		if _, r, _, _ := e.sentry.state(); r != 1 {
			t.Errorf("%d refreshes after another Token, want 1", r)
		}
	})

	t.Run("RevokedMarksStale", func(t *testing.T) {
		e := newEnv(t)
		linked(t, e)
		e.sentry.set(func(f *fakeSentry) { f.refreshMode = "invalid_grant" })
		e.clock.Advance(30*24*time.Hour - time.Minute)

		_, err := e.svc.Token(ctx, "T1", "U1")
		if !errors.Is(err, ErrStale) {
			t.Fatalf("Token: %v, want ErrStale", err)
		}
		st, err := e.svc.Status(ctx, "T1", "U1")
		if err != nil || !st.Linked || !st.Stale {
			t.Errorf("Status = %+v, %v; want linked and stale", st, err)
		}
		msgs := e.notify.messages()
		if len(msgs) != 2 || !strings.HasPrefix(msgs[1], "T1/U1: ") || !strings.Contains(msgs[1], "link again") {
			t.Errorf("notifications = %q, want a second one saying to link again", msgs)
		}
		// Stale stays stale without asking Sentry again, and is told once.
		if _, err := e.svc.Token(ctx, "T1", "U1"); !errors.Is(err, ErrStale) {
			t.Errorf("second Token: %v, want ErrStale", err)
		}
		if _, r, _, _ := e.sentry.state(); r != 1 {
			t.Errorf("%d refresh requests, want 1", r)
		}
		if n := len(e.notify.messages()); n != 2 {
			t.Errorf("%d notifications, want 2", n)
		}

		// Signing in again clears it.
		e.sentry.set(func(f *fakeSentry) { f.refreshMode = "" })
		access := linked(t, e)
		if tok, err := e.svc.Token(ctx, "T1", "U1"); err != nil || tok != access {
			t.Errorf("Token after linking again = %q, %v", tok, err)
		}
	})

	t.Run("PanicReleasesCallers", func(t *testing.T) {
		e := newEnv(t)
		linked(t, e)
		e.sentry.set(func(f *fakeSentry) { f.refreshMode = "invalid_grant" })
		e.notify.mu.Lock()
		e.notify.panic = true
		e.notify.mu.Unlock()
		e.clock.Advance(31 * 24 * time.Hour)
		if _, err := e.svc.Token(ctx, "T1", "U1"); err == nil || !strings.Contains(err.Error(), "panic") {
			t.Fatalf("Token: %v, want the panic as an error", err)
		}
		// The flight is gone: the next call does not wait forever.
		if _, err := e.svc.Token(ctx, "T1", "U1"); !errors.Is(err, ErrStale) {
			t.Errorf("next Token: %v, want ErrStale", err)
		}
	})

	t.Run("ServerErrorIsNotStale", func(t *testing.T) {
		e := newEnv(t)
		first := linked(t, e)
		e.sentry.set(func(f *fakeSentry) { f.refreshMode = "500" })

		// Within RefreshBefore the current token still works and is used.
		e.clock.Advance(30*24*time.Hour - time.Minute)
		if tok, err := e.svc.Token(ctx, "T1", "U1"); err != nil || tok != first {
			t.Errorf("Token before expiry = %q, %v; want the current token", tok, err)
		}
		// Past expiry it is an error, and the link is not stale.
		e.clock.Advance(2 * time.Minute)
		_, err := e.svc.Token(ctx, "T1", "U1")
		var te *TokenError
		if err == nil || errors.Is(err, ErrStale) || errors.Is(err, ErrNotLinked) || !errors.As(err, &te) || te.Status != 500 {
			t.Fatalf("Token after expiry: %v; want the 500, not stale", err)
		}
		if st, _ := e.svc.Status(ctx, "T1", "U1"); !st.Linked || st.Stale {
			t.Errorf("Status = %+v; want linked, not stale", st)
		}
		if n := len(e.notify.messages()); n != 1 {
			t.Errorf("%d notifications, want only the link one", n)
		}
		// Sentry recovers: the next call refreshes.
		e.sentry.set(func(f *fakeSentry) { f.refreshMode = "" })
		tok, err := e.svc.Token(ctx, "T1", "U1")
		_, _, access, _ := e.sentry.state()
		if err != nil || tok != access || tok == first {
			t.Errorf("Token after recovery = %q, %v", tok, err)
		}
	})

	t.Run("TransportErrorIsNotStale", func(t *testing.T) {
		e := newEnv(t)
		linked(t, e)
		e.sentry.srv.Close()
		e.clock.Advance(31 * 24 * time.Hour)
		_, err := e.svc.Token(ctx, "T1", "U1")
		if err == nil || errors.Is(err, ErrStale) || errors.Is(err, ErrNotLinked) {
			t.Fatalf("Token: %v; want a plain error", err)
		}
		if st, _ := e.svc.Status(ctx, "T1", "U1"); st.Stale {
			t.Error("a transport error made the link stale")
		}
	})

	t.Run("SwappedRowsDoNotOpen", func(t *testing.T) {
		e := newEnv(t)
		linked(t, e)
		row, err := e.db.OAuthToken(ctx, "T1", "U1")
		if err != nil {
			t.Fatal(err)
		}
		row.UserID = "U2"
		if err := e.db.SaveOAuthToken(ctx, row); err != nil {
			t.Fatal(err)
		}
		tok, err := e.svc.Token(ctx, "T1", "U2")
		if err == nil || tok != "" {
			t.Fatalf("U1's sealed token opened for U2: %q, %v", tok, err)
		}
		if !errors.Is(err, secrets.ErrOpen) {
			t.Errorf("err = %v, want ErrOpen", err)
		}
	})
}

func TestForget(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	linked(t, e)
	pending := e.startURL()

	if err := e.svc.Forget(ctx, "T1", "U1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Token(ctx, "T1", "U1"); !errors.Is(err, ErrNotLinked) {
		t.Errorf("Token after Forget: %v, want ErrNotLinked", err)
	}
	if st, err := e.svc.Status(ctx, "T1", "U1"); err != nil || st != (Status{}) {
		t.Errorf("Status after Forget = %+v, %v", st, err)
	}
	assertPage(t, e.get(pending), http.StatusBadRequest, "not valid")
	if err := e.svc.Forget(ctx, "T1", "U1"); err != nil {
		t.Errorf("second Forget: %v", err)
	}
}

func TestNew(t *testing.T) {
	e := newEnv(t)
	box := e.svc.box
	good := Config{SentryURL: "https://sentry.io", PublicURL: "https://bot.example.com/", ClientID: "id", ClientSecret: "s", Org: "acme"}
	s, err := New(good, e.db, box, e.members, e.linker, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.GrantTTL != 10*time.Minute || s.cfg.RefreshBefore != 5*time.Minute || s.publicURL != "https://bot.example.com" {
		t.Errorf("defaults: %+v, public %q", s.cfg, s.publicURL)
	}
	for name, mut := range map[string]func(*Config){
		"NoSentryURL":    func(c *Config) { c.SentryURL = "" },
		"RelativePublic": func(c *Config) { c.PublicURL = "/oauth" },
		"PublicQuery":    func(c *Config) { c.PublicURL = "https://bot.example.com/?x=1" },
		"NoClientID":     func(c *Config) { c.ClientID = "" },
		"NoSecret":       func(c *Config) { c.ClientSecret = "" },
		"NoOrg":          func(c *Config) { c.Org = "" },
		"NegativeTTL":    func(c *Config) { c.GrantTTL = -time.Second },
	} {
		c := good
		mut(&c)
		if _, err := New(c, e.db, box, e.members, e.linker, nil, zerolog.Nop()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(good, e.db, box, nil, e.linker, nil, zerolog.Nop()); err == nil {
		t.Error("nil members accepted")
	}
}
