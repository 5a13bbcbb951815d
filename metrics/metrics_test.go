package metrics

import (
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// smallRegistry is the registry whose exposition is kept in
// testdata/small.prom.
func smallRegistry() *Registry {
	r := NewRegistry()
	wh := r.Counter("sentrybot_webhooks_total", "Webhook deliveries by resource and outcome.", "resource", "outcome")
	wh.With("issue", "accepted").Add(3)
	wh.With("event_alert", "accepted").Inc()
	wh.With("issue", "bad_signature").Inc()
	r.Counter("sentrybot_restarts_total", "Times the bot reconnected.")
	h := r.Histogram("sentrybot_slack_call_seconds", "Latency of Slack Web API calls.", []float64{0.1, 0.5, 1}, "method")
	post := h.With("chat.postMessage")
	for _, v := range []float64{0.05, 0.1, 0.3, 2} {
		post.Observe(v)
	}
	h.With("chat.update").Observe(0.75)
	r.GaugeFunc("sentrybot_alert_queue", "Alerts waiting to be posted.", func() float64 { return 7 })
	return r
}

func TestGolden(t *testing.T) {
	got := smallRegistry().WriteText()
	const path = "testdata/small.prom"
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("exposition differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
	}
	if again := smallRegistry().WriteText(); again != got {
		t.Error("two identical registries wrote different text: order is not deterministic")
	}
}

func TestEscaping(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("odd_total", "Help with a \\ backslash,\na newline and \"quotes\".", "v")
	values := []string{`back\slash`, `say "hi"`, "two\nlines", `\"` + "\n", "plain é"}
	for _, v := range values {
		c.With(v).Inc()
	}
	text := r.WriteText()
	for _, want := range []string{
		`# HELP odd_total Help with a \\ backslash,\na newline and "quotes".` + "\n",
		`odd_total{v="back\\slash"} 1` + "\n",
		`odd_total{v="say \"hi\""} 1` + "\n",
		`odd_total{v="two\nlines"} 1` + "\n",
		`odd_total{v="\\\"\n"} 1` + "\n",
		`odd_total{v="plain é"} 1` + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in\n%s", want, text)
		}
	}
	fams := parseText(t, text)
	var got []string
	for _, s := range fams["odd_total"].samples {
		got = append(got, s.labels["v"])
	}
	if len(got) != len(values) {
		t.Fatalf("parsed back %d samples, want %d", len(got), len(values))
	}
	for _, v := range values {
		found := false
		for _, g := range got {
			found = found || g == v
		}
		if !found {
			t.Errorf("label value %q did not survive the round trip (got %q)", v, got)
		}
	}
	if h := fams["odd_total"].help; h != "Help with a \\ backslash,\na newline and \"quotes\"." {
		t.Errorf("help parsed back as %q", h)
	}
}

func TestParseBack(t *testing.T) {
	fams := parseText(t, smallRegistry().WriteText())
	if len(fams) != 4 {
		t.Fatalf("%d families, want 4", len(fams))
	}
	h := fams["sentrybot_slack_call_seconds"]
	if h.typ != "histogram" {
		t.Fatalf("type %q", h.typ)
	}
	vals := map[string]float64{}
	for _, s := range h.samples {
		if s.labels["method"] == "chat.postMessage" {
			vals[s.name+"/"+s.labels["le"]] = s.value
		}
	}
	want := map[string]float64{
		"sentrybot_slack_call_seconds_bucket/0.1":  2, // le is inclusive: 0.1 falls in 0.1
		"sentrybot_slack_call_seconds_bucket/0.5":  3,
		"sentrybot_slack_call_seconds_bucket/1":    3,
		"sentrybot_slack_call_seconds_bucket/+Inf": 4,
		"sentrybot_slack_call_seconds_count/":      4,
	}
	for k, v := range want {
		if vals[k] != v {
			t.Errorf("%s = %v, want %v", k, vals[k], v)
		}
	}
	if sum := vals["sentrybot_slack_call_seconds_sum/"]; math.Abs(sum-2.45) > 1e-9 {
		t.Errorf("sum = %v, want 2.45", sum)
	}
	if g := fams["sentrybot_alert_queue"]; g.typ != "gauge" || len(g.samples) != 1 || g.samples[0].value != 7 {
		t.Errorf("gauge %+v", g)
	}
	if c := fams["sentrybot_restarts_total"]; len(c.samples) != 1 || c.samples[0].value != 0 {
		t.Errorf("an unlabelled counter should show 0 before its first Inc: %+v", c)
	}
}

func TestEmptyVecIsOmitted(t *testing.T) {
	r := NewRegistry()
	r.Counter("unused_total", "Never incremented.", "x")
	r.Histogram("unused_seconds", "Never observed.", nil, "x")
	if text := r.WriteText(); text != "" {
		t.Errorf("families without samples were written:\n%s", text)
	}
}

func TestCounterIgnoresDecrease(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("c_total", "c").With()
	c.Add(2.5)
	c.Add(-1)
	c.Add(math.NaN())
	if c.Value() != 2.5 {
		t.Errorf("value %v, want 2.5", c.Value())
	}
}

func TestLargeAndSpecialValues(t *testing.T) {
	r := NewRegistry()
	r.Counter("big_total", "b").With().Add(1e6)
	r.GaugeFunc("nan_gauge", "n", math.NaN)
	r.GaugeFunc("inf_gauge", "i", func() float64 { return math.Inf(-1) })
	text := r.WriteText()
	for _, want := range []string{"big_total 1e+06\n", "nan_gauge NaN\n", "inf_gauge -Inf\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in\n%s", want, text)
		}
	}
	parseText(t, text)
}

func TestMisusePanics(t *testing.T) {
	for name, fn := range map[string]func(r *Registry){
		"BadName":       func(r *Registry) { r.Counter("1abc", "x") },
		"BadLabel":      func(r *Registry) { r.Counter("a_total", "x", "a-b") },
		"ReservedLabel": func(r *Registry) { r.Counter("a_total", "x", "__name") },
		"DupLabel":      func(r *Registry) { r.Counter("a_total", "x", "a", "a") },
		"Duplicate":     func(r *Registry) { r.Counter("a_total", "x"); r.GaugeFunc("a_total", "y", func() float64 { return 0 }) },
		"LeLabel":       func(r *Registry) { r.Histogram("h", "x", nil, "le") },
		"Unsorted":      func(r *Registry) { r.Histogram("h", "x", []float64{1, 0.5}) },
		"WrongArity":    func(r *Registry) { r.Counter("a_total", "x", "a").With("1", "2") },
		"NilGauge":      func(r *Registry) { r.GaugeFunc("g", "x", nil) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			fn(NewRegistry())
		})
	}
}

func TestTrailingInfBucketAccepted(t *testing.T) {
	r := NewRegistry()
	r.Histogram("h_seconds", "h", []float64{1, math.Inf(1)}).With().Observe(3)
	text := r.WriteText()
	if strings.Count(text, `le="+Inf"`) != 1 || !strings.Contains(text, `h_seconds_bucket{le="1"} 0`) {
		t.Errorf("unexpected buckets:\n%s", text)
	}
}

func TestConcurrency(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("hits_total", "h", "worker")
	h := r.Histogram("lat_seconds", "l", []float64{0.5}, "worker")
	const workers, each = 8, 1000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			label := strconv.Itoa(w % 3)
			for i := range each {
				c.With(label).Inc()
				c.With("all").Inc()
				h.With(label).Observe(float64(i%2) * 0.75)
				if i%100 == 0 {
					parseText(t, r.WriteText())
				}
			}
		}()
	}
	wg.Wait()
	if got := c.With("all").Value(); got != workers*each {
		t.Errorf("all = %v, want %d", got, workers*each)
	}
	var total float64
	for _, s := range parseText(t, r.WriteText())["lat_seconds"].samples {
		if s.name == "lat_seconds_count" {
			total += s.value
		}
	}
	if total != workers*each {
		t.Errorf("histogram count %v, want %d", total, workers*each)
	}
}

func TestHandler(t *testing.T) {
	h := smallRegistry().Handler()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("status %d content type %q", w.Code, w.Header().Get("Content-Type"))
	}
	body, _ := io.ReadAll(w.Body)
	if string(body) != smallRegistry().WriteText() {
		t.Error("handler body differs from WriteText")
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/metrics", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", w.Code)
	}
}

// ---- a strict reader of the text format, to check what we write.

type sample struct {
	name   string
	labels map[string]string
	value  float64
}

type parsedFamily struct {
	help, typ string
	samples   []sample
}

// parseText reads exposition text strictly and checks the format's rules:
// HELP and TYPE before samples, each family in one block, samples named for
// their family, histogram buckets cumulative and ending in +Inf = _count.
func parseText(t testing.TB, text string) map[string]*parsedFamily {
	t.Helper()
	fams := map[string]*parsedFamily{}
	var cur string
	if text != "" && !strings.HasSuffix(text, "\n") {
		t.Fatal("text does not end in a newline")
	}
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fail := func(format string, a ...any) { t.Fatalf("line %d %q: %s", n+1, line, fmt.Sprintf(format, a...)) }
		if text == "" {
			break
		}
		switch {
		case strings.HasPrefix(line, "# HELP "):
			name, help, ok := strings.Cut(line[len("# HELP "):], " ")
			if !ok || !validName(name, true) {
				fail("bad HELP")
			}
			if _, dup := fams[name]; dup {
				fail("family %s appears twice", name)
			}
			fams[name] = &parsedFamily{help: unescape(t, help, false)}
			cur = name
		case strings.HasPrefix(line, "# TYPE "):
			name, typ, _ := strings.Cut(line[len("# TYPE "):], " ")
			if name != cur || fams[name].typ != "" || len(fams[name].samples) > 0 {
				fail("TYPE out of place")
			}
			switch typ {
			case "counter", "gauge", "histogram":
			default:
				fail("unknown type %q", typ)
			}
			fams[name].typ = typ
		case strings.HasPrefix(line, "#"):
			fail("unexpected comment")
		default:
			s := parseSample(t, line)
			f := fams[cur]
			if f == nil || f.typ == "" {
				fail("sample before HELP/TYPE")
			}
			okName := s.name == cur
			if f.typ == "histogram" {
				okName = s.name == cur+"_bucket" || s.name == cur+"_sum" || s.name == cur+"_count"
				if _, hasLe := s.labels["le"]; hasLe != (s.name == cur+"_bucket") {
					fail("le label on the wrong sample")
				}
			}
			if !okName {
				fail("sample does not belong to family %s", cur)
			}
			f.samples = append(f.samples, s)
		}
	}
	for name, f := range fams {
		if f.typ == "histogram" {
			checkHistogram(t, name, f)
		}
	}
	return fams
}

func checkHistogram(t testing.TB, name string, f *parsedFamily) {
	t.Helper()
	prev := -1.0
	prevLe := math.Inf(-1)
	var inf float64
	for _, s := range f.samples {
		switch s.name {
		case name + "_bucket":
			le, err := strconv.ParseFloat(s.labels["le"], 64)
			if err != nil {
				t.Fatalf("%s: le %q: %v", name, s.labels["le"], err)
			}
			if le <= prevLe && prev >= 0 {
				t.Fatalf("%s: le not increasing", name)
			}
			if s.value < prev {
				t.Fatalf("%s: buckets not cumulative", name)
			}
			prev, prevLe = s.value, le
			if math.IsInf(le, 1) {
				inf = s.value
			}
		case name + "_count":
			if !math.IsInf(prevLe, 1) || s.value != inf {
				t.Fatalf("%s: _count %v does not follow a +Inf bucket of the same value (%v)", name, s.value, inf)
			}
			prev, prevLe = -1, math.Inf(-1)
		}
	}
}

func parseSample(t testing.TB, line string) sample {
	t.Helper()
	s := sample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		t.Fatalf("sample %q: no name", line)
	}
	s.name, line = line[:i], line[i:]
	if !validName(s.name, true) {
		t.Fatalf("sample name %q invalid", s.name)
	}
	if line[0] == '{' {
		line = line[1:]
		for line[0] != '}' {
			eq := strings.Index(line, `="`)
			if eq <= 0 || !validName(line[:eq], false) {
				t.Fatalf("bad label in %q", line)
			}
			lname := line[:eq]
			line = line[eq+2:]
			// the value ends at the first unescaped quote
			end := -1
			for j := 0; j < len(line); j++ {
				if line[j] == '\\' {
					j++
					continue
				}
				if line[j] == '"' {
					end = j
					break
				}
			}
			if end < 0 {
				t.Fatalf("unterminated label value in %q", line)
			}
			if _, dup := s.labels[lname]; dup {
				t.Fatalf("label %s twice", lname)
			}
			s.labels[lname] = unescape(t, line[:end], true)
			line = line[end+1:]
			if strings.HasPrefix(line, ",") {
				line = line[1:]
			} else if !strings.HasPrefix(line, "}") {
				t.Fatalf("expected , or } at %q", line)
			}
		}
		line = line[1:]
	}
	if !strings.HasPrefix(line, " ") || strings.Contains(line[1:], " ") {
		t.Fatalf("want exactly one space before the value, got %q", line)
	}
	v, err := strconv.ParseFloat(line[1:], 64)
	if err != nil {
		t.Fatalf("value %q: %v", line[1:], err)
	}
	s.value = v
	return s
}

// unescape undoes the format's escapes; any other backslash sequence or a
// raw newline is an error.
func unescape(t testing.TB, s string, quote bool) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n':
			t.Fatalf("raw newline in %q", s)
		case c == '"' && quote:
			t.Fatalf("raw quote in %q", s)
		case c != '\\':
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(s) {
			t.Fatalf("dangling backslash in %q", s)
		}
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case '"':
			if !quote {
				t.Fatalf(`\" in HELP text %q`, s)
			}
			b.WriteByte('"')
		default:
			t.Fatalf("unknown escape in %q", s)
		}
	}
	return b.String()
}

func BenchmarkCounterWithInc(b *testing.B) {
	c := NewRegistry().Counter("b_total", "b", "resource", "outcome")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.With("issue", "accepted").Inc()
		}
	})
}

func BenchmarkHistogramObserve(b *testing.B) {
	h := NewRegistry().Histogram("b_seconds", "b", nil, "method").With("chat.postMessage")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.Observe(float64(i%1000) / 100)
		i++
	}
}
