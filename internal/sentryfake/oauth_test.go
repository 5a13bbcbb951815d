package sentryfake

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"sentrybot/sentry"
)

const testCallback = "http://127.0.0.1:9/sentry/oauth/callback"

var (
	alice = sentry.User{ID: "1001", Name: "Alice", Email: "alice@acme.test", Username: "alice@acme.test"}
	bob   = sentry.User{ID: "1002", Name: "Bob", Email: "bob@acme.test", Username: "bob@acme.test"}
)

// pkce is a PKCE verifier and its S256 challenge.
type pkce struct{ verifier, challenge string }

func newPKCE() pkce {
	b := make([]byte, 32)
	rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(v))
	return pkce{verifier: v, challenge: base64.RawURLEncoding.EncodeToString(sum[:])}
}

// browser is an HTTP client that does not follow redirects, as the test
// must read the Location itself.
func browser(t testing.TB) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func authorizeParams(s *Server, p pkce, state string) url.Values {
	return url.Values{
		"response_type":         {"code"},
		"client_id":             {s.OAuthClientID()},
		"redirect_uri":          {testCallback},
		"scope":                 {"event:read event:write org:read member:read"},
		"state":                 {state},
		"code_challenge":        {p.challenge},
		"code_challenge_method": {"S256"},
	}
}

// authorize performs GET /oauth/authorize/ and returns the status, the
// Location's query (nil without one) and the body.
func authorize(hc *http.Client, s *Server, q url.Values) (int, url.Values, string, error) {
	resp, err := hc.Get(s.URL() + "/oauth/authorize/?" + q.Encode())
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, "", err
	}
	var back url.Values
	if loc := resp.Header.Get("Location"); loc != "" {
		u, err := url.Parse(loc)
		if err != nil {
			return 0, nil, "", err
		}
		if got := u.Scheme + "://" + u.Host + u.Path; got != testCallback {
			return 0, nil, "", fmt.Errorf("redirected to %s, want %s", got, testCallback)
		}
		back = u.Query()
	}
	return resp.StatusCode, back, string(body), nil
}

// tokenCall is one POST /oauth/token/.
type tokenCall struct {
	status int
	header http.Header
	body   map[string]any
}

func (c tokenCall) str(k string) string { v, _ := c.body[k].(string); return v }

// postToken sends form to the token endpoint; basic moves the client
// credentials into an HTTP Basic header.
func postToken(hc *http.Client, s *Server, form url.Values, basic bool) (tokenCall, error) {
	form = cloneValues(form)
	var id, secret string
	if basic {
		id, secret = form.Get("client_id"), form.Get("client_secret")
		form.Del("client_id")
		form.Del("client_secret")
	}
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/oauth/token/", strings.NewReader(form.Encode()))
	if err != nil {
		return tokenCall{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(id, secret)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return tokenCall{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return tokenCall{}, err
	}
	c := tokenCall{status: resp.StatusCode, header: resp.Header}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&c.body); err != nil {
		return tokenCall{}, fmt.Errorf("token answer %d %q: %w", resp.StatusCode, raw, err)
	}
	return c, nil
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func codeForm(s *Server, code string, p pkce) url.Values {
	return url.Values{
		"grant_type":    {"authorization_code"},
		"client_id":     {s.OAuthClientID()},
		"client_secret": {s.OAuthClientSecret()},
		"code":          {code},
		"redirect_uri":  {testCallback},
		"code_verifier": {p.verifier},
	}
}

func refreshForm(s *Server, refresh string) url.Values {
	return url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {s.OAuthClientID()},
		"client_secret": {s.OAuthClientSecret()},
		"refresh_token": {refresh},
	}
}

// getCode authorizes and returns a fresh code.
func getCode(hc *http.Client, s *Server, p pkce) (string, error) {
	status, back, body, err := authorize(hc, s, authorizeParams(s, p, "st-1"))
	if err != nil {
		return "", err
	}
	if status != http.StatusFound || back.Get("code") == "" || back.Get("state") != "st-1" {
		return "", fmt.Errorf("authorize: %d %v %s", status, back, body)
	}
	return back.Get("code"), nil
}

// login runs the whole dance for whoever is logged in.
func login(hc *http.Client, s *Server) (tokenCall, error) {
	p := newPKCE()
	code, err := getCode(hc, s, p)
	if err != nil {
		return tokenCall{}, err
	}
	c, err := postToken(hc, s, codeForm(s, code, p), false)
	if err != nil {
		return tokenCall{}, err
	}
	if c.status != http.StatusOK {
		return tokenCall{}, fmt.Errorf("exchange: %d %v", c.status, c.body)
	}
	return c, nil
}

func mustLogin(t *testing.T, hc *http.Client, s *Server) tokenCall {
	t.Helper()
	c, err := login(hc, s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustToken(t *testing.T, hc *http.Client, s *Server, form url.Values, basic bool) tokenCall {
	t.Helper()
	c, err := postToken(hc, s, form, basic)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantOAuthError(t *testing.T, what string, c tokenCall, status int, name string) {
	t.Helper()
	if c.status != status || c.str("error") != name || len(c.body) != 1 {
		t.Errorf("%s: got %d %v, want %d {error: %s}", what, c.status, c.body, status, name)
	}
}

func TestOAuth_Dance(t *testing.T) {
	s, _ := newFake(t, Options{AccessTokenTTL: time.Hour})
	s.SetOAuthUser(alice)
	hc := browser(t)
	p := newPKCE()

	status, back, body, err := authorize(hc, s, authorizeParams(s, p, "opaque state/+="))
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusFound || back.Get("state") != "opaque state/+=" || len(back.Get("code")) < 32 || back.Has("error") {
		t.Fatalf("authorize: %d %v %s", status, back, body)
	}

	start := time.Now()
	c := mustToken(t, hc, s, codeForm(s, back.Get("code"), p), false)
	if c.status != http.StatusOK {
		t.Fatalf("exchange: %d %v", c.status, c.body)
	}
	if c.str("token_type") != "Bearer" || c.str("scope") != "event:read event:write org:read member:read" ||
		len(c.str("access_token")) != 64 || len(c.str("refresh_token")) != 64 || c.str("access_token") == c.str("refresh_token") {
		t.Errorf("token body: %v", c.body)
	}
	if !strings.Contains(c.header.Get("Cache-Control"), "no-store") {
		t.Errorf("Cache-Control = %q", c.header.Get("Cache-Control"))
	}
	if n, ok := c.body["expires_in"].(json.Number); !ok || n.String() != "3599" && n.String() != "3600" {
		t.Errorf("expires_in = %#v, want 3600 seconds as an integer", c.body["expires_in"])
	}
	at, err := time.Parse("2006-01-02T15:04:05.000000Z", c.str("expires_at"))
	if err != nil {
		t.Fatalf("expires_at %q: %v", c.str("expires_at"), err)
	}
	if at.Before(start.Add(time.Hour-time.Second)) || at.After(time.Now().Add(time.Hour)) {
		t.Errorf("expires_at = %v, want an hour after %v", at, start)
	}
	if u, _ := c.body["user"].(map[string]any); u["id"] != alice.ID || u["name"] != alice.Name || u["email"] != alice.Email || len(u) != 3 {
		t.Errorf("user = %v", c.body["user"])
	}

	auth, err := newClient(t, s, c.str("access_token")).Whoami(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if auth.User == nil || auth.User.ID != alice.ID || !auth.HasScope("event:write") || auth.HasScope("event:admin") {
		t.Errorf("whoami as alice: %+v", auth)
	}

	trs := s.TokenRequests()
	if len(trs) != 1 || trs[0].GrantType != "authorization_code" || trs[0].ClientID != s.OAuthClientID() ||
		trs[0].BasicAuth || trs[0].Status != 200 || trs[0].Error != "" || trs[0].UserID != alice.ID {
		t.Errorf("TokenRequests = %+v", trs)
	}
	for _, r := range s.Requests() {
		if r.Path == "/oauth/token/" && r.Body != nil {
			t.Errorf("token request body recorded: %q", r.Body)
		}
	}
}

func TestOAuth_BasicAuth(t *testing.T) {
	s, _ := newFake(t, Options{OAuthClientID: "app-1", OAuthClientSecret: "s3cret"})
	s.SetOAuthUser(alice)
	hc := browser(t)
	p := newPKCE()
	code, err := getCode(hc, s, p)
	if err != nil {
		t.Fatal(err)
	}

	both, err := http.NewRequest(http.MethodPost, s.URL()+"/oauth/token/", strings.NewReader(codeForm(s, code, p).Encode()))
	if err != nil {
		t.Fatal(err)
	}
	both.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	both.SetBasicAuth("app-1", "s3cret")
	resp, err := hc.Do(both)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("credentials in header and form: %d, want 400 invalid_request", resp.StatusCode)
	}

	c := mustToken(t, hc, s, codeForm(s, code, p), true)
	if c.status != http.StatusOK {
		t.Fatalf("exchange with Basic: %d %v", c.status, c.body)
	}
	if trs := s.TokenRequests(); !trs[len(trs)-1].BasicAuth || trs[len(trs)-1].ClientID != "app-1" {
		t.Errorf("TokenRequests = %+v", trs)
	}
}

func TestOAuth_AuthorizeErrors(t *testing.T) {
	s, _ := newFake(t, Options{})
	hc := browser(t)
	p := newPKCE()

	pageCases := []struct {
		name   string
		change func(url.Values)
		want   string
	}{
		{"unknown client", func(q url.Values) { q.Set("client_id", "other") }, "client_id"},
		{"no redirect_uri", func(q url.Values) { q.Del("redirect_uri") }, "redirect_uri"},
		{"relative redirect_uri", func(q url.Values) { q.Set("redirect_uri", "/callback") }, "redirect_uri"},
		{"nobody logged in", func(url.Values) {}, "nobody is logged in"},
	}
	for _, tc := range pageCases {
		q := authorizeParams(s, p, "st")
		tc.change(q)
		status, back, body, err := authorize(hc, s, q)
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusBadRequest || back != nil || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %v %q", tc.name, status, back, body)
		}
	}

	s.SetOAuthUser(alice)
	backCases := []struct {
		name   string
		change func(url.Values)
		want   string
	}{
		{"implicit grant", func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type"},
		{"unknown scope", func(q url.Values) { q.Set("scope", "event:read root") }, "invalid_scope"},
		{"no challenge", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "invalid_request"},
		{"plain method", func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request"},
		{"no method", func(q url.Values) { q.Del("code_challenge_method") }, "invalid_request"},
		{"challenge not a digest", func(q url.Values) { q.Set("code_challenge", "abc") }, "invalid_request"},
		{"denied", func(url.Values) { s.SetOAuthDeny(true) }, "access_denied"},
	}
	for _, tc := range backCases {
		q := authorizeParams(s, p, "st-9")
		tc.change(q)
		status, back, body, err := authorize(hc, s, q)
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusFound || back.Get("error") != tc.want || back.Get("state") != "st-9" || back.Has("code") {
			t.Errorf("%s: %d %v %q, want error=%s", tc.name, status, back, body, tc.want)
		}
	}

	s.SetOAuthDeny(false)
	s.SetOAuthUser(sentry.User{})
	if status, _, body, _ := authorize(hc, s, authorizeParams(s, p, "st")); status != http.StatusBadRequest {
		t.Errorf("after logging out: %d %s", status, body)
	}
}

func TestOAuth_RegisteredRedirectURIs(t *testing.T) {
	s, _ := newFake(t, Options{OAuthRedirectURIs: []string{testCallback}})
	s.SetOAuthUser(alice)
	hc := browser(t)
	p := newPKCE()
	if _, err := getCode(hc, s, p); err != nil {
		t.Errorf("registered redirect_uri: %v", err)
	}
	q := authorizeParams(s, p, "st")
	q.Set("redirect_uri", testCallback+"/../evil")
	if status, back, _, err := authorize(hc, s, q); err != nil || status != http.StatusBadRequest || back != nil {
		t.Errorf("unregistered redirect_uri: %d %v %v", status, back, err)
	}
}

func TestOAuth_TokenErrors(t *testing.T) {
	s, _ := newFake(t, Options{})
	s.SetOAuthUser(alice)
	hc := browser(t)
	p := newPKCE()
	code, err := getCode(hc, s, p)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		change func(url.Values)
		status int
		error  string
	}{
		{"wrong secret", func(f url.Values) { f.Set("client_secret", "guess") }, 401, "invalid_client"},
		{"no secret", func(f url.Values) { f.Del("client_secret") }, 401, "invalid_client"},
		{"unknown client", func(f url.Values) { f.Set("client_id", "other") }, 401, "invalid_client"},
		{"no grant type", func(f url.Values) { f.Del("grant_type") }, 400, "invalid_request"},
		{"password grant", func(f url.Values) { f.Set("grant_type", "password") }, 400, "unsupported_grant_type"},
		{"unknown code", func(f url.Values) { f.Set("code", "0123abcd") }, 400, "invalid_grant"},
		{"PKCE mismatch", func(f url.Values) { f.Set("code_verifier", newPKCE().verifier) }, 400, "invalid_grant"},
		{"no verifier", func(f url.Values) { f.Del("code_verifier") }, 400, "invalid_grant"},
		{"challenge as verifier", func(f url.Values) { f.Set("code_verifier", p.challenge) }, 400, "invalid_grant"},
		{"other redirect_uri", func(f url.Values) { f.Set("redirect_uri", testCallback+"?x=1") }, 400, "invalid_grant"},
		{"no redirect_uri", func(f url.Values) { f.Del("redirect_uri") }, 400, "invalid_grant"},
	}
	for _, tc := range cases {
		f := codeForm(s, code, p)
		tc.change(f)
		c := mustToken(t, hc, s, f, false)
		wantOAuthError(t, tc.name, c, tc.status, tc.error)
		if tc.status == 401 && c.header.Get("WWW-Authenticate") != `Basic realm="oauth"` {
			t.Errorf("%s: WWW-Authenticate = %q", tc.name, c.header.Get("WWW-Authenticate"))
		}
	}

	// Failed attempts leave the code usable; the first success uses it up.
	if c := mustToken(t, hc, s, codeForm(s, code, p), false); c.status != http.StatusOK {
		t.Fatalf("exchange after failed attempts: %d %v", c.status, c.body)
	}
	wantOAuthError(t, "replayed code", mustToken(t, hc, s, codeForm(s, code, p), false), 400, "invalid_grant")

	trs := s.TokenRequests()
	if len(trs) != len(cases)+2 || trs[0].Error != "invalid_client" || trs[0].Status != 401 || trs[len(trs)-1].Error != "invalid_grant" {
		t.Errorf("TokenRequests = %+v", trs)
	}
	for _, r := range s.Requests() {
		if bytes.Contains(r.Body, []byte(s.OAuthClientSecret())) || bytes.Contains(r.Body, []byte(p.verifier)) {
			t.Errorf("a recorded request keeps a secret: %s %s", r.Method, r.Path)
		}
	}
}

func TestOAuth_CodeExpires(t *testing.T) {
	s, _ := newFake(t, Options{})
	s.SetOAuthUser(alice)
	hc := browser(t)
	now := time.Now()
	s.setClock(func() time.Time { return now })
	p := newPKCE()
	code, err := getCode(hc, s, p)
	if err != nil {
		t.Fatal(err)
	}
	s.setClock(func() time.Time { return now.Add(10 * time.Minute) })
	wantOAuthError(t, "code after 10 minutes", mustToken(t, hc, s, codeForm(s, code, p), false), 400, "invalid_grant")
}

func TestOAuth_RefreshRotates(t *testing.T) {
	s, _ := newFake(t, Options{})
	s.SetOAuthUser(alice)
	hc := browser(t)
	first := mustLogin(t, hc, s)

	second := mustToken(t, hc, s, refreshForm(s, first.str("refresh_token")), false)
	if second.status != http.StatusOK || second.str("access_token") == first.str("access_token") ||
		second.str("refresh_token") == first.str("refresh_token") || second.str("scope") != first.str("scope") {
		t.Fatalf("refresh: %d %v", second.status, second.body)
	}
	if u, _ := second.body["user"].(map[string]any); u["id"] != alice.ID {
		t.Errorf("refreshed token's user = %v", second.body["user"])
	}
	wantOAuthError(t, "old refresh token", mustToken(t, hc, s, refreshForm(s, first.str("refresh_token")), false), 400, "invalid_grant")

	resp, body := get(t, s, "/api/0/", first.str("access_token"))
	if resp.StatusCode != http.StatusUnauthorized || string(body) != `{"detail":"Invalid token"}` {
		t.Errorf("old access token: %d %s", resp.StatusCode, body)
	}
	if resp, body := get(t, s, "/api/0/", second.str("access_token")); resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"id":"1001"`) {
		t.Errorf("new access token: %d %s", resp.StatusCode, body)
	}

	f := refreshForm(s, second.str("refresh_token"))
	f.Set("scope", "event:read")
	wantOAuthError(t, "narrowing scope", mustToken(t, hc, s, f, false), 400, "invalid_request")
	f = refreshForm(s, second.str("refresh_token"))
	f.Set("client_secret", "guess")
	wantOAuthError(t, "refresh with wrong secret", mustToken(t, hc, s, f, false), 401, "invalid_client")

	if n := s.RefreshCount(); n != 1 {
		t.Errorf("RefreshCount = %d, want 1", n)
	}
	var grants []string
	for _, tr := range s.TokenRequests() {
		grants = append(grants, tr.GrantType+":"+tr.Error)
	}
	if got := strings.Join(grants, " "); got != "authorization_code: refresh_token: refresh_token:invalid_grant refresh_token:invalid_request refresh_token:invalid_client" {
		t.Errorf("token requests: %s", got)
	}
}

func TestOAuth_Revoke(t *testing.T) {
	s, _ := newFake(t, Options{})
	hc := browser(t)
	s.SetOAuthUser(alice)
	a := mustLogin(t, hc, s)
	s.SetOAuthUser(bob)
	b := mustLogin(t, hc, s)
	p := newPKCE()
	s.SetOAuthUser(alice)
	pending, err := getCode(hc, s, p)
	if err != nil {
		t.Fatal(err)
	}

	s.RevokeOAuth(alice.ID)

	if resp, body := get(t, s, "/api/0/", a.str("access_token")); resp.StatusCode != http.StatusUnauthorized || string(body) != `{"detail":"Invalid token"}` {
		t.Errorf("revoked access token: %d %s", resp.StatusCode, body)
	}
	wantOAuthError(t, "revoked refresh token", mustToken(t, hc, s, refreshForm(s, a.str("refresh_token")), false), 400, "invalid_grant")
	wantOAuthError(t, "code of a revoked user", mustToken(t, hc, s, codeForm(s, pending, p), false), 400, "invalid_grant")
	if resp, body := get(t, s, "/api/0/", b.str("access_token")); resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"id":"1002"`) {
		t.Errorf("another user's token: %d %s", resp.StatusCode, body)
	}
	if again := mustLogin(t, hc, s); again.str("access_token") == "" {
		t.Error("alice cannot link again after revoking")
	}
}

func TestOAuth_ExpiredAccessTokenRefreshes(t *testing.T) {
	s, _ := newFake(t, Options{})
	s.SetOAuthUser(alice)
	hc := browser(t)
	first := mustLogin(t, hc, s)

	s.ExpireAccessTokens()
	_, err := newClient(t, s, first.str("access_token")).Whoami(context.Background())
	if !errors.Is(err, sentry.ErrUnauthorized) || detailOf(t, err) != "Token expired" {
		t.Fatalf("expired token: %v", err)
	}
	second := mustToken(t, hc, s, refreshForm(s, first.str("refresh_token")), false)
	if second.status != http.StatusOK {
		t.Fatalf("refresh after expiry: %d %v", second.status, second.body)
	}
	auth, err := newClient(t, s, second.str("access_token")).Whoami(context.Background())
	if err != nil || auth.User.ID != alice.ID {
		t.Fatalf("refreshed token: %+v %v", auth, err)
	}
}

func TestOAuth_AccessTokenTTL(t *testing.T) {
	s, _ := newFake(t, Options{AccessTokenTTL: time.Minute})
	s.SetOAuthUser(alice)
	hc := browser(t)
	now := time.Now()
	s.setClock(func() time.Time { return now })
	c := mustLogin(t, hc, s)
	if n, _ := c.body["expires_in"].(json.Number); n.String() != "60" {
		t.Errorf("expires_in = %v, want 60", c.body["expires_in"])
	}
	s.setClock(func() time.Time { return now.Add(59 * time.Second) })
	if resp, body := get(t, s, "/api/0/", c.str("access_token")); resp.StatusCode != http.StatusOK {
		t.Errorf("token before its TTL: %d %s", resp.StatusCode, body)
	}
	s.setClock(func() time.Time { return now.Add(time.Minute) })
	if resp, body := get(t, s, "/api/0/", c.str("access_token")); resp.StatusCode != http.StatusUnauthorized || string(body) != `{"detail":"Token expired"}` {
		t.Errorf("token at its TTL: %d %s", resp.StatusCode, body)
	}
}

func TestOAuth_ActsAsUser(t *testing.T) {
	ctx := context.Background()
	s, org := newFake(t, Options{})
	s.AddMember(NewMember("11", alice.ID, alice.Email, alice.Name, "member"))
	s.AddRelease("backend", "backend@2.4.0")
	s.AddIssue(NewIssue("1", "BACKEND-1", "ValueError: x"))
	s.AddIssue(NewIssue("2", "BACKEND-2", "ValueError: y"))
	s.SetOAuthUser(alice)
	hc := browser(t)
	asAlice := newClient(t, s, mustLogin(t, hc, s).str("access_token"))

	if err := asAlice.UpdateIssue(ctx, "acme", "1", sentry.ResolveInNextRelease()); err != nil {
		t.Fatal(err)
	}
	if err := org.UpdateIssue(ctx, "acme", "2", sentry.ResolveInNextRelease()); err != nil {
		t.Fatal(err)
	}
	actor := func(ref string) any {
		is, _ := s.Issue(ref)
		a, _ := statusDetailsOf(t, is)["actor"].(map[string]any)
		return a["id"]
	}
	if got := actor("1"); got != alice.ID {
		t.Errorf("actor of alice's change = %v, want %s", got, alice.ID)
	}
	if got := actor("2"); got != "2" {
		t.Errorf("actor of the integration's change = %v, want the proxy user 2", got)
	}

	var puts []Request
	for _, r := range s.Requests() {
		if r.Method == http.MethodPut {
			puts = append(puts, r)
		}
	}
	if len(puts) != 2 || puts[0].UserID != alice.ID || puts[1].UserID != "" {
		t.Errorf("PUT requests: %+v", puts)
	}

	if err := org.UpdateIssue(ctx, "acme", "1", sentry.IssueUpdate{AssignedTo: ptr("user:" + alice.ID)}); err != nil {
		t.Fatal(err)
	}
	mine, err := asAlice.SearchIssues(ctx, "acme", sentry.IssueQuery{Query: "assigned:me"})
	if err != nil {
		t.Fatal(err)
	}
	if got := issueIDs(mine); len(got) != 1 || got[0] != "1" {
		t.Errorf("assigned:me as alice = %v", got)
	}
	theirs, err := org.SearchIssues(ctx, "acme", sentry.IssueQuery{Query: "assigned:me"})
	if err != nil {
		t.Fatal(err)
	}
	if got := issueIDs(theirs); len(got) != 0 {
		t.Errorf("assigned:me as the integration = %v", got)
	}
}

func TestOAuth_Concurrent(t *testing.T) {
	s, _ := newFake(t, Options{})
	s.SetOAuthUser(alice)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 8 {
		wg.Go(func() {
			hc := browser(t)
			for range 5 {
				c, err := login(hc, s)
				if err != nil {
					errs <- err
					return
				}
				r, err := postToken(hc, s, refreshForm(s, c.str("refresh_token")), false)
				if err != nil || r.status != http.StatusOK {
					errs <- fmt.Errorf("refresh: %d %v %v", r.status, r.body, err)
					return
				}
				req, _ := http.NewRequest(http.MethodGet, s.URL()+"/api/0/", nil)
				req.Header.Set("Authorization", "Bearer "+r.str("access_token"))
				resp, err := hc.Do(req)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("whoami: %d", resp.StatusCode)
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			s.RevokeOAuth(bob.ID)
			s.TokenRequests()
			s.RefreshCount()
			s.Requests()
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := s.RefreshCount(); n != 40 {
		t.Errorf("RefreshCount = %d, want 40", n)
	}
	if n := len(s.TokenRequests()); n != 80 {
		t.Errorf("%d token requests, want 80", n)
	}
}
