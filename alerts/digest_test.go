package alerts

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"sentrybot/blocks"
	"sentrybot/store"
)

func TestDigestMessageLimits(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var plans []plan
	for i := range 130 {
		id := fmt.Sprint(i + 1)
		is := testIssue(id)
		is.Title = strings.Repeat("very long title <&> ", 20)
		plans = append(plans, plan{item: store.OutboxItem{IssueID: id, CreatedAt: now.Add(-3 * time.Minute)}, issue: *is})
	}
	// The same issue twice is listed once.
	plans = append(plans, plans[0])

	text, bs := digestMessage("#ops", plans, now)
	if text != "130 new issues in #ops in the last 3 minutes" {
		t.Errorf("text = %q", text)
	}
	if len(bs) > 50 {
		t.Errorf("%d blocks, over Slack's 50", len(bs))
	}
	rows := 0
	for _, b := range bs {
		s, ok := b.(*slack.SectionBlock)
		if !ok {
			continue
		}
		if n := utf8.RuneCountInString(s.Text.Text); n > 3000 {
			t.Errorf("section %s has %d characters, over Slack's 3000", s.BlockID, n)
		}
		if strings.HasPrefix(s.BlockID, BlockDigestRows) {
			rows += strings.Count(s.Text.Text, "\n") + 1
			if strings.Contains(s.Text.Text, "<&>") {
				t.Errorf("title not escaped: %s", s.Text.Text)
			}
		}
	}
	if rows != digestRowsMax {
		t.Errorf("%d rows listed, want %d", rows, digestRowsMax)
	}
	last, ok := bs[len(bs)-1].(*slack.ContextBlock)
	if !ok || last.BlockID != BlockDigestHidden {
		t.Fatalf("last block is %T, want the hidden-rows note", bs[len(bs)-1])
	}
	b, _ := json.Marshal(last)
	if !strings.Contains(string(b), "and 30 more not shown") {
		t.Errorf("hidden note = %s", b)
	}
}

func TestDigestWords(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "in the last minute"},
		{time.Minute, "in the last minute"},
		{61 * time.Second, "in the last 2 minutes"},
		{59 * time.Minute, "in the last 59 minutes"},
		{time.Hour, "in the last hour"},
		{150 * time.Minute, "in the last 3 hours"},
	} {
		if got := sinceWords(tt.d); got != tt.want {
			t.Errorf("sinceWords(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	for in, want := range map[string]string{
		"C0123ABC": "<#C0123ABC>",
		"#general": "#general",
		"general":  "#general",
		"#a<b>":    "#a&lt;b&gt;",
	} {
		if got := channelLabel(in); got != want {
			t.Errorf("channelLabel(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"https://acme.sentry.io/issues/1/": "<https://acme.sentry.io/issues/1/|L>",
		"javascript:alert(1)":              "L",
		"https://x/a|b>c":                  "<https://x/a%7Cb%3Ec|L>",
	} {
		if got := blocks.Link(in, "L"); got != want {
			t.Errorf("link(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want failKind
		wait time.Duration
	}{
		{&slack.RateLimitedError{RetryAfter: 3 * time.Second}, failRateLimited, 3 * time.Second},
		{fmt.Errorf("post: %w", &slack.RateLimitedError{RetryAfter: time.Second}), failRateLimited, time.Second},
		{slack.StatusCodeError{Code: 500, Status: "500 Internal Server Error"}, failTransient, 0},
		{slack.StatusCodeError{Code: 503}, failTransient, 0},
		{slack.StatusCodeError{Code: 429}, failRateLimited, 0},
		{slack.StatusCodeError{Code: 404}, failPermanent, 0},
		{slack.SlackErrorResponse{Err: "channel_not_found"}, failPermanent, 0},
		{slack.SlackErrorResponse{Err: "not_in_channel"}, failPermanent, 0},
		{slack.SlackErrorResponse{Err: "is_archived"}, failPermanent, 0},
		{slack.SlackErrorResponse{Err: "invalid_blocks"}, failPermanent, 0},
		{slack.SlackErrorResponse{Err: "internal_error"}, failTransient, 0},
		{slack.SlackErrorResponse{Err: "ratelimited"}, failRateLimited, 0},
		{fmt.Errorf("dial tcp: connection refused"), failTransient, 0},
	} {
		kind, wait := classify(tt.err)
		if kind != tt.want || wait != tt.wait {
			t.Errorf("classify(%v) = %v, %v; want %v, %v", tt.err, kind, wait, tt.want, tt.wait)
		}
	}
}

func TestBackoff(t *testing.T) {
	s := New(nil, nil, nil, zerologNop(), Options{RetryBase: time.Second, RetryMax: 10 * time.Second})
	for attempts, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
		if got := s.backoff(attempts); got != want {
			t.Errorf("backoff(%d) = %v, want %v", attempts, got, want)
		}
	}
	if got := s.backoff(1000); got != 10*time.Second {
		t.Errorf("backoff(1000) = %v", got)
	}
}
