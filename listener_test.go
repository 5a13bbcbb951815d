package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	// The port is closed again before the bot binds it. A port from the
	// kernel's ephemeral range (what ":0" gives) can be handed in the
	// meantime to any outgoing connection, and the e2e tests make hundreds;
	// ports below that range are only ever taken on request. A port bound
	// here is free now; one taken by another test binary is tried past.
	const lo, hi = 20000, 32000 // below Linux's default 32768-60999
	for range 100 {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", lo+rand.IntN(hi-lo)))
		if err != nil {
			continue
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	var resp *http.Response
	var err error
	for range 50 { // the listener starts beside the bot
		resp, err = http.Get(url)
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestListenerHealthAndMetrics(t *testing.T) {
	addr := freeAddr(t)
	s := newE2E(t, map[string]string{"SENTRYBOT_HTTP_LISTEN": addr})
	s.start()
	// The fake counts a connection once it sent hello; the bot, once it
	// read it: give the bot that moment.
	code, body := 0, ""
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if code, body = httpGet(t, "http://"+addr+"/healthz"); code == 200 {
			break
		}
	}
	if code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	id, env := linkShared("C0BACKEND", "1732810000.000100", "https://acme.sentry.io/issues/4321/")
	s.send(env, id)
	s.unfurls(1)
	// chat.unfurl is counted once its answer is back: wait for it.
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, body = httpGet(t, "http://"+addr+"/metrics"); strings.Contains(body, "sentrybot_unfurls_total") {
			break
		}
	}
	for _, want := range []string{
		`sentrybot_envelopes_total{type="events_api"} 1`,
		`sentrybot_ack_latency_seconds_count{type="events_api"} 1`,
		`sentrybot_unfurls_total{result="ok"} 1`,
		`sentrybot_sentry_requests_total{op="get issue",status="200"} 1`,
		"sentrybot_sentry_breaker_open 0",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
	if !regexp.MustCompile(`(?m)^go_goroutines [1-9][0-9]*$`).MatchString(body) {
		t.Errorf("/metrics lacks a goroutine count:\n%s", body)
	}
	if strings.Contains(body, testSentryToken) || strings.Contains(body, testBotToken) {
		t.Error("/metrics shows a token")
	}
}

func TestListenerThatCannotListenStopsTheBot(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := newE2E(t, map[string]string{"SENTRYBOT_HTTP_LISTEN": l.Addr().String()})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = run(ctx, []string{"sentrybot", "run"}, func(k string) string { return s.env[k] }, io.Discard, s.logs)
	if err == nil || !strings.Contains(err.Error(), "http listener") || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("run = %v, want the listener's error at once", err)
	}
}

func TestHealthy(t *testing.T) {
	ctx := context.Background()
	up := func() bool { return true }
	down := func() bool { return false }
	ok := func(context.Context) error { return nil }
	broken := func(context.Context) error { return errors.New("disk I/O error at /var/lib/x.db") }
	if err := healthy(up, ok)(ctx); err != nil {
		t.Fatalf("healthy = %v", err)
	}
	if err := healthy(down, ok)(ctx); err == nil || !strings.Contains(err.Error(), "Slack") {
		t.Fatalf("disconnected = %v", err)
	}
	err := healthy(up, broken)(ctx)
	if err == nil || strings.Contains(err.Error(), "/var/lib") {
		t.Fatalf("store broken = %v (the reason is shown to anyone; no paths)", err)
	}
}
