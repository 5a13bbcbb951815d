package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"sentrybot/alerts"
	"sentrybot/apptoken"
	"sentrybot/internal/sentryfake"
	"sentrybot/internal/testkit"
	"sentrybot/secrets"
	"sentrybot/sentry"
	"sentrybot/store"
	"sentrybot/webhook"
)

// noAlerts is the alert receiver; installation webhooks must never reach
// it.
type noAlerts struct {
	mu  sync.Mutex
	got int
}

func (n *noAlerts) Receive(context.Context, alerts.Alert) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got++
	return nil
}

// appInstallRig wires what serve.go would for a Sentry public integration:
// the token manager, the Sentry client taking its token from it, and the
// webhook handler telling it of installations, against the fake Sentry
// with the integration in front.
type appInstallRig struct {
	t       *testing.T
	clock   *testkit.Clock
	srv     *sentryfake.Server
	app     *sentryfake.Integration
	sc      *sentry.Client
	hook    *httptest.Server
	logs    *testkit.LogBuffer
	dbDir   string
	alerts  *noAlerts
	secrets []string // codes and tokens seen, for the leak check
}

func newAppInstallRig(t *testing.T) *appInstallRig {
	t.Helper()
	rg := &appInstallRig{t: t, clock: testkit.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)),
		logs: &testkit.LogBuffer{}, dbDir: t.TempDir(), alerts: &noAlerts{}}
	rg.srv = sentryfake.New(sentryfake.Options{})
	rg.srv.AddIssue(sentryfake.NewIssue("7001", "FRONT-END-9", "ReferenceError: blooopy is not defined"))
	rg.app = sentryfake.NewIntegration(rg.srv, sentryfake.IntegrationOptions{Now: rg.clock.Now, ClientSecret: "whsec-public-integration-0123456789"})
	tr := &http.Transport{}
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}

	db, err := store.Open(context.Background(), filepath.Join(rg.dbDir, "sentrybot.db"))
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := secrets.LoadKeyFile(secrets.KeyFilePath(db.Path()))
	if err != nil {
		t.Fatal(err)
	}
	box, err := secrets.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(rg.logs).Level(zerolog.DebugLevel)

	// The wiring serve.go needs, with sentry.app.client_id set.
	mgr, err := apptoken.New(apptoken.Config{
		SentryURL: rg.app.URL(), ClientID: rg.app.ClientID(), ClientSecret: rg.app.ClientSecret(), Org: rg.srv.Org(),
		HTTPClient: hc, Now: rg.clock.Now,
	}, db, box, log)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sentry.New(sentry.Config{BaseURL: rg.app.URL(), Token: rg.srv.Token(), HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	rg.sc = sc.WithTokenSource(mgr.Bearer)
	rg.hook = httptest.NewServer(webhook.NewHandler([]byte(rg.app.ClientSecret()), rg.alerts, db, log,
		webhook.Options{Installations: mgr}))

	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- mgr.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("Run: %v", err)
		}
		rg.hook.Close()
		tr.CloseIdleConnections()
		rg.app.Close()
		rg.srv.Close()
		if err := db.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
		rg.checkNoLeak()
	})
	return rg
}

// deliver posts an installation webhook as Sentry does, signed with
// secret.
func (rg *appInstallRig) deliver(body []byte, secret string) int {
	rg.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, rg.hook.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sentry-Hook-Resource", "installation")
	req.Header.Set("Sentry-Hook-Timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	req.Header.Set("Request-ID", fmt.Sprintf("req-%d", time.Now().UnixNano()))
	req.Header.Set("Sentry-Hook-Signature", webhook.Sign([]byte(secret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		rg.t.Fatalf("webhook: %v", err)
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	return resp.StatusCode
}

// call makes a Sentry API call through the client and returns what the
// fake saw of it.
func (rg *appInstallRig) call() sentryfake.AppRequest {
	rg.t.Helper()
	if _, err := rg.sc.Issue(context.Background(), rg.srv.Org(), "7001"); err != nil {
		rg.t.Fatalf("Sentry call: %v\nlogs:\n%s", err, rg.logs)
	}
	reqs := rg.app.APIRequests()
	return reqs[len(reqs)-1]
}

func (rg *appInstallRig) checkNoLeak() {
	logs := rg.logs.String()
	var disk []byte
	files, _ := filepath.Glob(filepath.Join(rg.dbDir, "sentrybot.db*"))
	for _, f := range files {
		if strings.HasSuffix(f, ".key") {
			continue
		}
		b, _ := os.ReadFile(f)
		disk = append(disk, b...)
	}
	for _, v := range append(rg.secrets, rg.app.ClientSecret()) {
		if strings.Contains(logs, v) {
			rg.t.Errorf("log holds %q", v)
		}
		if bytes.Contains(disk, []byte(v)) {
			rg.t.Errorf("the database holds %q in the clear", v)
		}
	}
}

func TestAppInstallTokenLifecycle(t *testing.T) {
	rg := newAppInstallRig(t)

	// Not installed: the static sentry.token.
	if r := rg.call(); r.Installation != "" || r.Status != http.StatusOK {
		t.Fatalf("before installation the call was %+v, want the static token", r)
	}

	in := rg.app.Install(rg.srv.Org())
	rg.secrets = append(rg.secrets, in.Code)

	// A webhook not signed with the integration's secret changes nothing.
	if st := rg.deliver(in.Webhook("created"), "not-the-client-secret"); st != http.StatusUnauthorized {
		t.Errorf("forged installation webhook: %d, want 401", st)
	}
	// An installation in another organization is refused.
	other := rg.app.Install("someone-else")
	rg.secrets = append(rg.secrets, other.Code)
	if st := rg.deliver(other.Webhook("created"), rg.app.ClientSecret()); st != http.StatusForbidden {
		t.Errorf("another organization's installation: %d, want 403", st)
	}
	if n := len(rg.app.Exchanges()); n != 0 {
		t.Fatalf("%d code exchanges before a good webhook, want none", n)
	}
	if r := rg.call(); r.Installation != "" {
		t.Fatalf("after refused webhooks the call was %+v, want the static token", r)
	}

	// Installed: later calls carry the installation's token.
	if st := rg.deliver(in.Webhook("created"), rg.app.ClientSecret()); st != http.StatusOK {
		t.Fatalf("installation webhook: %d\nlogs:\n%s", st, rg.logs)
	}
	rg.secrets = append(rg.secrets, rg.app.CurrentToken(in.UUID))
	if r := rg.call(); r.Installation != in.UUID || r.Generation != 1 || r.Status != http.StatusOK {
		t.Fatalf("after installation the call was %+v, want the installation's first token", r)
	}

	// Renewed before it runs out: 7h45m in, the next call renews first.
	rg.clock.Advance(7*time.Hour + 45*time.Minute)
	r := rg.call()
	rg.secrets = append(rg.secrets, rg.app.CurrentToken(in.UUID))
	if r.Installation != in.UUID || r.Generation != 2 || r.Status != http.StatusOK {
		t.Fatalf("7h45m after installation the call was %+v, want the renewed token", r)
	}
	ex := rg.app.Exchanges()
	if len(ex) != 2 || ex[1].GrantType != "refresh_token" || ex[1].Status != http.StatusCreated {
		t.Fatalf("exchanges %+v, want the code, then one refresh", ex)
	}
	// Still 15 minutes before the first token would have run out.
	if ex[1].Time.After(ex[0].Time.Add(8 * time.Hour)) {
		t.Errorf("renewed at %v, after the first token's expiry", ex[1].Time)
	}
	// And again through the next period, without anyone rotating it.
	rg.clock.Advance(8 * time.Hour)
	if r := rg.call(); r.Generation != 3 || r.Status != http.StatusOK {
		t.Errorf("a period later the call was %+v, want the third token", r)
	}
	rg.secrets = append(rg.secrets, rg.app.CurrentToken(in.UUID))
	for _, r := range rg.app.APIRequests() {
		if r.Status != http.StatusOK {
			t.Errorf("a call was answered %d: %+v", r.Status, r)
		}
	}

	// Uninstalled: back to the static token.
	if st := rg.deliver(in.Webhook("deleted"), rg.app.ClientSecret()); st != http.StatusOK {
		t.Fatalf("uninstall webhook: %d", st)
	}
	rg.app.Uninstall(in.UUID)
	if r := rg.call(); r.Installation != "" || r.Status != http.StatusOK {
		t.Errorf("after uninstall the call was %+v, want the static token", r)
	}
	rg.alerts.mu.Lock()
	got := rg.alerts.got
	rg.alerts.mu.Unlock()
	if got != 0 {
		t.Errorf("%d installation webhooks reached the alert receiver", got)
	}
	for _, want := range []string{"Sentry integration installed", "installation token renewed", "Sentry integration uninstalled", "someone-else"} {
		if !strings.Contains(rg.logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// TestAppInstallThroughTheProgram: with sentry.app.client_id set, the real
// program takes the installation webhook on its listener, exchanges the
// code, and its next Sentry calls (an unfurl) carry the installation's
// token; after the uninstall webhook they carry sentry.token again.
func TestAppInstallThroughTheProgram(t *testing.T) {
	addr := freeAddr(t)
	s := newE2E(t, nil)
	app := sentryfake.NewIntegration(s.sentry, sentryfake.IntegrationOptions{ClientSecret: "whsec-public-integration-0123456789"})
	t.Cleanup(app.Close)
	s.env["SENTRY_URL"] = app.URL()
	s.env["SENTRY_APP_CLIENT_ID"] = app.ClientID()
	s.env["SENTRY_WEBHOOK_SECRET"] = app.ClientSecret()
	s.env["SENTRYBOT_HTTP_LISTEN"] = addr
	s.start()

	deliver := func(body []byte) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/sentry/webhook", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Sentry-Hook-Resource", "installation")
		req.Header.Set("Sentry-Hook-Timestamp", strconv.FormatInt(time.Now().Unix(), 10))
		req.Header.Set("Request-ID", fmt.Sprintf("req-%d", time.Now().UnixNano()))
		req.Header.Set("Sentry-Hook-Signature", webhook.Sign([]byte(app.ClientSecret()), body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("webhook: %v", err)
		}
		resp.Body.Close()
		http.DefaultClient.CloseIdleConnections()
		return resp.StatusCode
	}
	unfurlCall := func(ts, issue string) sentryfake.AppRequest {
		t.Helper()
		before := len(app.APIRequests())
		id, env := linkShared("C0BACKEND", ts, "https://acme.sentry.io/issues/"+issue+"/")
		s.send(env, id)
		s.waitUnfurlOf(ts)
		for _, r := range app.APIRequests()[before:] {
			if strings.HasSuffix(r.Path, "/issues/"+issue+"/") {
				return r
			}
		}
		t.Fatalf("no Sentry request for issue %s", issue)
		return sentryfake.AppRequest{}
	}

	if r := unfurlCall("1732860000.000001", "4321"); r.Installation != "" {
		t.Errorf("before any installation the call carried installation %q's token, want sentry.token", r.Installation)
	}
	inst := app.Install("acme")
	if code := deliver(inst.Webhook("created")); code != http.StatusOK {
		t.Fatalf("installation webhook answered %d; logs:\n%s", code, s.logs)
	}
	if ex := app.Exchanges(); len(ex) != 1 || ex[0].GrantType != "authorization_code" || ex[0].Status != http.StatusCreated {
		t.Fatalf("exchanges = %+v, want one accepted authorization_code", ex)
	}
	if r := unfurlCall("1732860000.000002", "4322"); r.Installation != inst.UUID || r.Generation != 1 || r.Status != http.StatusOK {
		t.Errorf("after the installation the call was %+v, want installation %s's first token", r, inst.UUID)
	}
	if code := deliver(inst.Webhook("deleted")); code != http.StatusOK {
		t.Fatalf("uninstall webhook answered %d", code)
	}
	app.Uninstall(inst.UUID)
	s.sentry.AddIssue(sentryfake.NewIssue("4323", "BACKEND-1A4", "ValueError"))
	if r := unfurlCall("1732860000.000003", "4323"); r.Installation != "" || r.Status != http.StatusOK {
		t.Errorf("after the uninstall the call was %+v, want sentry.token", r)
	}
}
