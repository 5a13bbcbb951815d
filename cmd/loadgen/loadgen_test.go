package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"sentrybot/internal/slackfake"
)

func TestMain(m *testing.M) {
	// The smoke test starts this test binary as the baseline child.
	if os.Getenv(childEnv) == childBaseline {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := runBaseline(ctx, os.Getenv)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestSummarizeNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := summarize(ds)
	want := summary{N: 100, P50: 50 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if got != want {
		t.Errorf("summarize(1..100ms) = %+v, want %+v", got, want)
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("summarize sorted its argument in place")
	}
	if got := summarize([]time.Duration{7}); got != (summary{N: 1, P50: 7, P99: 7, Max: 7}) {
		t.Errorf("one sample: %+v", got)
	}
	if got := summarize(nil); got != (summary{}) {
		t.Errorf("no samples: %+v", got)
	}
	// Three samples: the 99th percentile is the largest, the median the middle.
	if got := summarize([]time.Duration{3, 1, 2}); got.P50 != 2 || got.P99 != 3 {
		t.Errorf("three samples: %+v", got)
	}
}

func TestMixParseAndSpread(t *testing.T) {
	m, err := parseMix("link=70,click=20,command=10")
	if err != nil {
		t.Fatal(err)
	}
	p := newPicker(m)
	var total [kinds]int
	for w := range 10 {
		var window [kinds]int
		for range 10 {
			window[p.next()]++
		}
		if window != [kinds]int{7, 2, 1} {
			t.Errorf("window %d = %v, want 7 links, 2 clicks, 1 command", w, window)
		}
		for k := range kinds {
			total[k] += window[k]
		}
	}
	if total != [kinds]int{70, 20, 10} {
		t.Errorf("100 picks = %v", total)
	}

	m, err = parseMix("click=0,link=1")
	if err != nil {
		t.Fatal(err)
	}
	p = newPicker(m)
	for range 20 {
		if k := p.next(); k != kindLink {
			t.Fatalf("picked %s with weight 0", k)
		}
	}
	for _, bad := range []string{"", "link", "link=x", "link=-1", "links=5", "link=1,link=2", "link=0,click=0"} {
		if _, err := parseMix(bad); err == nil {
			t.Errorf("parseMix(%q) accepted", bad)
		}
	}
}

func TestFlags(t *testing.T) {
	c, err := parseFlags([]string{"loadgen", "-baseline", "-rates", "5, 10", "-duration", "1s"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.rates) != 2 || c.rates[0] != 5 || c.rates[1] != 10 || !c.baseline || c.duration != time.Second {
		t.Errorf("config %+v", c)
	}
	for _, args := range [][]string{
		{"loadgen"}, // nothing to drive
		{"loadgen", "-baseline", "-rates", "0"},
		{"loadgen", "-baseline", "-rates", "10,x"},
		{"loadgen", "-baseline", "extra"},
	} {
		if _, err := parseFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func TestTrackerMatchesResults(t *testing.T) {
	tr := newTracker()
	t0 := time.Unix(1000, 0)
	link := &rec{kind: kindLink, sent: t0}
	click1 := &rec{kind: kindClick, sent: t0}
	click2 := &rec{kind: kindClick, sent: t0}
	click3 := &rec{kind: kindClick, sent: t0}
	cmd := &rec{kind: kindCommand, sent: t0, doneAtAck: true}
	card := msgKey("C1", "1.000001")
	tr.expect("E-link", link, msgKey("C1", "2.000002"), "", "")
	tr.expect("E-c1", click1, "", card, "https://h/1")
	tr.expect("E-c2", click2, "", card, "https://h/2")
	tr.expect("E-c3", click3, "", card, "https://h/3")
	tr.expect("E-cmd", cmd, "", "", "")

	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	unfurl := func(ts string, ms int) slackfake.Call {
		return slackfake.Call{Method: "chat.unfurl", Form: url.Values{"channel": {"C1"}, "ts": {ts}}, At: at(ms)}
	}
	tr.onAck(slackfake.Ack{EnvelopeID: "E-link", Sent: t0, At: at(1)})
	tr.onAck(slackfake.Ack{EnvelopeID: "E-cmd", Sent: t0, At: at(2)})
	tr.onAck(slackfake.Ack{EnvelopeID: "unknown", Sent: t0, At: at(2)})
	tr.onCall(unfurl("2.000002", 50))
	// The second click is answered privately first; the card's next two
	// redraws then belong to the first and third clicks, in order.
	tr.onCall(slackfake.Call{Method: "response_url", Hook: "https://h/2", At: at(60)})
	tr.onCall(unfurl("1.000001", 150))
	tr.onCall(unfurl("1.000001", 160))
	tr.onCall(unfurl("1.000001", 170)) // nothing waits for it
	tr.onCall(slackfake.Call{Method: "chat.unfurl", Error: "cannot_unfurl_url", At: at(180)})

	got := tr.snapshot([]*rec{link, click1, click2, click3, cmd})
	for i, want := range []struct {
		ack, done time.Duration
		private   bool
	}{
		{time.Millisecond, 50 * time.Millisecond, false},
		{0, 150 * time.Millisecond, false},
		{0, 60 * time.Millisecond, true},
		{0, 160 * time.Millisecond, false},
		{2 * time.Millisecond, 2 * time.Millisecond, false},
	} {
		r := got[i]
		if r.ackLatency != want.ack || r.doneAt.Sub(t0) != want.done || r.private != want.private {
			t.Errorf("rec %d: ack %v done %v private %v, want %v %v %v", i, r.ackLatency, r.doneAt.Sub(t0), r.private, want.ack, want.done, want.private)
		}
	}
	if errs, extra := tr.counters(); errs != 1 || extra != 1 {
		t.Errorf("counters = %d refused, %d extra redraws; want 1, 1", errs, extra)
	}
}

func TestParseGoroutines(t *testing.T) {
	text := "# HELP go_goroutines n\n# TYPE go_goroutines gauge\ngo_goroutines 42\nsentrybot_x 1\n"
	if n, err := parseGoroutines(strings.NewReader(text)); err != nil || n != 42 {
		t.Errorf("parseGoroutines = %d, %v", n, err)
	}
	if _, err := parseGoroutines(strings.NewReader("sentrybot_x 1\n")); err == nil {
		t.Error("a page without go_goroutines was accepted")
	}
}

func TestProcReaders(t *testing.T) {
	pid := os.Getpid()
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc on this system")
	}
	rss, err := procStatus(pid, "VmRSS")
	if err != nil || rss <= 0 {
		t.Errorf("VmRSS = %d, %v", rss, err)
	}
	if hwm, err := procStatus(pid, "VmHWM"); err != nil || hwm < rss {
		t.Errorf("VmHWM = %d (RSS %d), %v", hwm, rss, err)
	}
	if _, err := procStatus(pid, "NoSuchField"); err == nil {
		t.Error("a missing field was found")
	}
	if _, err := procCPU(pid); err != nil {
		t.Errorf("procCPU: %v", err)
	}
}

func TestReport(t *testing.T) {
	bot := targetResult{Name: "sentrybot", Answers: true, Steps: []stepResult{{
		Rate: 500, Sent: 5000, SendRate: 499.6, Acked: 4990,
		Ack:      summary{N: 4990, P50: 400 * time.Microsecond, P99: 4 * time.Millisecond, Max: 12 * time.Millisecond},
		AckSched: summary{N: 4990, P99: 5 * time.Millisecond},
		PerKind:  [kinds]int{3500, 1000, 500},
		E2E: [kinds]summary{
			{N: 3500, P50: 60 * time.Millisecond, P99: 90 * time.Millisecond},
			{N: 1000, P50: 160 * time.Millisecond, P99: 250 * time.Millisecond},
			{},
		},
		Done: 4500, Throughput: 450, PeakRSS: 40 << 20, Goroutines: 80, ChildCPU: 5 * time.Second, Private: 3,
	}}}
	base := targetResult{Name: "baseline", Steps: []stepResult{{
		Rate: 500, Sent: 5000, SendRate: 500, Acked: 5000,
		Ack:     summary{N: 5000, P50: 200 * time.Microsecond, P99: 2 * time.Millisecond, Max: 6 * time.Millisecond},
		PerKind: [kinds]int{3500, 1000, 500},
		E2E:     [kinds]summary{{N: 3500, P50: 50 * time.Millisecond, P99: 60 * time.Millisecond}},
		Done:    5000, Throughput: 500, PeakRSS: 20 << 20, Goroutines: 20, ChildCPU: 2500 * time.Millisecond,
	}}}
	c := config{mix: mix{70, 20, 10}, duration: 10 * time.Second, drain: 30 * time.Second, sentryLatency: 50 * time.Millisecond, cards: 200, issues: 20000}
	out := formatReport(c, "test host", []targetResult{bot, base})
	for _, want := range []string{
		"## Load: sentrybot vs baseline",
		"Mix link=70,click=20,command=10; each rate held 10s",
		"| 500 | 500 | — | 0.400 ms | 4.00 ms | 12.0 ms | 5.00 ms | 60.0 ms / 90.0 ms | 160 ms / 250 ms | none | 450 | 10 | 500 | 40.0 MB | 80 | 1000 µs |",
		"| 500 | 500 | — | 0.200 ms | 2.00 ms | 6.00 ms | — | 50.0 ms / 60.0 ms | ack only | ack only | 500 | 0 | 0 | 20.0 MB | 20 | 500 µs |",
		"### sentrybot ÷ baseline",
		"| 500 | 2.00× | 2.00× | 2.00× | 1.20× | 1.50× | 0.90× | 2.00× | 2.00× |",
		"at 500/s: 3 clicks answered privately",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestSmokeBaseline drives the baseline child (this test binary) for a
// moment at a low rate, calling Sentry and then also recording envelopes,
// and checks every envelope was acked and every link unfurled. It asserts
// no timings.
func TestSmokeBaseline(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	for _, record := range []bool{false, true} {
		t.Run(fmt.Sprintf("record=%v", record), func(t *testing.T) { smokeBaseline(t, record) })
	}
}

func smokeBaseline(t *testing.T, record bool) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := config{rates: []int{20}, duration: time.Second, drain: 10 * time.Second, mix: mix{70, 20, 10},
		cards: 4, issues: 50, self: self}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	r, err := drive(ctx, c, baselineTarget(self, true, record), &stderr)
	if err != nil {
		t.Fatalf("drive: %v\n%s", err, stderr.String())
	}
	if len(r.Steps) != 1 {
		t.Fatalf("%d steps, want 1", len(r.Steps))
	}
	s := r.Steps[0]
	if s.Sent != 20 || s.Acked != s.Sent || s.Done != s.Sent {
		t.Errorf("sent %d, acked %d, done %d: want all 20", s.Sent, s.Acked, s.Done)
	}
	if s.PerKind != [kinds]int{14, 4, 2} || s.E2E[kindLink].N != 14 {
		t.Errorf("per kind %v, link results %d", s.PerKind, s.E2E[kindLink].N)
	}
	if s.PeakRSS <= 0 || s.Goroutines <= 0 {
		t.Errorf("peak RSS %d, goroutines %d: the child was not measured", s.PeakRSS, s.Goroutines)
	}
	if s.SlackErrs != 0 {
		t.Errorf("%d Slack calls refused", s.SlackErrs)
	}
	if len(r.Notes) != 0 {
		t.Errorf("notes: %v", r.Notes)
	}
}
