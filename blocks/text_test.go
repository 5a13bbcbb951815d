package blocks

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"sentrybot/sentry"
)

func TestTruncatePlain(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello world", 5, "hell…"},
		{"hello world", 7, "hello…"}, // no space before the ellipsis
		{"héllo wörld", 4, "hél…"},
		{"😀😀😀😀", 3, "😀😀…"},
		{"日本語のテキスト", 5, "日本語の…"},
		{"abc", 1, "…"},
		{"abc", 0, ""},
		{"<https://x|y>", 5, "<htt…"}, // plain text has no tokens to protect
	}
	for _, tt := range tests {
		got := truncatePlain(tt.in, tt.max)
		if got != tt.want {
			t.Errorf("truncatePlain(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
		if n := utf8.RuneCountInString(got); n > tt.max || !utf8.ValidString(got) {
			t.Errorf("truncatePlain(%q, %d) = %q: %d runes, valid %v", tt.in, tt.max, got, n, utf8.ValidString(got))
		}
	}
}

func TestTruncateMrkdwn(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"fits", "see <https://x.io|x>", 30, "see <https://x.io|x>"},
		{"cut inside link", "see <https://x.io/a|label> now", 10, "see…"},
		{"cut inside link label", "see <https://x.io/a|a long label> now", 25, "see…"},
		{"cut after link", "<https://x|ab> tail text", 16, "<https://x|ab>…"},
		{"link is everything", "<https://example.com|label>", 10, "…"},
		{"cut inside date token", "x <!date^1^{time}|fallback> y", 12, "x…"},
		{"cut inside mention", "hi <@U123456|someone>", 8, "hi…"},
		{"cut inside entity", "a &amp; b", 5, "a…"},
		{"cut after entity", "a &amp; b", 8, "a &amp;…"},
		{"entities only", "&lt;&lt;&lt;", 6, "&lt;…"},
		{"multi-byte before link", "日本語 <https://x|ラベル>", 6, "日本語…"},
		{"multi-byte", "ééééé", 3, "éé…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := truncateMrkdwn(tt.in, tt.max)
			if got != tt.want {
				t.Errorf("truncateMrkdwn(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
			if n := utf8.RuneCountInString(got); n > tt.max {
				t.Errorf("%d runes > %d", n, tt.max)
			}
			if e := markupError(got); e != "" && markupError(tt.in) == "" {
				t.Errorf("truncation broke markup: %s in %q", e, got)
			}
		})
	}
}

// Every cut of an escaped, linked text must keep its tokens whole.
func TestTruncateMrkdwnEveryLength(t *testing.T) {
	s := "*<https://sentry.io/o/issues/1/?a=1&amp;b=2|Tom &amp; Jerry &lt;3>* · <!date^1541539195^{time}|2018-11-06 21:19 UTC> 日本語"
	for max := 1; max <= utf8.RuneCountInString(s)+1; max++ {
		got := truncateMrkdwn(s, max)
		if n := utf8.RuneCountInString(got); n > max {
			t.Fatalf("max %d: %d runes", max, n)
		}
		if e := markupError(got); e != "" {
			t.Fatalf("max %d: %s in %q", max, e, got)
		}
	}
}

func TestEscape(t *testing.T) {
	tests := map[string]string{
		"a & b < c > d":  "a &amp; b &lt; c &gt; d",
		"&amp;":          "&amp;amp;",
		"<!channel>":     "&lt;!channel&gt;",
		"*bold* _it_ ~s": "*bold* _it_ ~s",
		"日本":             "日本",
	}
	for in, want := range tests {
		if got := escape(in); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOneLine(t *testing.T) {
	tests := map[string]string{
		"a\n\tb  c ":   "a b c",
		"  ":           "",
		"a\xffb":       "a\uFFFDb",
		"Traceback:\n": "Traceback:",
	}
	for in, want := range tests {
		if got := oneLine(in); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLink(t *testing.T) {
	tests := []struct{ url, label, want string }{
		{"https://x.io/a?b=1&c=2", "t", "<https://x.io/a?b=1&amp;c=2|t>"},
		{"http://x.io/", "t", "<http://x.io/|t>"},
		{"", "t", "t"},
		{"javascript:alert(1)", "t", "t"},
		{"https://x/|a b>c", "t", "<https://x/%7Ca%20b%3Ec|t>"},
		{"https://x/" + strings.Repeat("a", 1000), "t", "t"},
	}
	for _, tt := range tests {
		if got := link(tt.url, tt.label); got != tt.want {
			t.Errorf("link(%q, %q) = %q, want %q", tt.url, tt.label, got, tt.want)
		}
	}
}

func TestDateToken(t *testing.T) {
	utc := time.Date(2018, 11, 6, 21, 19, 55, 0, time.UTC)
	want := "<!date^1541539195^{date_short_pretty} {time}|2018-11-06 21:19 UTC>"
	if got := dateToken(utc); got != want {
		t.Errorf("dateToken(utc) = %q, want %q", got, want)
	}
	// The fallback is UTC whatever zone the time carries.
	if got := dateToken(utc.In(time.FixedZone("X", 5*3600))); got != want {
		t.Errorf("dateToken(+05:00) = %q, want %q", got, want)
	}
}

func TestThousands(t *testing.T) {
	tests := map[string]string{
		"0":                       "0",
		"999":                     "999",
		"1000":                    "1,000",
		"150":                     "150",
		"123456789":               "123,456,789",
		"-1234":                   "-1,234",
		"99999999999999999999999": "99,999,999,999,999,999,999,999",
		"12a":                     "12a",
		"1.5k":                    "1.5k",
		"":                        "",
		"-":                       "-",
	}
	for in, want := range tests {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%q) = %q, want %q", in, got, want)
		}
	}
}

func pts(counts ...int64) []sentry.StatPoint {
	ps := make([]sentry.StatPoint, len(counts))
	for i, c := range counts {
		ps[i] = sentry.StatPoint{Time: int64(1541451600 + 3600*i), Count: c}
	}
	return ps
}

func TestSparkline(t *testing.T) {
	tests := []struct {
		name string
		in   []sentry.StatPoint
		want string
	}{
		{"empty", nil, ""},
		{"zero", pts(0), "▁"},
		{"single", pts(5), "█"},
		{"all zero", pts(0, 0, 0), "▁▁▁"},
		{"ramp", pts(0, 1, 2, 3, 4, 5, 6, 7), "▁▂▃▄▅▆▇█"},
		{"schema example", pts(557, 473), "█▇"},
		{"spike", pts(1, 1, 1000, 1), "▁▁█▁"},
		{"negative as zero", pts(-5, 10), "▁█"},
		{"huge counts", pts(1<<62, 1<<61, 1<<62), "█▅█"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Sparkline(tt.in)
			if got != tt.want {
				t.Errorf("Sparkline = %q, want %q", got, tt.want)
			}
			if n := utf8.RuneCountInString(got); n != len(tt.in) {
				t.Errorf("%d bars for %d points", n, len(tt.in))
			}
		})
	}
}

func TestSumCounts(t *testing.T) {
	if got := sumCounts(pts(557, 473, -3)); got != 1030 {
		t.Errorf("sum = %d, want 1030", got)
	}
	if got := sumCounts(pts(1<<62, 1<<62, 1<<62)); got != 1<<63-1 {
		t.Errorf("sum = %d, want saturation", got)
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"héllo", 2, "hé"},
		{"abc", 5, "abc"},
		{"abc", 0, ""},
		{"日本語", 2, "日本"},
	}
	for _, tt := range tests {
		if got := clip(tt.in, tt.max); got != tt.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestTitleCase(t *testing.T) {
	tests := map[string]string{
		"pending_deletion": "Pending Deletion",
		"reprocessing":     "Reprocessing",
		"über-state":       "Über State",
		"":                 "",
	}
	for in, want := range tests {
		if got := titleCase(in); got != want {
			t.Errorf("titleCase(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMinutes(t *testing.T) {
	tests := map[int64]string{
		1:     "1 minute",
		30:    "30 minutes",
		60:    "1 hour",
		90:    "90 minutes",
		120:   "2 hours",
		1440:  "1 day",
		10080: "7 days",
	}
	for in, want := range tests {
		if got := minutes(in); got != want {
			t.Errorf("minutes(%d) = %q, want %q", in, got, want)
		}
	}
}
