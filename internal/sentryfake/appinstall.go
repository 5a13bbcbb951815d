package sentryfake

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// An Integration fakes what Sentry does for a public integration (a Sentry
// App) installed in organizations: it makes installations and their grant
// codes, serves POST /api/0/sentry-app-installations/{uuid}/authorizations/
// to exchange a code for an 8-hour token and to refresh it, and accepts
// those tokens on the Web API. It listens on a loopback port of its own in
// front of a Server: a request carrying a live installation token reaches
// the Server as the organization token would, every other request as it
// came.
//
// Sentry's behaviour is followed where it is known
// (src/sentry/sentry_apps/api/endpoints/sentry_app_authorizations.py,
// token_exchange/grant_exchanger.py and refresher.py,
// ClientIdSecretAuthentication; docs: "Public Integrations"): the client
// authenticates with client_id and client_secret in the JSON body (401
// "Invalid Client ID / Secret pair"); an unknown, used or expired code or
// refresh token is 401; another grant type 403; success is 201 with the
// token, refreshToken and expiresAt; a refresh deletes the previous pair.
// The manual refresh Sentry added for a refresh whose answer was lost
// (grant type urn:sentry:params:oauth:grant-type:jwt-bearer, authenticated
// by a JWT signed HS256 with the client secret) is served too.

const (
	// appTokenTTL is how long an installation token lives (TOKEN_LIFE_IN_HOURS).
	appTokenTTL = 8 * time.Hour
	// appExpiresAtLayout is how the docs' example writes expiresAt.
	appExpiresAtLayout = "2006-01-02T15:04:05.000Z"
	// jwtBearerGrant is the grant type of the manual refresh.
	jwtBearerGrant = "urn:sentry:params:oauth:grant-type:jwt-bearer"
)

// IntegrationOptions configures an Integration.
type IntegrationOptions struct {
	// ClientID and ClientSecret identify the integration; defaults
	// "fake-app-client" and "fake-app-secret". Sentry signs the
	// integration's webhooks with the same secret.
	ClientID     string
	ClientSecret string
	// Slug is the integration's slug, as webhooks name it; default
	// "sentrybot".
	Slug string
	// TokenTTL is how long an installation token lives; default 8 hours.
	TokenTTL time.Duration
	// Now is the clock of codes, tokens and JWTs; default time.Now. Tests
	// share one with the code under test to pass expiry times without
	// sleeping.
	Now func() time.Time
}

// AppInstallation is an installation of the integration, as Sentry makes it
// before it sends the installation.created webhook.
type AppInstallation struct {
	UUID string // Sentry's id of the installation
	Org  string // slug of the organization it is installed in
	Code string // the grant code, valid 10 minutes and once
	Slug string // the integration's slug
}

// Webhook is the body of the installation webhook with action ("created"
// or "deleted") for in, as Sentry's documentation shows it. Only the
// created webhook carries the code.
func (in AppInstallation) Webhook(action string) []byte {
	inst := map[string]any{
		"uuid":         in.UUID,
		"status":       "pending",
		"organization": map[string]string{"slug": in.Org},
		"app":          map[string]string{"uuid": "2ebf071f-28df-4989-aca9-c37c763b278f", "slug": in.Slug},
	}
	if action == "created" {
		inst["code"] = in.Code
	} else {
		inst["status"] = "installed"
	}
	b, _ := json.Marshal(map[string]any{
		"action":       action,
		"actor":        map[string]any{"id": 1, "name": "Meredith Heller", "type": "user"},
		"data":         map[string]any{"installation": inst},
		"installation": map[string]string{"uuid": in.UUID},
	})
	return b
}

// AppExchange is one call of the authorizations endpoint, without its
// secrets.
type AppExchange struct {
	Installation string // the uuid in the path
	GrantType    string // as sent
	Status       int    // the status answered
	Generation   int    // of the token issued (see AppRequest); 0 when none was
	Time         time.Time
}

// AppRequest is one Web API request the Integration passed on or refused.
type AppRequest struct {
	Method, Path string
	// Installation is the uuid of the installation whose token the request
	// carried; "" for any other token, or none.
	Installation string
	// Generation says which of the installation's tokens: 1 for the one the
	// code gave, n+1 after n refreshes.
	Generation int
	Status     int // the status answered
}

// Integration is a running fake of a public integration; see the comment
// at the top of this file. Its methods are safe for concurrent use.
type Integration struct {
	srv     *Server
	opts    IntegrationOptions
	url     string
	httpSrv *http.Server
	mux     *http.ServeMux

	mu        sync.Mutex
	installs  map[string]*appInstall // by uuid
	codes     map[string]*appCode    // by code
	tokens    map[string]*appToken   // by token, live or not, so old ones are recognised
	refresh   map[string]*appToken   // live pairs by refresh token
	jtis      map[string]bool        // JWT ids already used
	exchanges []AppExchange
	requests  []AppRequest
	failN     int // the next failN exchanges answer failStatus
	failCode  int
	dropN     int // the next dropN exchanges are carried out, but the answer is lost
	closed    bool
}

type appInstall struct {
	uuid, org  string
	generation int // tokens issued so far
}

type appCode struct {
	uuid    string
	expires time.Time
}

type appToken struct {
	uuid, token, refresh string
	generation           int
	expires              time.Time
	live                 bool
}

// NewIntegration starts an Integration in front of s on 127.0.0.1 with a
// random port. It panics if it cannot listen; call Close when done (before
// closing s).
func NewIntegration(s *Server, opts IntegrationOptions) *Integration {
	if opts.ClientID == "" {
		opts.ClientID = "fake-app-client"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "fake-app-secret"
	}
	if opts.Slug == "" {
		opts.Slug = "sentrybot"
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = appTokenTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("sentryfake: listen on loopback: %v", err))
	}
	a := &Integration{
		srv:      s,
		opts:     opts,
		url:      "http://" + ln.Addr().String(),
		mux:      http.NewServeMux(),
		installs: map[string]*appInstall{},
		codes:    map[string]*appCode{},
		tokens:   map[string]*appToken{},
		refresh:  map[string]*appToken{},
		jtis:     map[string]bool{},
	}
	a.mux.Handle("/api/0/sentry-app-installations/{uuid}/authorizations/{$}", methods{http.MethodPost: a.authorizations})
	a.mux.HandleFunc("/", a.forward)
	a.httpSrv = &http.Server{Handler: a.mux, ReadHeaderTimeout: 10 * time.Second}
	go a.httpSrv.Serve(ln)
	return a
}

// URL is the base URL to configure clients with: the authorizations
// endpoint and the Web API both live there.
func (a *Integration) URL() string { return a.url }

// ClientID is the integration's client id.
func (a *Integration) ClientID() string { return a.opts.ClientID }

// ClientSecret is the integration's client secret, which also signs its
// webhooks.
func (a *Integration) ClientSecret() string { return a.opts.ClientSecret }

// Close stops the Integration and waits for requests in flight.
func (a *Integration) Close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.httpSrv.Shutdown(ctx); err != nil {
		a.httpSrv.Close()
	}
}

// Install installs the integration in org: a new installation and its
// grant code, which the installation.created webhook carries.
func (a *Integration) Install(org string) AppInstallation {
	a.mu.Lock()
	defer a.mu.Unlock()
	in := AppInstallation{UUID: newUUID(), Org: org, Code: randomHex(16), Slug: a.opts.Slug}
	a.installs[in.UUID] = &appInstall{uuid: in.UUID, org: org}
	a.codes[in.Code] = &appCode{uuid: in.UUID, expires: a.opts.Now().Add(codeTTL)}
	return in
}

// Uninstall removes the installation uuid: its code and tokens stop
// working, and its uuid names nothing.
func (a *Integration) Uninstall(uuid string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.installs, uuid)
	for k, c := range a.codes {
		if c.uuid == uuid {
			delete(a.codes, k)
		}
	}
	a.retire(uuid)
}

// CurrentToken is the live token of the installation uuid, or "". Tests
// use it to check that a token never reaches a log or the disk.
func (a *Integration) CurrentToken(uuid string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range a.refresh {
		if t.uuid == uuid {
			return t.token
		}
	}
	return ""
}

// ExpireTokens makes every live installation token expire now: the Web API
// answers them 401 "Token expired", while their refresh tokens still work.
func (a *Integration) ExpireTokens() {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.opts.Now()
	for _, t := range a.refresh {
		t.expires = now
	}
}

// FailAuthorizations makes the next n calls of the authorizations endpoint
// answer status without doing anything.
func (a *Integration) FailAuthorizations(status, n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failN, a.failCode = n, status
}

// DropAuthorizationAnswers makes the next n calls of the authorizations
// endpoint do their work (a refresh then deletes the previous pair) and
// answer 504 instead of the tokens, as when an answer is lost on the way
// back.
func (a *Integration) DropAuthorizationAnswers(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dropN = n
}

// Exchanges returns every call of the authorizations endpoint so far,
// oldest first.
func (a *Integration) Exchanges() []AppExchange {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.exchanges)
}

// APIRequests returns every Web API request so far, oldest first.
func (a *Integration) APIRequests() []AppRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.requests)
}

// forward passes a Web API request on to the Server, as the organization
// token when it carries a live installation token.
func (a *Integration) forward(w http.ResponseWriter, r *http.Request) {
	rec := AppRequest{Method: r.Method, Path: r.URL.Path}
	// A copy: retire and ExpireTokens change the pair under a.mu.
	var t *appToken
	a.mu.Lock()
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && a.tokens[tok] != nil {
		cp := *a.tokens[tok]
		t = &cp
	}
	now := a.opts.Now()
	a.mu.Unlock()

	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	switch {
	case t == nil:
		a.srv.ServeHTTP(sw, r)
	case !t.live:
		writeJSON(sw, http.StatusUnauthorized, detail("Invalid token"))
	case !now.Before(t.expires):
		writeJSON(sw, http.StatusUnauthorized, detail("Token expired"))
	default:
		r2 := r.Clone(r.Context())
		r2.Header.Set("Authorization", "Bearer "+a.srv.Token())
		a.srv.ServeHTTP(sw, r2)
	}
	if t != nil {
		rec.Installation, rec.Generation = t.uuid, t.generation
	}
	rec.Status = sw.status
	a.mu.Lock()
	a.requests = append(a.requests, rec)
	a.mu.Unlock()
}

// statusWriter remembers the status written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// authorizationRequest is the JSON body of the authorizations endpoint.
type authorizationRequest struct {
	GrantType    string `json:"grant_type"`
	Code         string `json:"code"`
	RefreshToken string `json:"refresh_token"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// authorizationBody is the endpoint's success answer (ApiTokenSerializer).
type authorizationBody struct {
	ID           string   `json:"id"`
	Token        string   `json:"token"`
	RefreshToken string   `json:"refreshToken"`
	DateCreated  string   `json:"dateCreated"`
	ExpiresAt    string   `json:"expiresAt"`
	Scopes       []string `json:"scopes"`
	State        *string  `json:"state"`
	Application  *string  `json:"application"`
}

func (a *Integration) authorizations(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxRecordedBody))
	var req authorizationRequest
	jsonErr := json.Unmarshal(body, &req)
	uuid := r.PathValue("uuid")
	rec := AppExchange{Installation: uuid, GrantType: req.GrantType, Time: a.opts.Now()}

	a.mu.Lock()
	var t *appToken
	var status int
	var msg string
	switch {
	case a.failN > 0:
		a.failN--
		status, msg = a.failCode, http.StatusText(a.failCode)
	case jsonErr != nil || len(body) == 0:
		status, msg = http.StatusUnauthorized, "Invalid request"
	default:
		t, status, msg = a.grant(r, uuid, req)
	}
	if t != nil && a.dropN > 0 {
		a.dropN--
		t, status, msg = nil, http.StatusGatewayTimeout, http.StatusText(http.StatusGatewayTimeout)
	}
	var answer *authorizationBody
	if t != nil {
		rec.Generation = t.generation
		now := a.opts.Now().UTC()
		answer = &authorizationBody{
			ID: strconv.Itoa(len(a.exchanges) + 1), Token: t.token, RefreshToken: t.refresh,
			DateCreated: now.Format(appExpiresAtLayout), ExpiresAt: t.expires.UTC().Format(appExpiresAtLayout),
			Scopes: a.srv.opts.Scopes,
		}
	}
	rec.Status = status
	a.exchanges = append(a.exchanges, rec)
	a.mu.Unlock()

	if answer == nil {
		if status == http.StatusGatewayTimeout {
			// What a gateway answers; Sentry's answer never arrived.
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>\n", status, msg)
			return
		}
		writeJSON(w, status, detail(msg))
		return
	}
	writeJSON(w, http.StatusCreated, answer)
}

// grant authenticates the client, then carries out the grant; a.mu must be
// held. It returns the token pair issued, or the status and detail of the
// refusal.
func (a *Integration) grant(r *http.Request, uuid string, req authorizationRequest) (*appToken, int, string) {
	now := a.opts.Now()
	if req.GrantType == jwtBearerGrant {
		if !a.validJWT(r.Header.Get("Authorization"), now) {
			return nil, http.StatusUnauthorized, "Invalid JWT"
		}
	} else if req.ClientID != a.opts.ClientID ||
		subtle.ConstantTimeCompare([]byte(req.ClientSecret), []byte(a.opts.ClientSecret)) != 1 || req.ClientSecret == "" {
		return nil, http.StatusUnauthorized, "Invalid Client ID / Secret pair"
	}
	in := a.installs[uuid]
	if in == nil {
		return nil, http.StatusNotFound, "The requested resource does not exist"
	}

	switch req.GrantType {
	case "authorization_code":
		c := a.codes[req.Code]
		switch {
		case req.Code == "" || c == nil:
			return nil, http.StatusUnauthorized, "Could not find grant for given code"
		case c.uuid != uuid:
			return nil, http.StatusUnauthorized, "Forbidden grant"
		case !now.Before(c.expires):
			return nil, http.StatusUnauthorized, "Grant has already expired"
		}
		delete(a.codes, req.Code)
	case "refresh_token":
		old := a.refresh[req.RefreshToken]
		switch {
		case req.RefreshToken == "" || old == nil:
			return nil, http.StatusUnauthorized, "Given refresh token does not exist"
		case old.uuid != uuid:
			return nil, http.StatusUnauthorized, "Token does not belong to the application"
		}
	case jwtBearerGrant:
	default:
		return nil, http.StatusForbidden, "Invalid grant_type"
	}
	a.retire(uuid)
	in.generation++
	t := &appToken{uuid: uuid, token: randomHex(32), refresh: randomHex(32), generation: in.generation,
		expires: now.Add(a.opts.TokenTTL), live: true}
	a.tokens[t.token] = t
	a.refresh[t.refresh] = t
	return t, http.StatusCreated, ""
}

// retire ends every live pair of the installation uuid; a.mu must be held.
func (a *Integration) retire(uuid string) {
	for k, t := range a.refresh {
		if t.uuid == uuid {
			t.live = false
			delete(a.refresh, k)
		}
	}
}

// validJWT checks the Authorization header of a manual refresh: a JWT
// signed HS256 with the client secret, issued by and about the client,
// not expired and not seen before; a.mu must be held.
func (a *Integration) validJWT(auth string, now time.Time) bool {
	raw, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		return false
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return false
	}
	m := hmac.New(sha256.New, []byte(a.opts.ClientSecret))
	m.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, m.Sum(nil)) {
		return false
	}
	var header struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Iss string  `json:"iss"`
		Sub string  `json:"sub"`
		Iat float64 `json:"iat"`
		Exp float64 `json:"exp"`
		Jti string  `json:"jti"`
	}
	if !decodeSegment(parts[0], &header) || header.Alg != "HS256" || !decodeSegment(parts[1], &claims) {
		return false
	}
	if claims.Iss != a.opts.ClientID || claims.Sub != a.opts.ClientID || claims.Jti == "" || a.jtis[claims.Jti] {
		return false
	}
	if float64(now.Unix()) >= claims.Exp {
		return false
	}
	a.jtis[claims.Jti] = true
	return true
}

func decodeSegment(seg string, v any) bool {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	return err == nil && json.Unmarshal(b, v) == nil
}

// newUUID returns a random version 4 UUID, the form of Sentry's
// installation ids.
func newUUID() string {
	h := randomHex(16)
	b := []byte(h)
	b[12] = '4'
	b[16] = "89ab"[int(b[16])%4]
	return string(b[0:8]) + "-" + string(b[8:12]) + "-" + string(b[12:16]) + "-" + string(b[16:20]) + "-" + string(b[20:32])
}
