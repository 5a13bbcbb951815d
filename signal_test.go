package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMDrainsInFlightWork runs sentrybot as its own process, sends it
// a real SIGTERM while an unfurl waits on Sentry, and checks that the work
// finished, the process exited 0, and the database file is private.
func TestSIGTERMDrainsInFlightWork(t *testing.T) {
	s := newE2E(t, nil)
	s.sentry.SetLatency(600 * time.Millisecond)

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
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	})
	if err := s.slack.WaitConnected(s.ctx(), 1); err != nil {
		t.Fatalf("child did not connect: %v\n%s", err, stderr.String())
	}

	id, env := linkShared("C0BACKEND", "1732810000.000200", "https://acme.sentry.io/issues/4321/")
	s.send(env, id)
	// Wait until the child is waiting on Sentry, then stop it.
	deadline := time.Now().Add(5 * time.Second)
	for s.issueGets("4321") == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) || err != nil {
			t.Fatalf("sentrybot exited with %v\n%s", err, stderr.String())
		}
	case <-time.After(12 * time.Second):
		t.Fatal("sentrybot did not exit within the 10 s drain cap")
	}
	if n := len(s.slack.Calls("chat.unfurl")); n != 1 {
		t.Fatalf("chat.unfurl calls = %d: the in-flight unfurl was dropped\n%s", n, stderr.String())
	}
	if !strings.Contains(stderr.String(), `"stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", stderr.String())
	}
	for _, secret := range []string{testAppToken, testBotToken, testSentryToken} {
		if strings.Contains(stderr.String(), secret) {
			t.Errorf("a secret appears in the process's log")
		}
	}
	fi, err := os.Stat(filepath.Clean(s.env["SENTRYBOT_DB"]))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("database file mode %o, want 600", perm)
	}
}
