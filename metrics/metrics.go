// Package metrics is a small registry of counters, histograms and gauges
// exposed in the Prometheus text format, version 0.0.4
// (prometheus.io/docs/instrumenting/exposition_formats). It covers what
// sentrybot reports and nothing more, so that no client library is needed.
//
// Metric and label names are fixed by the program, so a bad name, a
// duplicate registration or a wrong number of label values is a programming
// error and panics; recording a value never fails.
package metrics

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Registry holds metric families and writes them out. The zero value is not
// usable; call NewRegistry.
type Registry struct {
	mu       sync.RWMutex
	families map[string]family
}

// family is one metric name with its HELP and TYPE.
type family interface {
	write(b *strings.Builder)
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{families: map[string]family{}}
}

func (r *Registry) register(name string, f family) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.families[name]; dup {
		panic(fmt.Sprintf("metrics: %s registered twice", name))
	}
	r.families[name] = f
}

// vec maps label values to children. Lookups of existing children take only
// the read lock; the values themselves are atomics.
type vec[T any] struct {
	name       string
	help       string
	labelNames []string
	newChild   func() *T

	mu       sync.RWMutex
	children map[string]*child[T]
}

type child[T any] struct {
	values []string
	m      *T
}

// labelSep cannot occur in valid UTF-8, so joined values are unambiguous.
const labelSep = "\xff"

func newVec[T any](name, help string, labelNames []string, newChild func() *T) *vec[T] {
	mustValidName(name)
	seen := map[string]bool{}
	for _, l := range labelNames {
		mustValidLabel(name, l)
		if seen[l] {
			panic(fmt.Sprintf("metrics: %s: label %q given twice", name, l))
		}
		seen[l] = true
	}
	v := &vec[T]{
		name: name, help: help, labelNames: slices.Clone(labelNames),
		newChild: newChild, children: map[string]*child[T]{},
	}
	if len(labelNames) == 0 {
		// A metric without labels exists from the start, at zero.
		v.with()
	}
	return v
}

func (v *vec[T]) with(values ...string) *T {
	if len(values) != len(v.labelNames) {
		panic(fmt.Sprintf("metrics: %s takes %d label values, got %d", v.name, len(v.labelNames), len(values)))
	}
	// The key is built in a stack buffer and looked up as string(key),
	// which Go does without allocating, so a hit costs no garbage.
	var buf [128]byte
	key := buf[:0]
	for i, val := range values {
		if i > 0 {
			key = append(key, labelSep...)
		}
		key = append(key, val...)
	}
	v.mu.RLock()
	c, ok := v.children[string(key)]
	v.mu.RUnlock()
	if ok {
		return c.m
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if c, ok := v.children[string(key)]; ok {
		return c.m
	}
	c = &child[T]{values: slices.Clone(values), m: v.newChild()}
	v.children[string(key)] = c
	return c.m
}

// sorted returns the children ordered by their label values, for a
// deterministic exposition.
func (v *vec[T]) sorted() []*child[T] {
	v.mu.RLock()
	out := make([]*child[T], 0, len(v.children))
	for _, c := range v.children {
		out = append(out, c)
	}
	v.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return slices.Compare(out[i].values, out[j].values) < 0 })
	return out
}

func (v *vec[T]) header(b *strings.Builder, typ string) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", v.name, escapeHelp(v.help), v.name, typ)
}

// ---- counters

// CounterVec is a counter family; With selects one counter by label values.
type CounterVec struct{ v *vec[Counter] }

// Counter only goes up.
type Counter struct{ bits atomic.Uint64 }

// Counter registers a counter family. Prometheus convention: name ends in _total.
func (r *Registry) Counter(name, help string, labelNames ...string) *CounterVec {
	cv := &CounterVec{v: newVec(name, help, labelNames, func() *Counter { return &Counter{} })}
	r.register(name, cv)
	return cv
}

// With returns the counter for the given label values, in the order the
// label names were registered.
func (cv *CounterVec) With(labelValues ...string) *Counter { return cv.v.with(labelValues...) }

// Inc adds one.
func (c *Counter) Inc() { c.Add(1) }

// Add adds n. A counter never goes down: negative and NaN values are
// ignored rather than corrupting it.
func (c *Counter) Add(n float64) {
	if !(n > 0) {
		return
	}
	addFloat(&c.bits, n)
}

// Value returns the current count.
func (c *Counter) Value() float64 { return math.Float64frombits(c.bits.Load()) }

func (cv *CounterVec) write(b *strings.Builder) {
	children := cv.v.sorted()
	if len(children) == 0 {
		return
	}
	cv.v.header(b, "counter")
	for _, c := range children {
		writeSample(b, cv.v.name, cv.v.labelNames, c.values, "", "", c.m.Value())
	}
}

// ---- histograms

// DefBuckets are Prometheus's default latency buckets, in seconds.
var DefBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// HistogramVec is a histogram family; With selects one histogram.
type HistogramVec struct {
	v       *vec[Histogram]
	buckets []float64
}

// Histogram counts observations into buckets.
type Histogram struct {
	upper  []float64       // bucket upper bounds, +Inf excluded
	counts []atomic.Uint64 // per bucket, not cumulative; last is +Inf
	sum    atomic.Uint64   // float64 bits
}

// Histogram registers a histogram family. buckets are upper bounds in
// increasing order (a trailing +Inf may be given or not); nil means DefBuckets.
func (r *Registry) Histogram(name, help string, buckets []float64, labelNames ...string) *HistogramVec {
	if buckets == nil {
		buckets = DefBuckets
	}
	buckets = slices.Clone(buckets)
	if n := len(buckets); n > 0 && math.IsInf(buckets[n-1], +1) {
		buckets = buckets[:n-1]
	}
	for i, ub := range buckets {
		if math.IsNaN(ub) || math.IsInf(ub, 0) || (i > 0 && ub <= buckets[i-1]) {
			panic(fmt.Sprintf("metrics: %s: buckets must be finite and strictly increasing: %v", name, buckets))
		}
	}
	if slices.Contains(labelNames, "le") {
		panic(fmt.Sprintf("metrics: %s: a histogram cannot have a label named le", name))
	}
	hv := &HistogramVec{buckets: buckets}
	hv.v = newVec(name, help, labelNames, func() *Histogram {
		return &Histogram{upper: buckets, counts: make([]atomic.Uint64, len(buckets)+1)}
	})
	r.register(name, hv)
	return hv
}

// With returns the histogram for the given label values.
func (hv *HistogramVec) With(labelValues ...string) *Histogram { return hv.v.with(labelValues...) }

// Observe records one value (for latencies, seconds). NaN is ignored.
func (h *Histogram) Observe(v float64) {
	if math.IsNaN(v) {
		return
	}
	i, _ := slices.BinarySearch(h.upper, v) // first bound >= v: le is inclusive
	h.counts[i].Add(1)
	addFloat(&h.sum, v)
}

func (hv *HistogramVec) write(b *strings.Builder) {
	children := hv.v.sorted()
	if len(children) == 0 {
		return
	}
	hv.v.header(b, "histogram")
	name := hv.v.name
	for _, c := range children {
		var cum uint64
		for i := range c.m.counts {
			cum += c.m.counts[i].Load()
			le := math.Inf(+1)
			if i < len(c.m.upper) {
				le = c.m.upper[i]
			}
			writeSample(b, name+"_bucket", hv.v.labelNames, c.values, "le", formatFloat(le), float64(cum))
		}
		writeSample(b, name+"_sum", hv.v.labelNames, c.values, "", "", math.Float64frombits(c.m.sum.Load()))
		// _count is the +Inf bucket, so the two always agree.
		writeSample(b, name+"_count", hv.v.labelNames, c.values, "", "", float64(cum))
	}
}

// ---- gauges

type gaugeFunc struct {
	name, help string
	fn         func() float64
}

// GaugeFunc registers a gauge whose value fn gives at each scrape. fn must
// be safe to call from any goroutine and should be quick.
func (r *Registry) GaugeFunc(name, help string, fn func() float64) {
	mustValidName(name)
	if fn == nil {
		panic(fmt.Sprintf("metrics: %s: nil gauge function", name))
	}
	r.register(name, &gaugeFunc{name: name, help: help, fn: fn})
}

func (g *gaugeFunc) write(b *strings.Builder) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s gauge\n", g.name, escapeHelp(g.help), g.name)
	writeSample(b, g.name, nil, nil, "", "", g.fn())
}

// ---- exposition

// WriteText returns every family in the text format, families ordered by
// name and samples by label values.
func (r *Registry) WriteText() string {
	r.mu.RLock()
	names := make([]string, 0, len(r.families))
	for n := range r.families {
		names = append(names, n)
	}
	fams := make([]family, 0, len(names))
	sort.Strings(names)
	for _, n := range names {
		fams = append(fams, r.families[n])
	}
	r.mu.RUnlock()

	var b strings.Builder
	for _, f := range fams {
		f.write(&b)
	}
	return b.String()
}

func writeSample(b *strings.Builder, name string, labelNames, labelValues []string, extraName, extraValue string, v float64) {
	b.WriteString(name)
	if len(labelNames) > 0 || extraName != "" {
		b.WriteByte('{')
		for i, l := range labelNames {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(l)
			b.WriteString(`="`)
			b.WriteString(escapeLabelValue(labelValues[i]))
			b.WriteByte('"')
		}
		if extraName != "" {
			if len(labelNames) > 0 {
				b.WriteByte(',')
			}
			b.WriteString(extraName)
			b.WriteString(`="`)
			b.WriteString(extraValue)
			b.WriteByte('"')
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(formatFloat(v))
	b.WriteByte('\n')
}

// formatFloat writes values as Go's Prometheus client does: shortest
// representation, with +Inf, -Inf and NaN spelled as the format wants.
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, +1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// The text format escapes backslash and newline in HELP, and additionally
// the double quote in label values.
var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string       { return helpEscaper.Replace(s) }
func escapeLabelValue(s string) string { return labelEscaper.Replace(s) }

func addFloat(bits *atomic.Uint64, n float64) {
	for {
		old := bits.Load()
		if bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+n)) {
			return
		}
	}
}

// Names: [a-zA-Z_:][a-zA-Z0-9_:]*; label names the same without ':' and
// not starting with "__" (reserved).
func mustValidName(name string) {
	if !validName(name, true) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", name))
	}
}

func mustValidLabel(metric, label string) {
	if !validName(label, false) || strings.HasPrefix(label, "__") {
		panic(fmt.Sprintf("metrics: %s: invalid label name %q", metric, label))
	}
}

func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c == ':' && colon:
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
