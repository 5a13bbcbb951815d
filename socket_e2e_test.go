package main

// End-to-end tests of Socket Mode faults: a socket cut while an envelope is
// on its way, the disconnects Slack sends, Socket Mode turned off, and a
// connection that goes quiet. Each runs the real program against the fakes
// and checks what the user saw (chat.unfurl calls) and what Sentry received.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"sentrybot/blocks"
	"sentrybot/bot"
	"sentrybot/internal/slackfake"
)

// halt stops the program the way SIGTERM does and waits for run to return,
// so that every unit of work it took has finished. It returns run's error
// and leaves it for the cleanup of start.
func (s *e2e) halt() error {
	s.t.Helper()
	s.stop()
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(15 * time.Second):
		s.t.Fatal("run did not return after cancel")
		return nil
	}
}

// startTuned is start with bot timings that the configuration does not
// expose, wired as runServe wires the program.
func (s *e2e) startTuned(bc bot.Config) {
	s.t.Helper()
	getenv := func(k string) string { return s.env[k] }
	cfg, _, err := loadConfig("run", nil, getenv, s.logs)
	if err != nil {
		s.t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	a, err := newApp(ctx, cfg, newLogger(cfg, s.logs), appOptions{bot: bc})
	if err != nil {
		cancel()
		s.t.Fatalf("newApp: %v", err)
	}
	go func() { s.done <- a.serve(ctx) }()
	s.t.Cleanup(func() {
		cancel()
		select {
		case err := <-s.done:
			s.done <- err
		case <-time.After(15 * time.Second):
			s.t.Error("serve did not return after cancel")
		}
		s.assertNoSecretsLogged()
	})
	if err := s.slack.WaitConnected(s.ctx(), 1); err != nil {
		s.t.Fatalf("bot did not connect: %v\nlogs:\n%s", err, s.logs)
	}
}

// logLines decodes the JSON log lines whose message is msg.
func logLines(t *testing.T, logs, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["message"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// unfurlsOf returns the chat.unfurl calls made for the message ts.
func (s *e2e) unfurlsOf(ts string) []slackfake.Call {
	var out []slackfake.Call
	for _, c := range s.slack.Calls("chat.unfurl") {
		if c.Form.Get("ts") == ts {
			out = append(out, c)
		}
	}
	return out
}

// waitUnfurlOf waits for the first chat.unfurl of the message ts.
func (s *e2e) waitUnfurlOf(ts string) slackfake.Call {
	s.t.Helper()
	ctx := s.ctx()
	for n := 1; ; n++ {
		if _, err := s.slack.WaitCalls(ctx, "chat.unfurl", n); err != nil {
			s.t.Fatalf("waiting for the unfurl of %s: %v\nlogs:\n%s", ts, err, s.logs)
		}
		if got := s.unfurlsOf(ts); len(got) > 0 {
			return got[0]
		}
	}
}

// checkCard checks an unfurl shows the issue card for url, and only it.
func checkCard(t *testing.T, call slackfake.Call, url, title string) {
	t.Helper()
	if call.Error != "" {
		t.Fatalf("chat.unfurl answered %q", call.Error)
	}
	u, err := call.Unfurls()
	if err != nil {
		t.Fatal(err)
	}
	att, ok := u[url]
	if !ok || len(u) != 1 {
		t.Fatalf("unfurl keyed %v, want only %s", keys(u), url)
	}
	if text := blocks.PlainText(att.Blocks.BlockSet); !strings.Contains(text, title) {
		t.Errorf("card lacks %q:\n%s", title, text)
	}
}

func TestE2ESocketDroppedMidEnvelope(t *testing.T) {
	const url, title = "https://acme.sentry.io/issues/4321/", "TypeError: cannot read 'total'"
	for _, tc := range []struct {
		name string
		cut  func(s *e2e, id string)
	}{
		{"before the ack", func(s *e2e, _ string) {
			// The envelope may or may not reach the bot before the reset.
			s.slack.DropConnection()
		}},
		{"after the ack", func(s *e2e, id string) {
			// The ack was written but, as far as Slack knows, lost with the
			// socket: the bot has the envelope and sees it again.
			if _, err := s.slack.WaitAck(s.ctx(), id); err != nil {
				s.t.Fatal(err)
			}
			s.slack.DropConnection()
		}},
		{"while the work waits on Sentry", func(s *e2e, id string) {
			s.sentry.SetLatency(300 * time.Millisecond)
			if _, err := s.slack.WaitAck(s.ctx(), id); err != nil {
				s.t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for s.issueGets("4321") == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			s.slack.DropConnection()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newE2E(t, nil)
			s.start()
			ls := slackfake.LinkShared{TeamID: "T0001", Channel: "C0BACKEND", User: "U0ALICE", MessageTS: "1732830000.000001",
				Source: "conversations_history", EventID: nextEventID(), IsBotUserMember: true, URLs: []string{url}}
			id, env := slackfake.LinkSharedEnvelope(ls)
			if err := s.slack.Send(s.ctx(), env); err != nil {
				t.Fatal(err)
			}
			tc.cut(s, id)
			if err := s.slack.WaitConnected(s.ctx(), 2); err != nil {
				t.Fatalf("no reconnect after the drop: %v\nlogs:\n%s", err, s.logs)
			}
			// Slack delivers an event it has no ack for again, on the new
			// socket, with the next retry_attempt and a new envelope id.
			ls.RetryAttempt = 1
			rid, renv := slackfake.LinkSharedEnvelope(ls)
			s.send(renv, rid)
			checkCard(t, s.waitUnfurlOf(ls.MessageTS), url, title)

			// Once run has returned, every unit it took has finished.
			if err := s.halt(); err != nil {
				t.Fatalf("run = %v", err)
			}
			if n := len(s.unfurlsOf(ls.MessageTS)); n != 1 {
				t.Errorf("the message was unfurled %d times, want once", n)
			}
			if n := s.issueGets("4321"); n < 1 || n > 2 {
				t.Errorf("Sentry was asked for the issue %d times, want once or twice", n)
			}
			firstAcked := false
			for _, a := range s.slack.Acks() {
				firstAcked = firstAcked || a.EnvelopeID == id
			}
			t.Logf("first delivery acknowledged: %v", firstAcked)
			if errs := s.slack.ProtocolErrors(); len(errs) != 0 {
				t.Errorf("Socket Mode protocol errors: %q", errs)
			}
		})
	}
}

func TestE2EDisconnectReasonsReconnect(t *testing.T) {
	for _, reason := range []string{"refresh_requested", "warning"} {
		t.Run(reason, func(t *testing.T) {
			s := newE2E(t, nil)
			s.start()
			// A unit in flight when Slack asks to disconnect is finished
			// on the Web API, whatever happens to the socket.
			s.sentry.SetLatency(300 * time.Millisecond)
			idA, envA := linkShared("C0BACKEND", "1732830100.000001", "https://acme.sentry.io/issues/4321/")
			s.send(envA, idA)
			s.slack.Disconnect(reason)
			if err := s.slack.WaitConnected(s.ctx(), 2); err != nil {
				t.Fatalf("no reconnect after disconnect %s: %v\nlogs:\n%s", reason, err, s.logs)
			}
			s.sentry.SetLatency(0)
			idB, envB := linkShared("C0BACKEND", "1732830100.000002", "https://acme.sentry.io/issues/4322/")
			s.send(envB, idB)
			checkCard(t, s.waitUnfurlOf("1732830100.000002"), "https://acme.sentry.io/issues/4322/", "KeyError: 'user'")
			checkCard(t, s.waitUnfurlOf("1732830100.000001"), "https://acme.sentry.io/issues/4321/", "TypeError: cannot read 'total'")

			if err := s.halt(); err != nil {
				t.Fatalf("run = %v", err)
			}
			if n := len(s.slack.Calls("chat.unfurl")); n != 2 {
				t.Errorf("chat.unfurl calls = %d, want one per link", n)
			}
			if n := s.slack.ConnectionsOpened(); n != 2 {
				t.Errorf("apps.connections.open calls = %d, want 2", n)
			}
			// Slack rotates sockets routinely: said at info, not as a warning.
			lines := logLines(t, s.logs.String(), "socket closed; reconnecting")
			if len(lines) != 1 || lines[0]["reason"] != reason || lines[0]["level"] != "info" {
				t.Errorf("reconnect log lines %v, want one at info with reason %s", lines, reason)
			}
		})
	}
}

func TestE2ELinkDisabled(t *testing.T) {
	t.Run("once is retried", func(t *testing.T) {
		s := newE2E(t, nil)
		s.start()
		s.slack.Disconnect("link_disabled")
		if err := s.slack.WaitConnected(s.ctx(), 2); err != nil {
			t.Fatalf("no reconnect after one link_disabled: %v\nlogs:\n%s", err, s.logs)
		}
		id, env := linkShared("C0BACKEND", "1732830200.000001", "https://acme.sentry.io/issues/4321/")
		s.send(env, id)
		checkCard(t, s.waitUnfurlOf("1732830200.000001"), "https://acme.sentry.io/issues/4321/", "TypeError: cannot read 'total'")
	})

	t.Run("repeated stops run", func(t *testing.T) {
		s := newE2E(t, nil)
		s.start()
		s.slack.SetLinkDisabled(true)
		s.slack.Disconnect("link_disabled")
		var err error
		select {
		case err = <-s.done:
			s.done <- err
		case <-time.After(10 * time.Second):
			t.Fatalf("run kept going with Socket Mode turned off\nlogs:\n%s", s.logs)
		}
		if !errors.Is(err, bot.ErrLinkDisabled) {
			t.Fatalf("run = %v, want bot.ErrLinkDisabled", err)
		}
		for _, want := range []string{"Socket Mode is turned off", "link_disabled", "Settings › Socket Mode"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if code := exitCode(err); code != 1 {
			t.Errorf("exit code = %d, want 1", code)
		}
		// The connection Slack closed, then two refused sockets: it gives
		// up rather than reconnecting in a loop.
		if n := s.slack.ConnectionsOpened(); n != 3 {
			t.Errorf("apps.connections.open calls = %d, want 3", n)
		}
		if strings.Contains(s.logs.String(), `"stopped"`) {
			t.Errorf("a bot that gave up logged a clean stop")
		}
	})

	t.Run("process exits 1 with the reason", func(t *testing.T) {
		s := newE2E(t, nil)
		s.slack.SetLinkDisabled(true)
		cmd := exec.Command(os.Args[0], "run")
		cmd.Env = append(os.Environ(), "SENTRYBOT_TEST_AS_MAIN=1")
		for k, v := range s.env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var err error
		select {
		case err = <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Fatalf("sentrybot kept running with Socket Mode turned off\n%s", stderr.String())
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("sentrybot exited with %v, want exit status 1\n%s", err, stderr.String())
		}
		if want := "sentrybot: " + bot.ErrLinkDisabled.Error(); !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
		if n := s.slack.ConnectionsOpened(); n != 3 {
			t.Errorf("apps.connections.open calls = %d, want 3", n)
		}
		for _, secret := range []string{testAppToken, testBotToken, testSentryToken} {
			if strings.Contains(stderr.String(), secret) {
				t.Errorf("a secret appears in the process's output")
			}
		}
	})
}

func TestE2EPingsStopReconnects(t *testing.T) {
	s := newE2E(t, nil)
	// A fake that pings often, so a short read timeout holds while pings
	// flow and trips soon after they stop.
	s.slack.Close()
	s.slack = slackfake.New(slackfake.Options{AppToken: testAppToken, BotToken: testBotToken, PingInterval: 100 * time.Millisecond})
	t.Cleanup(s.slack.Close)
	s.env["SLACK_API_URL"] = s.slack.APIURL()
	s.startTuned(bot.Config{ReadTimeout: 1500 * time.Millisecond, BackoffBase: 50 * time.Millisecond})

	s.slack.PausePings(true)
	if err := s.slack.WaitConnected(s.ctx(), 2); err != nil {
		t.Fatalf("no reconnect after the pings stopped: %v\nlogs:\n%s", err, s.logs)
	}
	s.slack.PausePings(false)
	id, env := linkShared("C0BACKEND", "1732830300.000001", "https://acme.sentry.io/issues/4321/")
	s.send(env, id)
	checkCard(t, s.waitUnfurlOf("1732830300.000001"), "https://acme.sentry.io/issues/4321/", "TypeError: cannot read 'total'")
	if err := s.halt(); err != nil {
		t.Fatalf("serve = %v", err)
	}
	lines := logLines(t, s.logs.String(), "socket closed; reconnecting")
	if len(lines) == 0 || !strings.Contains(fmt.Sprint(lines[0]["error"]), "i/o timeout") {
		t.Errorf("the silent socket was not logged as timed out: %v", lines)
	}
}
