package blocks

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"sentrybot/sentry"
)

const ellipsis = "…"

// escaper applies Slack's three mrkdwn escapes; nothing else may be escaped
// (docs.slack.dev/messaging/formatting-message-text#escaping).
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escape makes user-supplied text safe inside mrkdwn.
func escape(s string) string {
	return escaper.Replace(s)
}

// oneLine makes valid UTF-8 and folds every run of white space (newlines
// included) into one space, so text from Sentry cannot break the card layout.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Join(strings.Fields(s), " ")
}

// clip cuts s to at most max runes with no ellipsis; for ids and values.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	if max <= 0 {
		return ""
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i]
		}
		n++
	}
	return s
}

// cutIndex is the byte offset of rune number n in s (len(s) if fewer).
func cutIndex(s string, n int) int {
	i := 0
	for n > 0 && i < len(s) {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n--
	}
	return i
}

// truncatePlain cuts s to at most max runes, ending with "…" when cut.
func truncatePlain(s string, max int) string {
	if max <= 0 {
		return ""
	}
	if len(s) <= max || utf8.RuneCountInString(s) <= max {
		return s
	}
	cut := cutIndex(s, max-1)
	return strings.TrimRightFunc(s[:cut], unicode.IsSpace) + ellipsis
}

// truncateMrkdwn is truncatePlain for mrkdwn: a cut that would land inside a
// <link|label>, <@mention>, <!date^…> token or an &amp;-style entity moves to
// before it, so Slack never sees half a token.
func truncateMrkdwn(s string, max int) string {
	if max <= 0 {
		return ""
	}
	if len(s) <= max || utf8.RuneCountInString(s) <= max {
		return s
	}
	cut := safeCut(s, cutIndex(s, max-1))
	return strings.TrimRightFunc(s[:cut], unicode.IsSpace) + ellipsis
}

// safeCut moves a byte offset back out of an open <…> token or entity.
func safeCut(s string, cut int) int {
	if open := strings.LastIndexByte(s[:cut], '<'); open >= 0 && strings.IndexByte(s[open:cut], '>') < 0 {
		cut = open
	}
	if amp := strings.LastIndexByte(s[:cut], '&'); amp >= 0 {
		for _, e := range [...]string{"&amp;", "&lt;", "&gt;"} {
			if strings.HasPrefix(s[amp:], e) && amp+len(e) > cut {
				return amp
			}
		}
	}
	return cut
}

// link renders <url|label> with an escaped label. A URL that is not http(s)
// or is too long to leave room for the label renders as the label alone: a
// broken link is worse than none.
func link(url, label string) string {
	// A URL that is not valid UTF-8 would make the whole text invalid, and
	// Slack refuses such a message: leave the label unlinked instead.
	if url == "" || len(url) > 1000 || !utf8.ValidString(url) || !(strings.HasPrefix(url, "https://") || strings.HasPrefix(url, "http://")) {
		return label
	}
	return "<" + urlEscaper.Replace(url) + "|" + label + ">"
}

// urlEscaper keeps a URL from ending the <url|label> token early.
var urlEscaper = strings.NewReplacer("&", "&amp;", "<", "%3C", ">", "%3E", "|", "%7C", " ", "%20", "\n", "%0A", "\t", "%09")

// dateFallbackLayout is what clients that cannot localise a date token show.
const dateFallbackLayout = "2006-01-02 15:04 UTC"

// dateToken renders t so every reader sees it in their own time zone
// (docs.slack.dev/messaging/formatting-message-text#date-formatting).
func dateToken(t time.Time) string {
	return "<!date^" + strconv.FormatInt(t.Unix(), 10) + "^{date_short_pretty} {time}|" + t.UTC().Format(dateFallbackLayout) + ">"
}

// thousands groups an integer string with commas ("1234567" -> "1,234,567").
// Anything that is not a plain integer comes back unchanged.
func thousands(s string) string {
	sign := ""
	digits := s
	if strings.HasPrefix(digits, "-") {
		sign, digits = "-", digits[1:]
	}
	if digits == "" || strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + len(digits)/3)
	b.WriteString(sign)
	for i, c := range []byte(digits) {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// sparkBars are the eight block elements, lowest first.
var sparkBars = [...]rune{'▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'}

// Sparkline draws one bar per point, scaled from zero to the largest count so
// bar heights compare absolute volume. Negative counts draw as zero.
func Sparkline(points []sentry.StatPoint) string {
	if len(points) == 0 {
		return ""
	}
	var peak int64
	for _, p := range points {
		peak = max(peak, p.Count)
	}
	var b strings.Builder
	b.Grow(len(points) * utf8.RuneLen(sparkBars[0]))
	top := len(sparkBars) - 1
	for _, p := range points {
		i := 0
		if peak > 0 && p.Count > 0 {
			// Floats avoid overflow on absurd counts; rounding keeps a
			// near-peak hour visibly near the top.
			i = int(float64(p.Count)/float64(peak)*float64(top) + 0.5)
		}
		b.WriteRune(sparkBars[min(max(i, 0), top)])
	}
	return b.String()
}

// sumCounts adds counts, ignoring negatives and saturating instead of
// wrapping.
func sumCounts(points []sentry.StatPoint) int64 {
	const maxInt64 = 1<<63 - 1
	var total int64
	for _, p := range points {
		if p.Count <= 0 {
			continue
		}
		if total > maxInt64-p.Count {
			return maxInt64
		}
		total += p.Count
	}
	return total
}

// titleCase turns an unknown enum value like "pending_deletion" into
// "Pending Deletion" so it is shown rather than dropped.
func titleCase(s string) string {
	words := strings.FieldsFunc(oneLine(s), func(r rune) bool { return r == '_' || r == '-' || unicode.IsSpace(r) })
	for i, w := range words {
		r, size := utf8.DecodeRuneInString(w)
		words[i] = string(unicode.ToUpper(r)) + w[size:]
	}
	return strings.Join(words, " ")
}

// plural picks the singular or plural noun for n.
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return thousands(strconv.FormatInt(n, 10)) + " " + many
}

// minutes renders a duration given in minutes in the largest whole unit.
func minutes(n int64) string {
	switch {
	case n > 0 && n%(24*60) == 0:
		return plural(n/(24*60), "day", "days")
	case n > 0 && n%60 == 0:
		return plural(n/60, "hour", "hours")
	default:
		return plural(n, "minute", "minutes")
	}
}

// Link renders <url|label> for mrkdwn, or the label alone when the URL is
// not an http(s) URL fit to link; label must already be escaped.
func Link(url, label string) string { return link(url, label) }

// Truncate cuts plain text to at most n runes, ending with "…" when cut.
func Truncate(s string, n int) string { return truncatePlain(s, n) }
