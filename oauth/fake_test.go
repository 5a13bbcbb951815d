package oauth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"sentrybot/sentry"
)

// fakeSentry speaks Sentry's OAuth protocol: GET /oauth/authorize/ plays a
// browser whose user is signed in and approves at once, POST /oauth/token/
// exchanges codes (checking PKCE S256) and refresh tokens.
type fakeSentry struct {
	t            *testing.T
	srv          *httptest.Server
	now          func() time.Time
	clientID     string
	clientSecret string
	tokenTTL     time.Duration

	mu           sync.Mutex
	user         sentry.User // who signs in
	deny         bool        // the user clicks Deny
	badChallenge bool        // record a challenge that no verifier matches
	refreshMode  string      // "": answer; "invalid_grant"; "500"
	refreshGate  func()      // called before a refresh is answered
	codes        map[string]fakeCode
	refreshTok   map[string]sentry.User
	refreshes    int      // refresh requests received
	exchanges    int      // authorization_code requests received
	verifiers    []string // code_verifier values received
	challenges   []string // code_challenge values received
	secrets      []string // every code, verifier and token seen or issued
	access       string   // the access token issued last
	refresh      string   // the refresh token issued last
}

type fakeCode struct {
	challenge, redirectURI string
	user                   sentry.User
}

func newFakeSentry(t *testing.T, now func() time.Time) *fakeSentry {
	f := &fakeSentry{
		t: t, now: now,
		clientID: "client-id-123", clientSecret: "client-secret-very-private",
		tokenTTL:   30 * 24 * time.Hour,
		user:       sentry.User{ID: "42", Name: "Alice", Email: "alice@example.com"},
		codes:      map[string]fakeCode{},
		refreshTok: map[string]sentry.User{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth/authorize/", f.authorize)
	mux.HandleFunc("POST /oauth/token/", f.token)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSentry) random() string {
	b := make([]byte, 20)
	rand.Read(b)
	v := hex.EncodeToString(b)
	f.secrets = append(f.secrets, v)
	return v
}

func (f *fakeSentry) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || back.Host == "" || q.Get("client_id") != f.clientID {
		http.Error(w, "bad client or redirect_uri", http.StatusBadRequest)
		return
	}
	params := url.Values{"state": {q.Get("state")}}
	f.mu.Lock()
	f.challenges = append(f.challenges, q.Get("code_challenge"))
	switch {
	case q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		params.Set("error", "invalid_request")
	case f.deny:
		params.Set("error", "access_denied")
	default:
		code := f.random()
		challenge := q.Get("code_challenge")
		if f.badChallenge {
			challenge = "not-the-challenge"
		}
		f.codes[code] = fakeCode{challenge: challenge, redirectURI: q.Get("redirect_uri"), user: f.user}
		params.Set("code", code)
	}
	f.mu.Unlock()
	back.RawQuery = params.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (f *fakeSentry) token(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	form := r.PostForm
	if form.Get("client_id") != f.clientID || form.Get("client_secret") != f.clientSecret {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	switch form.Get("grant_type") {
	case "authorization_code":
		f.exchange(w, form)
	case "refresh_token":
		f.refreshToken(w, form)
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
	}
}

func (f *fakeSentry) exchange(w http.ResponseWriter, form url.Values) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.exchanges++
	v := form.Get("code_verifier")
	f.verifiers = append(f.verifiers, v)
	f.secrets = append(f.secrets, v)
	c, ok := f.codes[form.Get("code")]
	sum := sha256.Sum256([]byte(v))
	if !ok || c.redirectURI != form.Get("redirect_uri") || base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	delete(f.codes, form.Get("code"))
	f.issue(w, c.user)
}

func (f *fakeSentry) refreshToken(w http.ResponseWriter, form url.Values) {
	f.mu.Lock()
	f.refreshes++
	gate, mode := f.refreshGate, f.refreshMode
	f.mu.Unlock()
	if gate != nil {
		gate()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch mode {
	case "500":
		http.Error(w, "<html>oops</html>", http.StatusInternalServerError)
		return
	case "invalid_grant":
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	u, ok := f.refreshTok[form.Get("refresh_token")]
	if !ok {
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	delete(f.refreshTok, form.Get("refresh_token"))
	f.issue(w, u)
}

// issue answers a new token pair for u; f.mu is held.
func (f *fakeSentry) issue(w http.ResponseWriter, u sentry.User) {
	f.access, f.refresh = "acc_"+f.random(), "ref_"+f.random()
	f.secrets = append(f.secrets, f.access, f.refresh)
	f.refreshTok[f.refresh] = u
	exp := f.now().Add(f.tokenTTL)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": f.access, "refresh_token": f.refresh,
		"expires_in": int(f.tokenTTL.Seconds()), "expires_at": exp.UTC().Format("2006-01-02T15:04:05.000000Z"),
		"token_type": "bearer", "scope": Scopes,
		"user": map[string]string{"id": u.ID, "name": u.Name, "email": u.Email},
	})
}

func oauthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": "refused by the fake"})
}

// state returns the fake's counters and the tokens issued last.
func (f *fakeSentry) state() (exchanges, refreshes int, access, refresh string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.exchanges, f.refreshes, f.access, f.refresh
}

func (f *fakeSentry) set(fn func(f *fakeSentry)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeSentry) allSecrets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string{f.clientSecret}, f.secrets...)
}
