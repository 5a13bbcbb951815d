package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// kind is what an envelope asks of the bot.
type kind int

const (
	kindLink    kind = iota // link_shared: a pasted issue link to unfurl
	kindClick               // block_actions: Resolve or Unresolve on a card
	kindCommand             // slash_commands: /sentry issue ID
	kinds
)

var kindNames = [kinds]string{"link", "click", "command"}

func (k kind) String() string { return kindNames[k] }

// mix is the share of each kind, as whole-number weights.
type mix [kinds]int

func parseMix(s string) (mix, error) {
	var m mix
	seen := map[string]bool{}
	for f := range strings.SplitSeq(s, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(f), "=")
		n, err := strconv.Atoi(w)
		if !ok || err != nil || n < 0 {
			return mix{}, fmt.Errorf("-mix: %q is not kind=weight", f)
		}
		i := slices.Index(kindNames[:], name)
		if i < 0 {
			return mix{}, fmt.Errorf("-mix: unknown kind %q (want link, click, command)", name)
		}
		if seen[name] {
			return mix{}, fmt.Errorf("-mix: %s given twice", name)
		}
		seen[name] = true
		m[i] = n
	}
	if m[kindLink]+m[kindClick]+m[kindCommand] == 0 {
		return mix{}, fmt.Errorf("-mix: every weight is zero")
	}
	return m, nil
}

func (m mix) String() string {
	parts := make([]string, 0, kinds)
	for k := range kinds {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, ",")
}

// picker spreads kinds evenly in the proportions of a mix (smooth weighted
// round robin): with link=70,click=20,command=10 every run of ten envelopes
// has seven links, two clicks and a command.
type picker struct {
	m     mix
	cur   [kinds]int
	total int
}

func newPicker(m mix) *picker {
	return &picker{m: m, total: m[kindLink] + m[kindClick] + m[kindCommand]}
}

func (p *picker) next() kind {
	best := kind(-1)
	for k := range kinds {
		if p.m[k] == 0 {
			continue
		}
		p.cur[k] += p.m[k]
		if best < 0 || p.cur[k] > p.cur[best] {
			best = k
		}
	}
	p.cur[best] -= p.total
	return best
}

// summary describes a set of latencies.
type summary struct {
	N             int
	P50, P99, Max time.Duration
}

// summarize takes nearest-rank percentiles: P99 of 100 samples is the 99th
// smallest, never an interpolation between two.
func summarize(ds []time.Duration) summary {
	if len(ds) == 0 {
		return summary{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return summary{N: len(s), P50: rank(s, 0.50), P99: rank(s, 0.99), Max: s[len(s)-1]}
}

func rank(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}
