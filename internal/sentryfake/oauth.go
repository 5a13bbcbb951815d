package sentryfake

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"sentrybot/sentry"
)

// The fake knows one OAuth application (Options.OAuthClientID and
// Options.OAuthClientSecret) and serves Sentry's authorization code flow
// for it: GET /oauth/authorize/ plays the browser of a user who is logged
// in (SetOAuthUser) and approves at once, POST /oauth/token/ exchanges the
// code or a refresh token, and the access tokens it issues authenticate API
// requests as that user. Sentry's own behaviour is followed where it is
// known (src/sentry/web/frontend/oauth_authorize.py and oauth_token.py,
// src/sentry/api/authentication.py); where it is stricter than Sentry,
// the doc comment says so.

const (
	authorizePath = "/oauth/authorize/"
	tokenPath     = "/oauth/token/"

	// defaultAccessTokenTTL and codeTTL are Sentry's lifetimes of an
	// access token and of an authorization code (ApiToken, ApiGrant).
	defaultAccessTokenTTL = 30 * 24 * time.Hour
	codeTTL               = 10 * time.Minute

	// expiresAtLayout is how Sentry's JSON encoder writes datetimes.
	expiresAtLayout = "2006-01-02T15:04:05.000000Z"
)

// knownScope reports whether Sentry knows scope; authorize refuses others
// with invalid_scope.
func knownScope(scope string) bool {
	switch scope {
	case "org:read", "org:write", "org:admin", "org:integrations",
		"member:read", "member:write", "member:admin", "member:invite",
		"team:read", "team:write", "team:admin",
		"project:read", "project:write", "project:admin", "project:releases", "project:distribution",
		"event:read", "event:write", "event:admin",
		"alerts:read", "alerts:write",
		"openid", "profile", "email":
		return true
	}
	return false
}

// TokenRequest is one call of POST /oauth/token/, without its secrets.
type TokenRequest struct {
	GrantType string // as sent: "authorization_code", "refresh_token", ... or ""
	ClientID  string // from the HTTP Basic header or the form
	BasicAuth bool   // the client authenticated with HTTP Basic
	Status    int    // the status the fake answered
	Error     string // the OAuth error code answered, e.g. "invalid_grant"; "" on success
	UserID    string // the user the issued tokens belong to; "" on error
	Time      time.Time
}

// oauthState is the fake's OAuth data; guarded by Server.mu.
type oauthState struct {
	now      func() time.Time
	login    *sentry.User // who is logged in to the browser; nil: nobody
	deny     bool         // the user clicks "Deny"
	codes    map[string]*oauthGrant
	access   map[string]*userToken // by access token
	refresh  map[string]*userToken // by refresh token
	requests []TokenRequest
	refreshs int // successful refresh_token grants
}

func newOAuthState() oauthState {
	return oauthState{
		now:     time.Now,
		codes:   map[string]*oauthGrant{},
		access:  map[string]*userToken{},
		refresh: map[string]*userToken{},
	}
}

// oauthGrant is an authorization code waiting to be exchanged.
type oauthGrant struct {
	clientID    string
	redirectURI string
	challenge   string // PKCE S256 code challenge
	scopes      []string
	user        sentry.User
	expires     time.Time
}

// userToken is an access token and its refresh token, as one Sentry
// ApiToken row: refreshing replaces both.
type userToken struct {
	access  string
	refresh string
	user    sentry.User
	scopes  []string
	expires time.Time
}

// caller is who an API request acts as.
type caller struct {
	user   sentry.User
	scopes []string
	userID string // the OAuth user's id; "" for the organization token
}

type callerKey struct{}

// callerOf returns who the request acts as, as ServeHTTP authenticated it.
func (s *Server) callerOf(r *http.Request) caller {
	if c, ok := r.Context().Value(callerKey{}).(caller); ok {
		return c
	}
	return caller{user: s.user, scopes: s.opts.Scopes}
}

// authenticate reads an Authorization header: the organization token, or a
// live OAuth access token. It returns Sentry's detail message when the
// header does not authenticate; s.mu must be held.
func (s *Server) authenticate(auth string) (caller, string) {
	if auth == "Bearer "+s.opts.Token {
		return caller{user: s.user, scopes: s.opts.Scopes}, ""
	}
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		return caller{}, "Invalid token"
	}
	t := s.oauth.access[tok]
	if t == nil {
		return caller{}, "Invalid token"
	}
	if !s.oauth.now().Before(t.expires) {
		return caller{}, "Token expired"
	}
	return caller{user: t.user, scopes: append([]string{}, t.scopes...), userID: t.user.ID}, ""
}

// OAuthClientID is the client id of the fake's OAuth application.
func (s *Server) OAuthClientID() string { return s.opts.OAuthClientID }

// OAuthClientSecret is the client secret of the fake's OAuth application.
func (s *Server) OAuthClientSecret() string { return s.opts.OAuthClientSecret }

// SetOAuthUser logs u in to the browser that GET /oauth/authorize/ plays:
// later authorizations issue codes, and so tokens, for u. A user with an
// empty ID logs out. The fake does not check that u is a member of the
// organization; add a member with the same user id for assignments to u.
func (s *Server) SetOAuthUser(u sentry.User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.ID == "" {
		s.oauth.login = nil
		return
	}
	s.oauth.login = &u
}

// SetOAuthDeny makes the logged-in user deny (true) or approve (false, the
// default) later authorizations.
func (s *Server) SetOAuthDeny(deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.deny = deny
}

// RevokeOAuth revokes the application's authorization for a user, as the
// user can in Sentry's settings: every access and refresh token and every
// unused code of that user stops working.
func (s *Server) RevokeOAuth(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.oauth.access {
		if t.user.ID == userID {
			delete(s.oauth.access, k)
			delete(s.oauth.refresh, t.refresh)
		}
	}
	for k, g := range s.oauth.codes {
		if g.user.ID == userID {
			delete(s.oauth.codes, k)
		}
	}
}

// ExpireAccessTokens makes every access token issued so far expire now:
// the API answers them 401 "Token expired", while their refresh tokens
// still work. Tokens issued later live their full AccessTokenTTL.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.oauth.now()
	for _, t := range s.oauth.access {
		t.expires = now
	}
}

// TokenRequests returns every call of POST /oauth/token/ so far, oldest
// first.
func (s *Server) TokenRequests() []TokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.oauth.requests)
}

// RefreshCount reports how many refresh_token grants succeeded.
func (s *Server) RefreshCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.oauth.refreshs
}

// setClock replaces the OAuth clock; tests use it to pass expiry times
// without sleeping.
func (s *Server) setClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.now = now
}

// authorize answers GET /oauth/authorize/ as a browser whose user is logged
// in and approves (or denies, see SetOAuthDeny) at once. Problems with the
// client or the redirect URI get an error page, as in Sentry; later
// problems go back to the redirect URI as error=...&state=.... Unlike
// Sentry, the fake requires PKCE with S256 (error=invalid_request
// otherwise), since sentrybot always sends it, and a redirect_uri.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != s.opts.OAuthClientID {
		oauthErrorPage(w, "Missing or invalid client_id parameter.")
		return
	}
	target, ok := s.redirectTarget(q.Get("redirect_uri"))
	if !ok {
		oauthErrorPage(w, "Missing or invalid redirect_uri parameter.")
		return
	}
	state := q.Get("state")
	back := func(params url.Values) {
		if state != "" {
			params.Set("state", state)
		}
		redirectTo(w, target, params)
	}
	if q.Get("response_type") != "code" {
		back(url.Values{"error": {"unsupported_response_type"}})
		return
	}
	scopes := strings.Fields(q.Get("scope"))
	for _, sc := range scopes {
		if !knownScope(sc) {
			back(url.Values{"error": {"invalid_scope"}})
			return
		}
	}
	challenge := q.Get("code_challenge")
	if q.Get("code_challenge_method") != "S256" || !validChallenge(challenge) {
		back(url.Values{"error": {"invalid_request"}})
		return
	}

	s.mu.Lock()
	login, deny := s.oauth.login, s.oauth.deny
	var code string
	if login != nil && !deny {
		code = randomHex(16)
		s.oauth.codes[code] = &oauthGrant{
			clientID:    s.opts.OAuthClientID,
			redirectURI: q.Get("redirect_uri"),
			challenge:   challenge,
			scopes:      slices.Clip(scopes),
			user:        *login,
			expires:     s.oauth.now().Add(codeTTL),
		}
	}
	s.mu.Unlock()

	switch {
	case login == nil:
		oauthErrorPage(w, "sentryfake: nobody is logged in; call SetOAuthUser first.")
	case deny:
		back(url.Values{"error": {"access_denied"}})
	default:
		back(url.Values{"code": {code}})
	}
}

// redirectTarget checks a redirect_uri: registered, or with nothing
// registered any absolute http(s) URL without a fragment.
func (s *Server) redirectTarget(raw string) (*url.URL, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		return nil, false
	}
	if len(s.opts.OAuthRedirectURIs) > 0 && !slices.Contains(s.opts.OAuthRedirectURIs, raw) {
		return nil, false
	}
	return u, true
}

// redirectTo answers 302 to target with params added to its query.
func redirectTo(w http.ResponseWriter, target *url.URL, params url.Values) {
	u := *target
	q := u.Query()
	for k, vs := range params {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Location", u.String())
	w.WriteHeader(http.StatusFound)
}

// oauthErrorPage is the HTML page Sentry shows when it cannot send the
// browser back to the application.
func oauthErrorPage(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, "<html><body><h1>Authorization failed</h1><p>%s</p></body></html>\n", html.EscapeString(msg))
}

// validChallenge reports whether c can be an S256 code challenge: the
// unpadded base64url encoding of 32 bytes.
func validChallenge(c string) bool {
	b, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil && len(b) == sha256.Size
}

// validVerifier reports whether v is a PKCE code verifier as RFC 7636
// defines it: 43 to 128 unreserved characters.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range v {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~", c)) {
			return false
		}
	}
	return true
}

// token answers POST /oauth/token/ as Sentry's OAuthTokenView: errors are
// {"error": code}, 401 with WWW-Authenticate for invalid_client, 400
// otherwise; nothing is cached.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	t, status, errName := s.exchange(r)
	w.Header().Set("Cache-Control", "max-age=0, no-cache, no-store, must-revalidate, private")
	if errName != "" {
		if errName == "invalid_client" {
			w.Header().Set("WWW-Authenticate", `Basic realm="oauth"`)
		}
		writeJSON(w, status, map[string]string{"error": errName})
		return
	}
	writeJSON(w, status, t)
}

// tokenBody is the success answer of POST /oauth/token/.
type tokenBody struct {
	AccessToken  string        `json:"access_token"`
	RefreshToken string        `json:"refresh_token"`
	ExpiresIn    int           `json:"expires_in"`
	ExpiresAt    string        `json:"expires_at"`
	TokenType    string        `json:"token_type"`
	Scope        string        `json:"scope"`
	User         tokenBodyUser `json:"user"`
}

type tokenBodyUser struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// exchange runs one token request and records it.
func (s *Server) exchange(r *http.Request) (*tokenBody, int, string) {
	_ = r.ParseForm() // a body that is not a form leaves PostForm empty: invalid_request below
	form := r.PostForm
	rec := TokenRequest{GrantType: form.Get("grant_type"), Time: time.Now()}

	s.mu.Lock()
	defer s.mu.Unlock()
	t, status, errName := s.grantTokens(r, form, &rec)
	rec.Status, rec.Error = status, errName
	var body *tokenBody
	if t != nil {
		rec.UserID = t.user.ID
		body = &tokenBody{
			AccessToken:  t.access,
			RefreshToken: t.refresh,
			ExpiresIn:    int(t.expires.Sub(s.oauth.now()).Seconds()),
			ExpiresAt:    t.expires.UTC().Format(expiresAtLayout),
			TokenType:    "Bearer",
			Scope:        strings.Join(t.scopes, " "),
			User:         tokenBodyUser{ID: t.user.ID, Name: t.user.Name, Email: t.user.Email},
		}
	}
	s.oauth.requests = append(s.oauth.requests, rec)
	return body, status, errName
}

// grantTokens checks the grant type and the client, then the code or the
// refresh token, and issues tokens; s.mu must be held.
func (s *Server) grantTokens(r *http.Request, form url.Values, rec *TokenRequest) (*userToken, int, string) {
	switch rec.GrantType {
	case "":
		return nil, http.StatusBadRequest, "invalid_request"
	case "authorization_code", "refresh_token":
	default:
		return nil, http.StatusBadRequest, "unsupported_grant_type"
	}

	id, secret, basic, status, errName := clientCredentials(r, form)
	if errName != "" {
		return nil, status, errName
	}
	rec.ClientID, rec.BasicAuth = id, basic
	if id == "" || secret == "" || id != s.opts.OAuthClientID ||
		subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.OAuthClientSecret)) != 1 {
		return nil, http.StatusUnauthorized, "invalid_client"
	}

	now := s.oauth.now()
	if rec.GrantType == "refresh_token" {
		rt := form.Get("refresh_token")
		if rt == "" || form.Get("scope") != "" {
			return nil, http.StatusBadRequest, "invalid_request" // Sentry does not support narrowing scopes
		}
		old := s.oauth.refresh[rt]
		if old == nil {
			return nil, http.StatusBadRequest, "invalid_grant"
		}
		delete(s.oauth.access, old.access)
		delete(s.oauth.refresh, old.refresh)
		s.oauth.refreshs++
		return s.issue(old.user, old.scopes, now), http.StatusOK, ""
	}

	// A failed exchange leaves the code usable; a successful one uses it up.
	code := form.Get("code")
	g := s.oauth.codes[code]
	switch {
	case g == nil || g.clientID != id:
		return nil, http.StatusBadRequest, "invalid_grant"
	case !now.Before(g.expires):
		delete(s.oauth.codes, code)
		return nil, http.StatusBadRequest, "invalid_grant"
	case form.Get("redirect_uri") != g.redirectURI:
		return nil, http.StatusBadRequest, "invalid_grant"
	}
	v := form.Get("code_verifier")
	sum := sha256.Sum256([]byte(v))
	if !validVerifier(v) || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
		return nil, http.StatusBadRequest, "invalid_grant"
	}
	delete(s.oauth.codes, code)
	return s.issue(g.user, g.scopes, now), http.StatusOK, ""
}

// clientCredentials reads the client's id and secret from an HTTP Basic
// header or from the form, as Sentry does: both at once is
// invalid_request, a malformed Basic header invalid_client.
func clientCredentials(r *http.Request, form url.Values) (id, secret string, basic bool, status int, errName string) {
	inForm := form.Get("client_id") != "" || form.Get("client_secret") != ""
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Basic") {
		return form.Get("client_id"), form.Get("client_secret"), false, 0, ""
	}
	if inForm {
		return "", "", false, http.StatusBadRequest, "invalid_request"
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		return "", "", false, http.StatusUnauthorized, "invalid_client"
	}
	return id, secret, true, 0, ""
}

// issue creates a token pair for u; s.mu must be held.
func (s *Server) issue(u sentry.User, scopes []string, now time.Time) *userToken {
	t := &userToken{
		access:  randomHex(32),
		refresh: randomHex(32),
		user:    u,
		scopes:  scopes,
		expires: now.Add(s.opts.AccessTokenTTL),
	}
	s.oauth.access[t.access] = t
	s.oauth.refresh[t.refresh] = t
	return t
}

// randomHex returns n random bytes in hex, as Sentry's uuid4().hex codes
// and tokens look.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails
	return hex.EncodeToString(b)
}
