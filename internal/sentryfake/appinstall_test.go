package sentryfake

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"sentrybot/internal/testkit"
)

type appRig struct {
	t   *testing.T
	srv *Server
	app *Integration
	clk *testkit.Clock
	hc  *http.Client
}

func newAppRig(t *testing.T) *appRig {
	t.Helper()
	clk := testkit.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	srv := New(Options{})
	app := NewIntegration(srv, IntegrationOptions{Now: clk.Now})
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		app.Close()
		srv.Close()
	})
	return &appRig{t: t, srv: srv, app: app, clk: clk, hc: &http.Client{Transport: tr, Timeout: 5 * time.Second}}
}

// answer is a decoded answer of the authorizations endpoint.
type answer struct {
	status int
	body   map[string]any
	raw    []byte
}

func (a answer) str(key string) string { s, _ := a.body[key].(string); return s }

// exchange posts body to the authorizations endpoint of uuid, with an
// Authorization header when auth is not "".
func (rg *appRig) exchange(uuid string, body map[string]string, auth string) answer {
	rg.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, rg.app.URL()+"/api/0/sentry-app-installations/"+uuid+"/authorizations/", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := rg.hc.Do(req)
	if err != nil {
		rg.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: raw}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func (rg *appRig) codeBody(code string) map[string]string {
	return map[string]string{"grant_type": "authorization_code", "code": code,
		"client_id": rg.app.ClientID(), "client_secret": rg.app.ClientSecret()}
}

func (rg *appRig) refreshBody(refresh string) map[string]string {
	return map[string]string{"grant_type": "refresh_token", "refresh_token": refresh,
		"client_id": rg.app.ClientID(), "client_secret": rg.app.ClientSecret()}
}

// api calls GET /api/0/organizations/acme/ with token through the
// Integration and returns the status.
func (rg *appRig) api(token string) int {
	rg.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, rg.app.URL()+"/api/0/organizations/acme/", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := rg.hc.Do(req)
	if err != nil {
		rg.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (rg *appRig) mustExchange(uuid string, body map[string]string) answer {
	rg.t.Helper()
	a := rg.exchange(uuid, body, "")
	if a.status != http.StatusCreated || a.str("token") == "" || a.str("refreshToken") == "" {
		rg.t.Fatalf("exchange: %d %s", a.status, a.raw)
	}
	return a
}

func wantRefused(t *testing.T, what string, a answer, status int, detail string) {
	t.Helper()
	if a.status != status || a.str("detail") != detail || a.str("token") != "" {
		t.Errorf("%s: %d %s, want %d %q", what, a.status, a.raw, status, detail)
	}
}

// jwtFor signs claims HS256 with secret, as the manual refresh needs.
func jwtFor(secret string, claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "HS256", "typ": "JWT"}) + "." + enc(claims)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestIntegrationExchange(t *testing.T) {
	rg := newAppRig(t)
	in := rg.app.Install("acme")
	if in.UUID == "" || in.Code == "" || in.Org != "acme" {
		t.Fatalf("Install = %+v", in)
	}

	a := rg.mustExchange(in.UUID, rg.codeBody(in.Code))
	exp, err := time.Parse(time.RFC3339Nano, a.str("expiresAt"))
	if err != nil || !exp.Equal(rg.clk.Now().Add(8*time.Hour)) {
		t.Errorf("expiresAt %q (%v), want 8 hours from now", a.str("expiresAt"), err)
	}
	if scopes, _ := a.body["scopes"].([]any); len(scopes) == 0 {
		t.Errorf("answer has no scopes: %s", a.raw)
	}
	if got := rg.app.CurrentToken(in.UUID); got != a.str("token") {
		t.Errorf("CurrentToken = %q, want the issued token", got)
	}

	if st := rg.api(a.str("token")); st != http.StatusOK {
		t.Fatalf("API call with the installation token: %d", st)
	}
	if st := rg.api(rg.srv.Token()); st != http.StatusOK {
		t.Fatalf("API call with the organization token: %d", st)
	}
	reqs := rg.app.APIRequests()
	if len(reqs) != 2 || reqs[0].Installation != in.UUID || reqs[0].Generation != 1 || reqs[0].Status != 200 ||
		reqs[1].Installation != "" || reqs[1].Status != 200 {
		t.Errorf("API requests = %+v", reqs)
	}
	if n := rg.srv.Count(http.MethodGet, "/api/0/organizations/acme/"); n != 2 {
		t.Errorf("the Server saw %d calls, want both passed on", n)
	}
	ex := rg.app.Exchanges()
	if len(ex) != 1 || ex[0].Installation != in.UUID || ex[0].GrantType != "authorization_code" || ex[0].Status != 201 || ex[0].Generation != 1 {
		t.Errorf("Exchanges = %+v", ex)
	}

	t.Run("CodeIsSingleUse", func(t *testing.T) {
		wantRefused(t, "second exchange", rg.exchange(in.UUID, rg.codeBody(in.Code), ""), 401, "Could not find grant for given code")
	})
}

func TestIntegrationCodeRefusals(t *testing.T) {
	rg := newAppRig(t)
	in := rg.app.Install("acme")
	other := rg.app.Install("acme")

	body := rg.codeBody(in.Code)
	body["client_secret"] = "wrong"
	wantRefused(t, "wrong secret", rg.exchange(in.UUID, body, ""), 401, "Invalid Client ID / Secret pair")
	body = rg.codeBody(in.Code)
	body["client_id"] = "someone-else"
	wantRefused(t, "wrong client id", rg.exchange(in.UUID, body, ""), 401, "Invalid Client ID / Secret pair")
	body = rg.codeBody(in.Code)
	delete(body, "client_secret")
	wantRefused(t, "no secret", rg.exchange(in.UUID, body, ""), 401, "Invalid Client ID / Secret pair")
	wantRefused(t, "unknown installation", rg.exchange("0b6f2b9e-0000-4000-8000-000000000000", rg.codeBody(in.Code), ""), 404, "The requested resource does not exist")
	wantRefused(t, "code of another installation", rg.exchange(other.UUID, rg.codeBody(in.Code), ""), 401, "Forbidden grant")
	body = rg.codeBody(in.Code)
	body["grant_type"] = "client_credentials"
	wantRefused(t, "grant type", rg.exchange(in.UUID, body, ""), 403, "Invalid grant_type")

	// None of that used the code up.
	rg.mustExchange(in.UUID, rg.codeBody(in.Code))

	t.Run("Expired", func(t *testing.T) {
		rg.clk.Advance(10 * time.Minute)
		wantRefused(t, "late code", rg.exchange(other.UUID, rg.codeBody(other.Code), ""), 401, "Grant has already expired")
	})
}

func TestIntegrationRefreshRotates(t *testing.T) {
	rg := newAppRig(t)
	in := rg.app.Install("acme")
	first := rg.mustExchange(in.UUID, rg.codeBody(in.Code))

	rg.clk.Advance(7 * time.Hour)
	second := rg.mustExchange(in.UUID, rg.refreshBody(first.str("refreshToken")))
	if second.str("token") == first.str("token") || second.str("refreshToken") == first.str("refreshToken") {
		t.Fatal("refresh gave back the same tokens")
	}
	if exp, _ := time.Parse(time.RFC3339Nano, second.str("expiresAt")); !exp.Equal(rg.clk.Now().Add(8 * time.Hour)) {
		t.Errorf("refreshed expiresAt %q, want 8 hours from the refresh", second.str("expiresAt"))
	}
	if st := rg.api(first.str("token")); st != http.StatusUnauthorized {
		t.Errorf("the replaced token answered %d, want 401", st)
	}
	wantRefused(t, "replaced refresh token", rg.exchange(in.UUID, rg.refreshBody(first.str("refreshToken")), ""), 401, "Given refresh token does not exist")
	if st := rg.api(second.str("token")); st != http.StatusOK {
		t.Errorf("the new token answered %d", st)
	}
	reqs := rg.app.APIRequests()
	if n := len(reqs); n != 2 || reqs[0].Generation != 1 || reqs[0].Status != 401 || reqs[1].Generation != 2 || reqs[1].Status != 200 {
		t.Errorf("API requests = %+v", reqs)
	}

	t.Run("RefreshTokenOfAnotherInstallation", func(t *testing.T) {
		other := rg.app.Install("acme")
		wantRefused(t, "cross refresh", rg.exchange(other.UUID, rg.refreshBody(second.str("refreshToken")), ""), 401, "Token does not belong to the application")
	})

	t.Run("Expiry", func(t *testing.T) {
		rg.clk.Advance(8 * time.Hour)
		if st := rg.api(second.str("token")); st != http.StatusUnauthorized {
			t.Errorf("an 8-hour-old token answered %d, want 401", st)
		}
		// The refresh token outlives the token.
		third := rg.mustExchange(in.UUID, rg.refreshBody(second.str("refreshToken")))
		if st := rg.api(third.str("token")); st != http.StatusOK {
			t.Errorf("token refreshed after expiry answered %d", st)
		}
		rg.app.ExpireTokens()
		if st := rg.api(third.str("token")); st != http.StatusUnauthorized {
			t.Errorf("after ExpireTokens the token answered %d", st)
		}
	})
}

func TestIntegrationUninstall(t *testing.T) {
	rg := newAppRig(t)
	in := rg.app.Install("acme")
	a := rg.mustExchange(in.UUID, rg.codeBody(in.Code))
	rg.app.Uninstall(in.UUID)
	if st := rg.api(a.str("token")); st != http.StatusUnauthorized {
		t.Errorf("token of a removed installation answered %d", st)
	}
	wantRefused(t, "refresh after uninstall", rg.exchange(in.UUID, rg.refreshBody(a.str("refreshToken")), ""), 404, "The requested resource does not exist")
	if rg.app.CurrentToken(in.UUID) != "" {
		t.Error("a removed installation still has a token")
	}
}

func TestIntegrationManualRefresh(t *testing.T) {
	rg := newAppRig(t)
	in := rg.app.Install("acme")
	first := rg.mustExchange(in.UUID, rg.codeBody(in.Code))
	now := rg.clk.Now().Unix()
	claims := func(jti string) map[string]any {
		return map[string]any{"iss": rg.app.ClientID(), "sub": rg.app.ClientID(), "iat": now, "exp": now + 60, "jti": jti}
	}
	grant := map[string]string{"grant_type": jwtBearerGrant}

	// A refresh whose answer is lost: Sentry did it, the caller never saw
	// the tokens, and the refresh token it holds is gone.
	rg.app.DropAuthorizationAnswers(1)
	lost := rg.exchange(in.UUID, rg.refreshBody(first.str("refreshToken")), "")
	if lost.status != http.StatusGatewayTimeout || bytes.Contains(lost.raw, []byte("token")) {
		t.Fatalf("dropped answer: %d %s", lost.status, lost.raw)
	}
	wantRefused(t, "refresh after a lost answer", rg.exchange(in.UUID, rg.refreshBody(first.str("refreshToken")), ""), 401, "Given refresh token does not exist")

	for name, tc := range map[string]struct {
		auth string
	}{
		"NoJWT":       {""},
		"WrongSecret": {"Bearer " + jwtFor("not-the-secret", claims("j-1"))},
		"WrongIssuer": {"Bearer " + jwtFor(rg.app.ClientSecret(), map[string]any{"iss": "x", "sub": "x", "exp": now + 60, "jti": "j-2"})},
		"Expired":     {"Bearer " + jwtFor(rg.app.ClientSecret(), map[string]any{"iss": rg.app.ClientID(), "sub": rg.app.ClientID(), "exp": now, "jti": "j-3"})},
		"NoJTI":       {"Bearer " + jwtFor(rg.app.ClientSecret(), claims(""))},
		"Garbage":     {"Bearer a.b.c"},
	} {
		wantRefused(t, name, rg.exchange(in.UUID, grant, tc.auth), 401, "Invalid JWT")
	}

	auth := "Bearer " + jwtFor(rg.app.ClientSecret(), claims("j-ok"))
	got := rg.exchange(in.UUID, grant, auth)
	if got.status != http.StatusCreated || got.str("token") == "" || got.str("refreshToken") == "" {
		t.Fatalf("manual refresh: %d %s", got.status, got.raw)
	}
	if st := rg.api(got.str("token")); st != http.StatusOK {
		t.Errorf("token from the manual refresh answered %d", st)
	}
	rg.mustExchange(in.UUID, rg.refreshBody(got.str("refreshToken")))
	wantRefused(t, "replayed JWT", rg.exchange(in.UUID, grant, auth), 401, "Invalid JWT")
	ex := rg.app.Exchanges()
	if last := ex[len(ex)-3]; last.GrantType != jwtBearerGrant || last.Status != 201 || last.Generation != 3 {
		t.Errorf("manual refresh recorded as %+v, want generation 3 (code, lost refresh, manual)", last)
	}
}

func TestIntegrationFailAuthorizations(t *testing.T) {
	rg := newAppRig(t)
	in := rg.app.Install("acme")
	rg.app.FailAuthorizations(http.StatusServiceUnavailable, 2)
	for i := range 2 {
		if a := rg.exchange(in.UUID, rg.codeBody(in.Code), ""); a.status != http.StatusServiceUnavailable {
			t.Errorf("call %d: %d, want the injected 503", i+1, a.status)
		}
	}
	rg.mustExchange(in.UUID, rg.codeBody(in.Code))
	ex := rg.app.Exchanges()
	if len(ex) != 3 || ex[0].Status != 503 || ex[2].Status != 201 {
		t.Errorf("Exchanges = %+v", ex)
	}
}

func TestIntegrationMalformedRequests(t *testing.T) {
	rg := newAppRig(t)
	in := rg.app.Install("acme")
	for name, body := range map[string]string{"Empty": "", "NotJSON": "grant_type=authorization_code"} {
		resp, err := rg.hc.Post(rg.app.URL()+"/api/0/sentry-app-installations/"+in.UUID+"/authorizations/", "application/json", bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, resp.StatusCode)
		}
	}
	resp, err := rg.hc.Get(rg.app.URL() + "/api/0/sentry-app-installations/" + in.UUID + "/authorizations/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", resp.StatusCode)
	}
}

func TestAppInstallationWebhook(t *testing.T) {
	rg := newAppRig(t)
	in := rg.app.Install("acme")
	var created, deleted struct {
		Action string `json:"action"`
		Data   struct {
			Installation struct {
				UUID         string            `json:"uuid"`
				Code         *string           `json:"code"`
				Organization map[string]string `json:"organization"`
				App          map[string]string `json:"app"`
			} `json:"installation"`
		} `json:"data"`
		Installation struct {
			UUID string `json:"uuid"`
		} `json:"installation"`
	}
	if err := json.Unmarshal(in.Webhook("created"), &created); err != nil {
		t.Fatal(err)
	}
	d := created.Data.Installation
	if created.Action != "created" || d.UUID != in.UUID || created.Installation.UUID != in.UUID ||
		d.Code == nil || *d.Code != in.Code || d.Organization["slug"] != "acme" || d.App["slug"] != "sentrybot" {
		t.Errorf("created webhook = %s", in.Webhook("created"))
	}
	if err := json.Unmarshal(in.Webhook("deleted"), &deleted); err != nil {
		t.Fatal(err)
	}
	if deleted.Action != "deleted" || deleted.Data.Installation.Code != nil || deleted.Data.Installation.UUID != in.UUID {
		t.Errorf("deleted webhook = %s", in.Webhook("deleted"))
	}
	if u := newUUID(); len(u) != 36 || u[14] != '4' || fmt.Sprint(u[8], u[13], u[18], u[23]) != "45 45 45 45" {
		t.Errorf("newUUID() = %q", u)
	}
}
