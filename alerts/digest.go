package alerts

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"sentrybot/blocks"
)

// Digest layout limits. Slack allows 3000 characters per section and 50
// blocks per message (docs.slack.dev/reference/block-kit/blocks); rows are
// packed well inside both.
const (
	digestSectionMax = 2900
	digestRowsMax    = 100
	digestTitleMax   = 90
)

// Block ids of a digest.
const (
	BlockDigestSummary = "alert_digest"
	BlockDigestRows    = "alert_digest_rows:" // followed by the section number, from 1
	BlockDigestHidden  = "alert_digest_hidden"
)

// digestMessage renders the alerts waiting for a channel as one message:
// "7 new issues in #channel in the last minute" and one line per issue
// (level, linked short id, title). It returns the notification text and the
// blocks.
func digestMessage(channel string, plans []plan, now time.Time) (string, []slack.Block) {
	// An issue alerted twice is listed once.
	var rows []string
	seen := map[string]bool{}
	oldest := now
	for _, pl := range plans {
		if pl.item.CreatedAt.Before(oldest) {
			oldest = pl.item.CreatedAt
		}
		if seen[pl.item.IssueID] {
			continue
		}
		seen[pl.item.IssueID] = true
		rows = append(rows, digestRow(pl))
	}
	n := len(rows)
	noun := "new issues"
	if n == 1 {
		noun = "new issue"
	}
	summary := fmt.Sprintf("%d %s in %s %s", n, noun, channelLabel(channel), sinceWords(now.Sub(oldest)))

	bs := []slack.Block{section(BlockDigestSummary, "*"+summary+"*")}
	shown := rows[:min(len(rows), digestRowsMax)]
	var b strings.Builder
	part := 0
	flush := func() {
		if b.Len() == 0 {
			return
		}
		part++
		bs = append(bs, section(BlockDigestRows+strconv.Itoa(part), b.String()))
		b.Reset()
	}
	for _, r := range shown {
		if b.Len() > 0 && utf8.RuneCountInString(b.String())+1+utf8.RuneCountInString(r) > digestSectionMax {
			flush()
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(r)
	}
	flush()
	if hidden := len(rows) - len(shown); hidden > 0 {
		bs = append(bs, slack.NewContextBlock(BlockDigestHidden,
			slack.NewTextBlockObject(slack.MarkdownType, fmt.Sprintf("…and %d more not shown.", hidden), false, false)))
	}
	return summary, bs
}

func section(id, text string) *slack.SectionBlock {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil,
		slack.SectionBlockOptionBlockID(id))
}

// digestRow is one line: level emoji, bold linked short id, title.
func digestRow(pl plan) string {
	is := pl.issue
	id := oneLine(is.ShortID)
	if id == "" {
		id = pl.item.IssueID
	}
	title := oneLine(is.Title)
	if title == "" {
		title = oneLine(is.Metadata.Title)
	}
	if title == "" {
		title = "Untitled issue"
	}
	return blocks.LevelEmoji(is.Level) + " *" + blocks.Link(is.Permalink, blocks.Escape(blocks.Truncate(id, 60))) + "* " +
		blocks.Escape(blocks.Truncate(title, digestTitleMax))
}

// sinceWords says how far back the digest reaches.
func sinceWords(d time.Duration) string {
	switch {
	case d <= time.Minute:
		return "in the last minute"
	case d < time.Hour:
		return fmt.Sprintf("in the last %d minutes", int(math.Ceil(d.Minutes())))
	case d <= time.Hour:
		return "in the last hour"
	}
	return fmt.Sprintf("in the last %d hours", int(math.Ceil(d.Hours())))
}

// channelIDPattern is what Slack conversation ids look like.
var channelIDPattern = regexp.MustCompile(`^[CGD][A-Z0-9]{2,}$`)

// channelLabel names a channel in mrkdwn: a mention for an id, so Slack
// shows its current name; a name as given.
func channelLabel(channel string) string {
	if channelIDPattern.MatchString(channel) {
		return "<#" + channel + ">"
	}
	return "#" + blocks.Escape(strings.TrimPrefix(channel, "#"))
}
