package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// hostInfo describes the machine for the report's header.
func hostInfo() string {
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":")) + ", "
				break
			}
		}
	}
	return fmt.Sprintf("%s%d CPUs (GOMAXPROCS %d), %s/%s, %s", cpu, runtime.NumCPU(), runtime.GOMAXPROCS(0),
		runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// selfCPUs is the CPU list this process may run on, from /proc.
func selfCPUs() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "any CPU"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return "CPU " + strings.TrimSpace(v)
		}
	}
	return "any CPU"
}

// formatReport renders the results as Markdown: one table per target and,
// when both sentrybot and a baseline ran, sentrybot's figures as ratios.
func formatReport(c config, host string, results []targetResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Load: %s\n\n", strings.Join(names(results), " vs "))
	fmt.Fprintf(&b, "Mix %s; each rate held %v (then up to %v to drain); fake Sentry answers in %v; "+
		"%d cards for clicks, %d issues for links and commands. %s.\n\n",
		c.mix, c.duration, c.drain, c.sentryLatency, c.cards, c.issues, host)
	if c.targetCPUs != "" {
		fmt.Fprintf(&b, "The target was pinned to CPU %s; this process (fakes and driver) ran on %s.\n\n", c.targetCPUs, selfCPUs())
	}
	for _, r := range results {
		writeTarget(&b, r)
	}
	var bot, base *targetResult
	for i := range results {
		if results[i].Name == "sentrybot" {
			bot = &results[i]
		} else {
			base = &results[i]
		}
	}
	if bot != nil && base != nil {
		writeRatios(&b, *bot, *base)
	}
	b.WriteString(legend)
	return b.String()
}

const legend = `Ack: from the fake starting to write the envelope to the socket to reading its ack; ` +
	`(sched): from the time the schedule said to send it, which also counts the sender's lag. ` +
	`e2e: from the scheduled send to the result reaching the fake (link: chat.unfurl of that link; ` +
	`click: chat.unfurl redrawing the card, or the response_url answer; command: the response_url post). ` +
	`done/s: results (acks, for kinds that show nothing more) per second from the first send to the last result. ` +
	`lag: how far the sender fell behind its schedule (the socket pushed back). ` +
	`CPU/env: the target's CPU time (user+system) per envelope; driver: this process, fakes included.` + "\n"

func names(results []targetResult) []string {
	var out []string
	for _, r := range results {
		out = append(out, r.Name)
	}
	return out
}

func writeTarget(b *strings.Builder, r targetResult) {
	fmt.Fprintf(b, "### %s\n\n", r.Name)
	b.WriteString("| rate/s | sent/s | lag max | ack p50 | ack p99 | ack max | ack p99 (sched) | link e2e p50 / p99 | click e2e p50 / p99 | command e2e p50 / p99 | done/s | not acked | not done | peak RSS | goroutines | CPU/env | driver CPU/env |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range r.Steps {
		e2e := func(k kind) string {
			switch {
			case s.PerKind[k] == 0:
				return "—"
			case k != kindLink && !r.Answers:
				return "ack only"
			case s.E2E[k].N == 0:
				return "none"
			}
			return ms(s.E2E[k].P50) + " / " + ms(s.E2E[k].P99)
		}
		fmt.Fprintf(b, "| %d | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %.0f | %d | %d | %s | %d | %s | %s |\n",
			s.Rate, s.SendRate, ms(s.MaxLag), ms(s.Ack.P50), ms(s.Ack.P99), ms(s.Ack.Max), ms(s.AckSched.P99),
			e2e(kindLink), e2e(kindClick), e2e(kindCommand), s.Throughput,
			s.Sent-s.Acked, s.Sent-s.Done, mb(s.PeakRSS), s.Goroutines, perEnvelope(s.ChildCPU, s.Sent), perEnvelope(s.DriverCPU, s.Sent))
	}
	b.WriteString("\n")
	var notes []string
	for _, s := range r.Steps {
		var parts []string
		if s.Private > 0 {
			parts = append(parts, fmt.Sprintf("%d clicks answered privately", s.Private))
		}
		if s.SlackErrs > 0 {
			parts = append(parts, fmt.Sprintf("%d Slack calls refused", s.SlackErrs))
		}
		if s.ExtraCards > 0 {
			parts = append(parts, fmt.Sprintf("%d card redraws beyond the clicks", s.ExtraCards))
		}
		if s.Warnings+s.Errors > 0 {
			parts = append(parts, fmt.Sprintf("%d warning and %d error log lines", s.Warnings, s.Errors))
		}
		if len(parts) > 0 {
			notes = append(notes, fmt.Sprintf("at %d/s: %s", s.Rate, strings.Join(parts, ", ")))
		}
	}
	notes = append(notes, r.Notes...)
	for _, n := range notes {
		fmt.Fprintf(b, "- %s\n", n)
	}
	if len(notes) > 0 {
		b.WriteString("\n")
	}
}

func writeRatios(b *strings.Builder, bot, base targetResult) {
	fmt.Fprintf(b, "### sentrybot ÷ %s\n\n", base.Name)
	b.WriteString("| rate/s | ack p50 | ack p99 | ack max | link e2e p50 | link e2e p99 | done/s | peak RSS | CPU/env |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range bot.Steps {
		var f *stepResult
		for i := range base.Steps {
			if base.Steps[i].Rate == s.Rate {
				f = &base.Steps[i]
			}
		}
		if f == nil {
			continue
		}
		fmt.Fprintf(b, "| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", s.Rate,
			ratio(float64(s.Ack.P50), float64(f.Ack.P50)), ratio(float64(s.Ack.P99), float64(f.Ack.P99)),
			ratio(float64(s.Ack.Max), float64(f.Ack.Max)),
			ratio(float64(s.E2E[kindLink].P50), float64(f.E2E[kindLink].P50)),
			ratio(float64(s.E2E[kindLink].P99), float64(f.E2E[kindLink].P99)),
			ratio(s.Throughput, f.Throughput), ratio(float64(s.PeakRSS), float64(f.PeakRSS)),
			ratio(float64(s.ChildCPU)/float64(max(s.Sent, 1)), float64(f.ChildCPU)/float64(max(f.Sent, 1))))
	}
	b.WriteString("\n")
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// ms prints a duration in milliseconds with about three significant digits,
// in seconds from ten seconds up.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case d == 0:
		return "—"
	case v >= 10000:
		return fmt.Sprintf("%.1f s", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	case v >= 1:
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.3f ms", v)
}

func mb(bytes int64) string {
	if bytes <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f MB", float64(bytes)/(1<<20))
}

func perEnvelope(d time.Duration, n int) string {
	if n == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f µs", float64(d)/float64(n)/float64(time.Microsecond))
}
