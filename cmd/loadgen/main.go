// Command loadgen drives sentrybot, or a bare slack-go Socket Mode handler as
// a baseline, through the in-process Slack and Sentry fakes at rising rates.
// It reports ack latency, end-to-end latency, throughput, peak RSS and
// goroutines per rate, and sentrybot's figures as ratios to the baseline's.
//
//	go build -o /tmp/sentrybot . && go run ./cmd/loadgen -bot /tmp/sentrybot -baseline
//
// The target runs as a child process so that its RSS and CPU are its own; the
// fakes and the driver share this process. The baseline is this binary again,
// started with LOADGEN_CHILD=baseline.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// childEnv selects the baseline child mode of this binary.
const (
	childEnv      = "LOADGEN_CHILD"
	childBaseline = "baseline"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var err error
	if os.Getenv(childEnv) == childBaseline {
		err = runBaseline(ctx, os.Getenv)
	} else {
		err = run(ctx, os.Args, os.Stdout, os.Stderr)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		var u usageError
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a bad command line; main exits 2 for it.
type usageError struct{ error }

// config is the parsed command line.
type config struct {
	bot            string // sentrybot binary; "" to skip it
	baseline       bool
	baselineSentry bool // the baseline fetches the issue from Sentry before unfurling
	baselineRecord bool // the baseline records each envelope in a store before its ack
	self           string
	rates          []int
	duration       time.Duration
	drain          time.Duration
	sentryLatency  time.Duration
	mix            mix
	cards          int
	issues         int
	out            string
	logs           string
	cpuProfile     string
	targetCPUs     string // CPU list the target is pinned to with taskset; "" for no pinning
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var rates, mixText string
	fs.StringVar(&c.bot, "bot", "", "sentrybot binary to drive (build it with `go build -o /tmp/sentrybot .`)")
	fs.BoolVar(&c.baseline, "baseline", false, "drive the baseline: a bare slack-go socketmode handler that acks and unfurls a fixed card")
	fs.BoolVar(&c.baselineSentry, "baseline-sentry", false, "the baseline fetches each linked issue from the fake Sentry before chat.unfurl")
	fs.BoolVar(&c.baselineRecord, "baseline-record", false, "the baseline records each envelope in a sentrybot store before its ack and marks it done after its work, as sentrybot's durable intake does")
	fs.StringVar(&rates, "rates", "100,250,500,1000", "envelopes per second, one step each, in this order")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long each rate is held")
	fs.DurationVar(&c.drain, "drain", 30*time.Second, "how long to wait after each step for outstanding acks and results")
	fs.DurationVar(&c.sentryLatency, "sentry-latency", 50*time.Millisecond, "how long the fake Sentry takes to answer")
	fs.StringVar(&mixText, "mix", "link=70,click=20,command=10", "share of link_shared envelopes, button clicks and /sentry commands")
	fs.IntVar(&c.cards, "cards", 200, "issue cards the clicks are spread over")
	fs.IntVar(&c.issues, "issues", 20000, "issues links and commands cycle through; more than the envelopes of a run means every fetch misses the bot's cache")
	fs.StringVar(&c.out, "out", "", "also write the report to this file")
	fs.StringVar(&c.logs, "logs", "", "directory for the targets' logs (default: logs are counted, then dropped)")
	fs.StringVar(&c.targetCPUs, "target-cpus", "", "pin the target to these CPUs with taskset (e.g. 1; run loadgen itself under `taskset -c 0` to keep them apart)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (the fakes and the driver) to this file")
	if err := fs.Parse(args[1:]); err != nil {
		return config{}, usageError{err}
	}
	if fs.NArg() != 0 {
		return config{}, usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if c.bot == "" && !c.baseline {
		return config{}, usageError{errors.New("nothing to drive: give -bot PATH, -baseline, or both")}
	}
	var err error
	if c.rates, err = parseRates(rates); err != nil {
		return config{}, usageError{err}
	}
	if c.mix, err = parseMix(mixText); err != nil {
		return config{}, usageError{err}
	}
	if c.duration <= 0 || c.drain < 0 || c.sentryLatency < 0 || c.cards <= 0 || c.issues <= 0 {
		return config{}, usageError{errors.New("-duration, -cards and -issues must be positive; -drain and -sentry-latency not negative")}
	}
	return c, nil
}

func parseRates(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-rates: %q is not a positive whole number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// run drives each target named on the command line and prints the report.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if c.baseline {
		if c.self, err = os.Executable(); err != nil {
			return fmt.Errorf("finding this binary to start the baseline: %w", err)
		}
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return fmt.Errorf("creating the CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("starting the CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	var results []targetResult
	if c.bot != "" {
		r, err := drive(ctx, c, sentrybotTarget(c.bot), stderr)
		if err != nil {
			return fmt.Errorf("driving sentrybot: %w", err)
		}
		results = append(results, r)
	}
	if c.baseline {
		r, err := drive(ctx, c, baselineTarget(c.self, c.baselineSentry, c.baselineRecord), stderr)
		if err != nil {
			return fmt.Errorf("driving the baseline: %w", err)
		}
		results = append(results, r)
	}
	report := formatReport(c, hostInfo(), results)
	if _, err := io.WriteString(stdout, report); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	if c.out != "" {
		if err := os.WriteFile(c.out, []byte(report), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", c.out, err)
		}
	}
	return nil
}
