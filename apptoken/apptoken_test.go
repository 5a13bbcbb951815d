package apptoken

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"sentrybot/internal/sentryfake"
	"sentrybot/internal/testkit"
	"sentrybot/secrets"
	"sentrybot/store"
)

const org = "acme"

// gate holds requests to the authorizations endpoint until opened, when
// armed.
type gate struct {
	armed   atomic.Bool
	open    chan struct{}
	next    http.RoundTripper
	waiting atomic.Int32 // requests held at the gate now
}

func (g *gate) RoundTrip(r *http.Request) (*http.Response, error) {
	if g.armed.Load() && strings.Contains(r.URL.Path, "/authorizations/") {
		g.waiting.Add(1)
		defer g.waiting.Add(-1)
		select {
		case <-g.open:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return g.next.RoundTrip(r)
}

type rig struct {
	t      *testing.T
	clock  *testkit.Clock
	srv    *sentryfake.Server
	app    *sentryfake.Integration
	db     *store.DB
	dir    string
	logs   *testkit.LogBuffer
	m      *Manager
	gate   *gate
	values []string // codes and tokens handed out, for the leak checks
}

func newRig(t *testing.T) *rig {
	t.Helper()
	rg := &rig{t: t, clock: testkit.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)), logs: &testkit.LogBuffer{}, dir: t.TempDir()}
	rg.srv = sentryfake.New(sentryfake.Options{Org: org})
	rg.app = sentryfake.NewIntegration(rg.srv, sentryfake.IntegrationOptions{Now: rg.clock.Now})
	tr := &http.Transport{}
	rg.gate = &gate{open: make(chan struct{}), next: tr}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		rg.app.Close()
		rg.srv.Close()
	})
	var err error
	rg.db, err = store.Open(context.Background(), filepath.Join(rg.dir, "sentrybot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rg.db.Close() })
	var key [32]byte
	copy(key[:], "0123456789abcdef0123456789abcdef")
	box, err := secrets.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	rg.m, err = New(Config{
		SentryURL: rg.app.URL() + "/", ClientID: rg.app.ClientID(), ClientSecret: rg.app.ClientSecret(), Org: org,
		HTTPClient: &http.Client{Transport: rg.gate, Timeout: 5 * time.Second},
		Now:        rg.clock.Now,
	}, rg.db, box, zerolog.New(rg.logs).Level(zerolog.DebugLevel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rg.checkNoLeak)
	return rg
}

// install installs the integration at the fake and tells the Manager, as
// the installation webhook would.
func (rg *rig) install() sentryfake.AppInstallation {
	rg.t.Helper()
	in := rg.app.Install(org)
	rg.values = append(rg.values, in.Code)
	taken, err := rg.m.Installed(context.Background(), in.UUID, in.Org, in.Code)
	if err != nil || !taken {
		rg.t.Fatalf("Installed = %v, %v", taken, err)
	}
	rg.remember(in.UUID)
	return in
}

// remember notes the installation's live token for the leak checks.
func (rg *rig) remember(uuid string) string {
	tok := rg.app.CurrentToken(uuid)
	if tok != "" {
		rg.values = append(rg.values, tok)
	}
	return tok
}

func (rg *rig) token() string {
	rg.t.Helper()
	tok, err := rg.m.Token(context.Background())
	if err != nil {
		rg.t.Fatalf("Token: %v\nlogs:\n%s", err, rg.logs)
	}
	return tok
}

// grants lists the grant types of the exchanges so far, with their status.
func (rg *rig) grants() string {
	var out []string
	for _, e := range rg.app.Exchanges() {
		g := e.GrantType
		if strings.HasPrefix(g, "urn:") {
			g = "jwt"
		}
		out = append(out, g+"="+http.StatusText(e.Status))
	}
	return strings.Join(out, ",")
}

// checkNoLeak fails if a code, a token or the client secret reached the
// log, or a token reached the database files in the clear.
func (rg *rig) checkNoLeak() {
	logs := rg.logs.String()
	files, _ := filepath.Glob(filepath.Join(rg.dir, "sentrybot.db*"))
	var disk []byte
	for _, f := range files {
		b, _ := os.ReadFile(f)
		disk = append(disk, b...)
	}
	for _, v := range append(rg.values, rg.app.ClientSecret()) {
		if strings.Contains(logs, v) {
			rg.t.Errorf("log holds %q", v)
		}
		if bytes.Contains(disk, []byte(v)) {
			rg.t.Errorf("database files hold %q in the clear", v)
		}
	}
}

func TestInstalled(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		rg := newRig(t)
		in := rg.install()
		if got := rg.token(); got != rg.app.CurrentToken(in.UUID) || got == "" {
			t.Errorf("Token = %q, want the installation's token", got)
		}
		st, err := rg.m.Status(ctx)
		if err != nil || !st.Installed || st.UUID != in.UUID || st.Org != org || !st.ExpiresAt.Equal(rg.clock.Now().Add(8*time.Hour)) {
			t.Errorf("Status = %+v, %v", st, err)
		}
		if g := rg.grants(); g != "authorization_code=Created" {
			t.Errorf("exchanges %s", g)
		}
		if !strings.Contains(rg.logs.String(), "Sentry integration installed") {
			t.Errorf("log:\n%s", rg.logs)
		}
	})

	t.Run("OtherOrganizationRefused", func(t *testing.T) {
		rg := newRig(t)
		in := rg.app.Install("someone-else")
		rg.values = append(rg.values, in.Code)
		taken, err := rg.m.Installed(ctx, in.UUID, in.Org, in.Code)
		if err != nil || taken {
			t.Fatalf("Installed = %v, %v; want refused without an error", taken, err)
		}
		if g := rg.grants(); g != "" {
			t.Errorf("a refused installation's code was exchanged: %s", g)
		}
		if _, err := rg.m.Token(ctx); !errors.Is(err, ErrNone) {
			t.Errorf("Token = %v, want ErrNone", err)
		}
		if logs := rg.logs.String(); !strings.Contains(logs, "another organization") || !strings.Contains(logs, "someone-else") {
			t.Errorf("log does not say what was refused:\n%s", logs)
		}
	})

	t.Run("OtherOrganizationKeepsTheInstallation", func(t *testing.T) {
		rg := newRig(t)
		first := rg.install()
		other := rg.app.Install("someone-else")
		rg.values = append(rg.values, other.Code)
		if taken, err := rg.m.Installed(ctx, other.UUID, other.Org, other.Code); err != nil || taken {
			t.Fatalf("Installed = %v, %v", taken, err)
		}
		if got := rg.token(); got != rg.app.CurrentToken(first.UUID) {
			t.Error("a refused installation changed the stored one")
		}
	})

	t.Run("CodeRefused", func(t *testing.T) {
		rg := newRig(t)
		in := rg.app.Install(org)
		rg.values = append(rg.values, in.Code)
		taken, err := rg.m.Installed(ctx, in.UUID, org, "0123456789abcdef0123456789abcdef")
		var ae *AuthorizationError
		if taken || !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
			t.Fatalf("Installed with a wrong code = %v, %v; want the 401", taken, err)
		}
		if _, err := rg.m.Token(ctx); !errors.Is(err, ErrNone) {
			t.Errorf("a failed exchange stored something: %v", err)
		}
		// The code itself still works.
		if taken, err := rg.m.Installed(ctx, in.UUID, org, in.Code); err != nil || !taken {
			t.Errorf("Installed = %v, %v", taken, err)
		}
		rg.remember(in.UUID)
	})

	t.Run("WrongClientSecret", func(t *testing.T) {
		rg := newRig(t)
		box, _ := secrets.NewBox([32]byte{})
		m, err := New(Config{SentryURL: rg.app.URL(), ClientID: rg.app.ClientID(), ClientSecret: "not-the-secret", Org: org, Now: rg.clock.Now},
			rg.db, box, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		in := rg.app.Install(org)
		rg.values = append(rg.values, in.Code)
		_, err = m.Installed(ctx, in.UUID, org, in.Code)
		var ae *AuthorizationError
		if !errors.As(err, &ae) || ae.Status != 401 || !strings.Contains(err.Error(), "Invalid Client ID / Secret pair") {
			t.Errorf("err = %v, want Sentry's 401", err)
		}
		if strings.Contains(err.Error(), in.Code) || strings.Contains(err.Error(), "not-the-secret") {
			t.Errorf("error %q holds a secret", err)
		}
	})

	t.Run("RedeliveredWebhook", func(t *testing.T) {
		rg := newRig(t)
		in := rg.install()
		before := rg.token()
		taken, err := rg.m.Installed(ctx, in.UUID, in.Org, in.Code)
		if err != nil || !taken {
			t.Errorf("second Installed with a used code = %v, %v; want taken (it is stored)", taken, err)
		}
		if rg.token() != before {
			t.Error("the stored token changed")
		}
	})

	t.Run("NewInstallationReplaces", func(t *testing.T) {
		rg := newRig(t)
		first := rg.install()
		second := rg.install()
		if got := rg.token(); got != rg.app.CurrentToken(second.UUID) {
			t.Error("Token is not the new installation's")
		}
		if !strings.Contains(rg.logs.String(), `"replaces":"`+first.UUID+`"`) {
			t.Errorf("log does not name the replaced installation:\n%s", rg.logs)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		rg := newRig(t)
		for name, tc := range map[string]struct{ uuid, code string }{
			"NoUUID":  {"", "c0de"},
			"BadUUID": {"../../api/0/", "c0de"},
			"NoCode":  {"a8e5d37a-696c-4c54-adb5-b3f28d64c7de", ""},
		} {
			if taken, err := rg.m.Installed(ctx, tc.uuid, org, tc.code); err == nil || taken {
				t.Errorf("%s: Installed = %v, %v; want an error", name, taken, err)
			}
		}
		if g := rg.grants(); g != "" {
			t.Errorf("invalid installations reached Sentry: %s", g)
		}
	})
}

func TestUninstalled(t *testing.T) {
	ctx := context.Background()
	rg := newRig(t)
	in := rg.install()

	if err := rg.m.Uninstalled(ctx, "0b6f2b9e-0000-4000-8000-000000000000"); err != nil {
		t.Fatal(err)
	}
	if rg.token() == "" {
		t.Fatal("another uuid's removal dropped the installation")
	}
	if err := rg.m.Uninstalled(ctx, in.UUID); err != nil {
		t.Fatal(err)
	}
	if _, err := rg.m.Token(ctx); !errors.Is(err, ErrNone) {
		t.Errorf("Token after uninstall = %v, want ErrNone", err)
	}
	if tok, err := rg.m.Bearer(ctx); tok != "" || err != nil {
		t.Errorf("Bearer after uninstall = %q, %v; want \"\", nil", tok, err)
	}
	if st, err := rg.m.Status(ctx); err != nil || st.Installed {
		t.Errorf("Status after uninstall = %+v, %v", st, err)
	}
	if !strings.Contains(rg.logs.String(), "uninstalled") {
		t.Errorf("log:\n%s", rg.logs)
	}
}

func TestTokenRenewal(t *testing.T) {
	ctx := context.Background()

	t.Run("RenewedBeforeExpiry", func(t *testing.T) {
		rg := newRig(t)
		in := rg.install()
		first := rg.token()

		rg.clock.Advance(7*time.Hour + 29*time.Minute)
		if rg.token() != first || rg.grants() != "authorization_code=Created" {
			t.Fatalf("renewed 31 minutes before expiry: %s", rg.grants())
		}
		rg.clock.Advance(2 * time.Minute) // 29 minutes left
		second := rg.token()
		if second == first || second != rg.remember(in.UUID) {
			t.Fatal("Token did not return the renewed token")
		}
		if g := rg.grants(); g != "authorization_code=Created,refresh_token=Created" {
			t.Errorf("exchanges %s", g)
		}
		if st, _ := rg.m.Status(ctx); !st.ExpiresAt.Equal(rg.clock.Now().Add(8 * time.Hour)) {
			t.Errorf("stored expiry %v, want 8 hours from the renewal", st.ExpiresAt)
		}
		if tok, err := rg.m.Bearer(ctx); tok != second || err != nil {
			t.Errorf("Bearer = %q, %v", tok, err)
		}
		// Until the next window, no more renewals.
		rg.clock.Advance(7 * time.Hour)
		rg.token()
		if n := len(rg.app.Exchanges()); n != 2 {
			t.Errorf("%d exchanges, want 2", n)
		}
	})

	t.Run("AfterAnIdleNight", func(t *testing.T) {
		rg := newRig(t)
		in := rg.install()
		rg.clock.Advance(20 * time.Hour)
		if got := rg.token(); got != rg.remember(in.UUID) {
			t.Error("an expired token was not renewed with the refresh token")
		}
	})

	t.Run("OneRenewalForManyCallers", func(t *testing.T) {
		rg := newRig(t)
		in := rg.install()
		rg.clock.Advance(7*time.Hour + 45*time.Minute)
		const n = 8
		var joined atomic.Int32
		rg.m.flights.OnJoin = func() {
			if joined.Add(1) == n-1 {
				close(rg.gate.open)
			}
		}
		rg.gate.armed.Store(true)
		got := make(chan string, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				tok, err := rg.m.Token(ctx)
				if err != nil {
					t.Error(err)
				}
				got <- tok
			})
		}
		wg.Wait()
		close(got)
		want := rg.remember(in.UUID)
		for tok := range got {
			if tok != want {
				t.Errorf("a caller got %q, want the renewed token", tok)
			}
		}
		if g := rg.grants(); g != "authorization_code=Created,refresh_token=Created" {
			t.Errorf("exchanges %s, want one renewal", g)
		}
	})

	t.Run("FailureKeepsTheCurrentTokenAndWaits", func(t *testing.T) {
		rg := newRig(t)
		in := rg.install()
		first := rg.token()
		rg.clock.Advance(7*time.Hour + 45*time.Minute)
		rg.app.FailAuthorizations(http.StatusServiceUnavailable, 1)
		if got := rg.token(); got != first {
			t.Error("a failed renewal did not fall back to the current token")
		}
		rg.clock.Advance(30 * time.Second)
		if got := rg.token(); got != first {
			t.Error("the current token was not used while the retry waits")
		}
		if g := rg.grants(); g != "authorization_code=Created,refresh_token=Service Unavailable" {
			t.Errorf("exchanges %s, want no second try within RetryAfter", g)
		}
		if !strings.Contains(rg.logs.String(), "using the current one while it lasts") {
			t.Errorf("log:\n%s", rg.logs)
		}
		rg.clock.Advance(31 * time.Second)
		if got := rg.token(); got == first || got != rg.remember(in.UUID) {
			t.Error("the retry after RetryAfter did not renew")
		}
	})

	t.Run("FailureAfterExpiry", func(t *testing.T) {
		rg := newRig(t)
		rg.install()
		rg.clock.Advance(9 * time.Hour)
		rg.app.FailAuthorizations(http.StatusBadGateway, 1)
		_, err := rg.m.Token(ctx)
		var ae *AuthorizationError
		if !errors.As(err, &ae) || ae.Status != http.StatusBadGateway || errors.Is(err, ErrRefused) || errors.Is(err, ErrNone) {
			t.Fatalf("Token = %v, want the 502", err)
		}
		// Held back: the same error without asking Sentry again.
		if _, err2 := rg.m.Token(ctx); err2 == nil || err2.Error() != err.Error() {
			t.Errorf("second Token = %v", err2)
		}
		if n := len(rg.app.Exchanges()); n != 2 {
			t.Errorf("%d exchanges, want 2", n)
		}
	})

	t.Run("LostAnswerRecoveredWithJWT", func(t *testing.T) {
		rg := newRig(t)
		in := rg.install()
		first := rg.token()
		rg.clock.Advance(7*time.Hour + 45*time.Minute)
		rg.app.DropAuthorizationAnswers(1)
		if got := rg.token(); got != first {
			t.Fatal("a lost answer did not fall back to the current token")
		}
		// Sentry replaced the pair, so the token in hand is gone too; the
		// next renewal finds the refresh token refused and signs a JWT.
		rg.clock.Advance(time.Minute)
		got := rg.token()
		if got == first || got != rg.remember(in.UUID) {
			t.Error("the JWT renewal did not give the installation's live token")
		}
		want := "authorization_code=Created,refresh_token=Gateway Timeout,refresh_token=Unauthorized,jwt=Created"
		if g := rg.grants(); g != want {
			t.Errorf("exchanges %s, want %s", g, want)
		}
		// The JWT pair renews the usual way later.
		rg.clock.Advance(7*time.Hour + 45*time.Minute)
		if rg.token() != rg.remember(in.UUID) {
			t.Error("renewal after the JWT renewal failed")
		}
	})

	t.Run("Refused", func(t *testing.T) {
		rg := newRig(t)
		in := rg.install()
		// Removed at Sentry without the webhook reaching sentrybot.
		rg.app.Uninstall(in.UUID)
		rg.clock.Advance(8 * time.Hour)
		_, err := rg.m.Token(ctx)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "install the integration again") {
			t.Fatalf("Token = %v, want ErrRefused", err)
		}
		want := "authorization_code=Created,refresh_token=Not Found,jwt=Not Found"
		if g := rg.grants(); g != want {
			t.Errorf("exchanges %s, want %s", g, want)
		}
		if _, err := rg.m.Token(ctx); !errors.Is(err, ErrRefused) || len(rg.app.Exchanges()) != 3 {
			t.Errorf("second Token = %v after %d exchanges; want the same refusal without asking", err, len(rg.app.Exchanges()))
		}
		// A new installation mends it at once.
		next := rg.install()
		if rg.token() != rg.app.CurrentToken(next.UUID) {
			t.Error("a new installation did not replace the refused one")
		}
	})

	t.Run("UninstalledDuringRenewal", func(t *testing.T) {
		rg := newRig(t)
		in := rg.install()
		rg.clock.Advance(7*time.Hour + 45*time.Minute)
		rg.gate.armed.Store(true)
		done := make(chan error, 1)
		go func() {
			_, err := rg.m.Token(ctx)
			done <- err
		}()
		// Wait for the renewal to be in flight (held at the gate), then
		// uninstall.
		for rg.gate.waiting.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		if err := rg.m.Uninstalled(ctx, in.UUID); err != nil {
			t.Fatal(err)
		}
		close(rg.gate.open)
		if err := <-done; !errors.Is(err, ErrNone) {
			t.Errorf("Token = %v, want ErrNone: the renewal must not bring the installation back", err)
		}
		rg.remember(in.UUID)
		if _, err := rg.m.Token(ctx); !errors.Is(err, ErrNone) {
			t.Errorf("later Token = %v, want ErrNone", err)
		}
	})

	t.Run("CallerGivesUp", func(t *testing.T) {
		rg := newRig(t)
		in := rg.install()
		rg.clock.Advance(7*time.Hour + 45*time.Minute)
		rg.gate.armed.Store(true)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := rg.m.Token(cctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Token with a canceled context = %v", err)
		}
		close(rg.gate.open)
		// The renewal went on without the caller.
		if got := rg.token(); got != rg.remember(in.UUID) {
			t.Error("the renewal did not finish")
		}
	})
}

func TestRun(t *testing.T) {
	rg := newRig(t)
	in := rg.install()
	rg.clock.Advance(7*time.Hour + 45*time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rg.m.Run(ctx) }()

	// Nobody calls Token: Run renews on its own.
	deadline := time.Now().Add(10 * time.Second)
	for len(rg.app.Exchanges()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if g := rg.grants(); g != "authorization_code=Created,refresh_token=Created" {
		t.Errorf("exchanges %s, want Run's renewal", g)
	}
	rg.remember(in.UUID)

	// An installation wakes it; nothing is due, so nothing is asked.
	rg.install()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	if n := len(rg.app.Exchanges()); n != 3 {
		t.Errorf("%d exchanges, want only the new installation's", n)
	}
}

func TestNew(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "sentrybot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	box, _ := secrets.NewBox([32]byte{})
	ok := Config{SentryURL: "https://sentry.io", ClientID: "id", ClientSecret: "secret", Org: org}
	if _, err := New(ok, db, box, zerolog.Nop()); err != nil {
		t.Fatalf("New(%+v) = %v", ok, err)
	}
	for name, mod := range map[string]func(*Config){
		"NoURL":         func(c *Config) { c.SentryURL = "" },
		"RelativeURL":   func(c *Config) { c.SentryURL = "sentry.io" },
		"URLWithQuery":  func(c *Config) { c.SentryURL = "https://sentry.io/?x=1" },
		"NoClientID":    func(c *Config) { c.ClientID = "" },
		"NoSecret":      func(c *Config) { c.ClientSecret = "" },
		"NoOrg":         func(c *Config) { c.Org = "" },
		"NegativeRetry": func(c *Config) { c.RetryAfter = -time.Second },
	} {
		cfg := ok
		mod(&cfg)
		if _, err := New(cfg, db, box, zerolog.Nop()); err == nil {
			t.Errorf("%s: New succeeded", name)
		} else if strings.Contains(err.Error(), "secret") && cfg.ClientSecret != "" && strings.Contains(err.Error(), cfg.ClientSecret) {
			t.Errorf("%s: error %q holds the secret", name, err)
		}
	}
	if _, err := New(ok, nil, box, zerolog.Nop()); err == nil {
		t.Error("New without a store succeeded")
	}
}

func TestDetail(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"detail":"Invalid Client ID / Secret pair"}`, "Invalid Client ID / Secret pair"},
		{`{"detail":"bad  \n  request"}`, "bad request"},
		{`{"detail":"you sent code-123"}`, "[an answer that echoed the request]"},
		{`{"detail":"you sent the-secret"}`, "[an answer that echoed the request]"},
		{`<html>502</html>`, ""},
		{`{"detail":"` + strings.Repeat("x", 200) + `"}`, strings.Repeat("x", 120) + "…"},
	} {
		if got := detail([]byte(tc.body), "the-secret", "code-123"); got != tc.want {
			t.Errorf("detail(%s) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

// TestTokenIsKeptInMemory checks that a fresh token is answered without
// the store (its row is changed behind the Manager's back and the answer
// stays), and that once the token is due for renewal the store decides
// again.
func TestTokenIsKeptInMemory(t *testing.T) {
	ctx := context.Background()
	rg := newRig(t)
	in := rg.install()
	first := rg.token()

	raw, err := sql.Open("sqlite", rg.db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, `UPDATE app_installation SET token_sealed = x'00'`); err != nil {
		t.Fatal(err)
	}
	if got := rg.token(); got != first {
		t.Fatal("a fresh token was read from the store again")
	}

	// Due for renewal: the kept token is not used; the store's row is
	// read and renewed.
	rg.clock.Advance(7*time.Hour + 31*time.Minute)
	renewed := rg.token()
	if renewed == first {
		t.Fatal("Token past its renewal time answered from memory")
	}
	rg.remember(in.UUID)
}
