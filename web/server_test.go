package web

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"sentrybot/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func text(s string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, s) })
}

// start serves o on a free loopback port and returns the base URL and a
// stop function that returns Serve's result.
func start(t *testing.T, o Options) (string, func() error) {
	t.Helper()
	o.Addr = "127.0.0.1:0"
	s := New(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	select {
	case <-s.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("server not ready")
	}
	if s.Addr() == "" {
		cancel()
		t.Fatalf("not listening: %v", <-done)
	}
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				err = errors.New("Serve did not return")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return "http://" + s.Addr(), stop
}

func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

func call(t *testing.T, c *http.Client, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestRoutes(t *testing.T) {
	base, stop := start(t, Options{
		Webhook: text("hook"),
		Metrics: text("# metrics"),
		Extra:   map[string]http.Handler{"GET /oauth/start": text("oauth")},
		Log:     zerolog.Nop(),
	})
	c := newClient(t)
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"POST", "/sentry/webhook", 200, "hook"},
		{"GET", "/sentry/webhook", 405, ""},
		{"GET", "/healthz", 200, "ok\n"},
		{"HEAD", "/healthz", 200, ""},
		{"POST", "/healthz", 405, ""},
		{"GET", "/metrics", 200, "# metrics"},
		{"POST", "/metrics", 405, ""},
		{"GET", "/oauth/start", 200, "oauth"},
		{"GET", "/", 404, ""},
		{"GET", "/nope", 404, ""},
		{"POST", "/sentry/webhook/extra", 404, ""},
	} {
		status, body := call(t, c, tc.method, base+tc.path)
		if status != tc.status || (tc.body != "" && body != tc.body) {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, status, body, tc.status, tc.body)
		}
	}
	if err := stop(); err != nil {
		t.Errorf("Serve returned %v after a clean shutdown", err)
	}
}

func TestNilHandlersLeaveRoutesOut(t *testing.T) {
	base, _ := start(t, Options{Log: zerolog.Nop()})
	c := newClient(t)
	for _, p := range []string{"/sentry/webhook", "/metrics"} {
		if status, _ := call(t, c, "POST", base+p); status != 404 {
			t.Errorf("POST %s: %d, want 404", p, status)
		}
	}
	if status, body := call(t, c, "GET", base+"/healthz"); status != 200 || body != "ok\n" {
		t.Errorf("healthz with no check: %d %q", status, body)
	}
}

func TestHealth(t *testing.T) {
	var mu sync.Mutex
	var healthErr error
	base, _ := start(t, Options{
		Healthy: func(ctx context.Context) error {
			if _, ok := ctx.Deadline(); !ok {
				return errors.New("no deadline on the health check")
			}
			mu.Lock()
			defer mu.Unlock()
			return healthErr
		},
		Log: zerolog.Nop(),
	})
	c := newClient(t)
	if status, body := call(t, c, "GET", base+"/healthz"); status != 200 || body != "ok\n" {
		t.Errorf("healthy: %d %q", status, body)
	}
	mu.Lock()
	healthErr = errors.New("slack: socket mode disconnected")
	mu.Unlock()
	if status, body := call(t, c, "GET", base+"/healthz"); status != 503 || body != "slack: socket mode disconnected\n" {
		t.Errorf("failing: %d %q", status, body)
	}
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-release:
		case <-r.Context().Done():
			http.Error(w, "cancelled", 500)
			return
		}
		io.WriteString(w, "finished")
	})
	base, stop := start(t, Options{Extra: map[string]http.Handler{"GET /slow": slow}, Log: zerolog.Nop()})
	c := newClient(t)

	type result struct {
		status int
		body   string
	}
	got := make(chan result, 1)
	go func() {
		status, body := call(t, c, "GET", base+"/slow")
		got <- result{status, body}
	}()
	<-started

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// Shutdown closes the listener first: new connections are refused
	// while the slow request is still running.
	deadline := time.Now().Add(3 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 200*time.Millisecond)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Serve returned (%v) before the in-flight request finished", err)
	default:
	}
	close(release)

	r := <-got
	if r.status != 200 || r.body != "finished" {
		t.Errorf("in-flight request: %d %q, want 200 finished", r.status, r.body)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestListenError(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	s := New(Options{Addr: addr, Log: zerolog.Nop()})
	err = s.Serve(context.Background())
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Serve on a busy address: %v, want an error naming %s", err, addr)
	}
	select {
	case <-s.Ready():
	default:
		t.Error("Ready not closed after a failed listen")
	}
	if s.Addr() != "" {
		t.Errorf("Addr = %q after a failed listen", s.Addr())
	}
	if err := s.Serve(context.Background()); err == nil {
		t.Error("second Serve did not fail")
	}
}

func TestBadRouteIsAnError(t *testing.T) {
	s := New(Options{Addr: "127.0.0.1:0", Extra: map[string]http.Handler{"GET /healthz": text("x")}, Log: zerolog.Nop()})
	err := s.Serve(context.Background())
	if err == nil || !strings.Contains(err.Error(), "/healthz") {
		t.Fatalf("Serve with a conflicting route: %v", err)
	}
}

func TestAccessLog(t *testing.T) {
	var logs testkit.LogBuffer
	base, stop := start(t, Options{
		Webhook: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(401) }),
		Log:     zerolog.New(&logs).Level(zerolog.DebugLevel),
	})
	c := newClient(t)
	req, _ := http.NewRequest("POST", base+"/sentry/webhook?code=oauth-code-123", strings.NewReader("{}"))
	req.Header.Set("Sentry-Hook-Signature", "deadbeefcafe0123")
	req.Header.Set("Authorization", "Bearer tok-very-secret")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	call(t, c, "GET", base+"/missing")
	stop()

	out := logs.String()
	for _, want := range []string{`"method":"POST"`, `"path":"/sentry/webhook"`, `"status":401`, `"duration"`, `"path":"/missing"`, `"status":404`} {
		if !strings.Contains(out, want) {
			t.Errorf("access log lacks %s:\n%s", want, out)
		}
	}
	for _, leak := range []string{"deadbeefcafe0123", "tok-very-secret", "oauth-code-123"} {
		if strings.Contains(out, leak) {
			t.Errorf("access log holds %q:\n%s", leak, out)
		}
	}
}

func TestServerLimits(t *testing.T) {
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	srv := New(Options{Log: zerolog.Nop()}).httpServer(ctx)
	if srv.ReadHeaderTimeout != 5*time.Second || srv.ReadTimeout != 10*time.Second || srv.WriteTimeout != 10*time.Second ||
		srv.IdleTimeout != 60*time.Second || srv.MaxHeaderBytes != 64<<10 {
		t.Errorf("limits %v %v %v %v %d", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
	base := srv.BaseContext(nil)
	cancel()
	if base.Err() != nil || base.Value(ctxKey{}) != "v" {
		t.Error("request base context should keep values of the serve context but not its cancellation")
	}

	// Headers over the limit are refused by net/http with 431.
	url, _ := start(t, Options{Log: zerolog.Nop()})
	c := newClient(t)
	req, _ := http.NewRequest("GET", url+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 80<<10))
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("oversized headers: %d, want 431", res.StatusCode)
	}
}

type ctxKey struct{}
