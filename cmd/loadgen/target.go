package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Credentials the fakes accept. They are test values, never real tokens.
const (
	appToken    = "xapp-1-A0LOAD-1-loadgen"
	botToken    = "xoxb-1-loadgen"
	sentryToken = "sntrys_loadgen"
	sentryOrg   = "acme"
)

// fakeAddrs is where the target finds the fakes and serves its metrics.
type fakeAddrs struct {
	slackAPI    string
	sentry      string
	metricsAddr string // host:port the target's /metrics listens on
	dir         string // scratch directory: working directory and database
}

// target is a program the driver can start against the fakes.
type target struct {
	name string
	// answers is true when clicks and commands have a visible result
	// beyond the ack (a redrawn card, a response_url post).
	answers bool
	command func(a fakeAddrs) *exec.Cmd
}

func sentrybotTarget(path string) target {
	return target{
		name:    "sentrybot",
		answers: true,
		command: func(a fakeAddrs) *exec.Cmd {
			cmd := exec.Command(path, "run")
			cmd.Env = append(cleanEnv(),
				"SLACK_APP_TOKEN="+appToken,
				"SLACK_BOT_TOKEN="+botToken,
				"SLACK_API_URL="+a.slackAPI,
				"SENTRY_URL="+a.sentry,
				"SENTRY_ORG="+sentryOrg,
				"SENTRY_AUTH_TOKEN="+sentryToken,
				"SENTRY_LINK_HOSTS=sentry.io",
				"SENTRYBOT_DB="+filepath.Join(a.dir, "sentrybot.db"),
				"SENTRYBOT_LOG_LEVEL=warn",
				"SENTRYBOT_LOG_FORMAT=json",
				"SENTRYBOT_HTTP_LISTEN="+a.metricsAddr,
			)
			return cmd
		},
	}
}

// Environment of the baseline child.
const (
	baselineMetricsEnv = "LOADGEN_METRICS_LISTEN"
	baselineSentryEnv  = "LOADGEN_BASELINE_SENTRY"
	baselineRecordEnv  = "LOADGEN_BASELINE_RECORD" // path of the store the baseline records envelopes in
)

func baselineTarget(self string, withSentry, withRecord bool) target {
	name := "baseline"
	if withSentry {
		name += "+sentry"
	}
	if withRecord {
		name += "+record"
	}
	return target{
		name: name,
		command: func(a fakeAddrs) *exec.Cmd {
			cmd := exec.Command(self)
			cmd.Env = append(cleanEnv(),
				childEnv+"="+childBaseline,
				"SLACK_APP_TOKEN="+appToken,
				"SLACK_BOT_TOKEN="+botToken,
				"SLACK_API_URL="+a.slackAPI,
				baselineMetricsEnv+"="+a.metricsAddr,
			)
			if withSentry {
				cmd.Env = append(cmd.Env, baselineSentryEnv+"=1",
					"SENTRY_URL="+a.sentry, "SENTRY_ORG="+sentryOrg, "SENTRY_AUTH_TOKEN="+sentryToken)
			}
			if withRecord {
				cmd.Env = append(cmd.Env, baselineRecordEnv+"="+filepath.Join(a.dir, "baseline.db"))
			}
			return cmd
		},
	}
}

// cleanEnv is this process's environment without anything that would
// configure a target behind the driver's back.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SLACK_") || strings.HasPrefix(k, "SENTRY_") || strings.HasPrefix(k, "SENTRYBOT_") ||
			strings.HasPrefix(k, "LOADGEN_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// freeAddr picks a loopback port that is free now. Another process could
// take it before the target binds it; the target then fails to start and
// says so.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr, nil
}

// child is a running target process.
type child struct {
	cmd     *exec.Cmd
	log     *logSink
	exited  chan struct{}
	waitErr error
	metrics string // http://host:port/metrics
	http    *http.Client
}

func startChild(t target, a fakeAddrs, cpus string, logFile io.Writer) (*child, error) {
	cmd := t.command(a)
	if cpus != "" {
		// taskset execs the target, so the pid stays the target's.
		pinned := exec.Command("taskset", append([]string{"-c", cpus}, cmd.Args...)...)
		pinned.Env = cmd.Env
		cmd = pinned
	}
	cmd.Dir = a.dir
	sink := &logSink{file: logFile}
	cmd.Stdout, cmd.Stderr = sink, sink
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", t.name, err)
	}
	c := &child{cmd: cmd, log: sink, exited: make(chan struct{}), metrics: "http://" + a.metricsAddr + "/metrics",
		http: &http.Client{Timeout: 2 * time.Second}}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop asks the child to finish (SIGTERM), then kills it after grace.
func (c *child) stop(grace time.Duration) error {
	select {
	case <-c.exited:
		return fmt.Errorf("it had already exited: %v", c.waitErr)
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.exited:
		return c.waitErr
	case <-t.C:
		_ = c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("did not stop within %v of SIGTERM; killed", grace)
	}
}

// goroutines scrapes go_goroutines from the child's /metrics.
func (c *child) goroutines(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.metrics, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseGoroutines(resp.Body)
}

func parseGoroutines(r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("go_goroutines %q: %w", v, err)
			}
			return int(f), nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no go_goroutines sample in /metrics")
}

// procStatus reads a kB field such as VmHWM or VmRSS from /proc/PID/status,
// in bytes.
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s %q: %w", field, v, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// resetPeakRSS makes VmHWM start again from the current RSS (Linux 4.0+).
func resetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// clockTick is USER_HZ, the unit of /proc/PID/stat times; 100 on every
// Linux architecture Go supports.
const clockTick = 100

// procCPU is the user plus system CPU time the process used so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields are counted after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	// After the name: state is field 3, utime 14, stime 15.
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed utime/stime in /proc stat")
	}
	return time.Duration(u+s) * time.Second / clockTick, nil
}

// selfCPU is the CPU time this process used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// logSink counts the child's warning and error lines and keeps the last
// few for a failure message; with a file it also copies everything there.
type logSink struct {
	file io.Writer

	mu       sync.Mutex
	partial  []byte
	warnings int
	errors   int
	tail     []string
}

const tailLines = 20

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		_, _ = l.file.Write(p)
	}
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		switch {
		case strings.Contains(line, `"level":"warn"`):
			l.warnings++
		case strings.Contains(line, `"level":"error"`), strings.Contains(line, `"level":"fatal"`), strings.Contains(line, "panic"):
			l.errors++
		}
		l.tail = append(l.tail, line)
		if len(l.tail) > tailLines {
			l.tail = l.tail[1:]
		}
	}
	return len(p), nil
}

// counts returns the warning and error lines so far and resets them.
func (l *logSink) counts() (warnings, errs int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	warnings, errs = l.warnings, l.errors
	l.warnings, l.errors = 0, 0
	return warnings, errs
}

func (l *logSink) lastLines() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.tail, "\n")
}
