// Package blocks renders sentrybot's Slack messages as Block Kit blocks.
//
// Every function is pure: values in, blocks out, no network and no clock.
// Slack rejects a whole message when one Block Kit limit is exceeded and
// slack-go checks almost none of them, so the builders in this package cut
// every text, id and list to size themselves (see limits.go).
package blocks

import (
	"strconv"
	"strings"

	"github.com/slack-go/slack"

	"sentrybot/sentry"
)

// Block id prefixes; each is followed by the issue id.
const (
	BlockIssue   = "issue:"
	BlockFacts   = "issue_facts:"
	BlockTrend   = "issue_trend:"
	BlockActions = "issue_actions:"
	BlockFooter  = "issue_footer:"
)

// Lengths (in characters of escaped text) that keep a card compact; all are
// well inside the Block Kit limits so the first section always fits.
const (
	titleMax   = 300
	culpritMax = 300
	valueMax   = 300
	shortIDMax = 100
	nameMax    = 100
	countMax   = 50
	dayPoints  = 48 // hourly points in the trend; more would be noise
)

// CardOptions changes how an issue card is drawn.
type CardOptions struct {
	Footer    string // optional context line, e.g. "Resolved by <@U123>" (mrkdwn); empty = none
	NoActions bool   // render without the actions block (e.g. an issue that is gone)
}

// IssueCard renders one issue: title, facts, 24h trend, the triage controls
// for its status (actions.go) and an optional footer. It uses no header
// block so the card reads the same in a message and inside an unfurl
// attachment.
func IssueCard(is sentry.Issue, opts CardOptions) []slack.Block {
	bs := []slack.Block{
		section(blockID(BlockIssue, is.ID), issueSummary(is)),
		section(blockID(BlockFacts, is.ID), "", issueFacts(is)...),
	}
	if trend := issueTrend(is.Stats.Day); trend != "" {
		bs = append(bs, contextBlock(blockID(BlockTrend, is.ID), trend))
	}
	if !opts.NoActions {
		bs = append(bs, issueActions(is))
	}
	if footer := strings.ToValidUTF8(opts.Footer, "\uFFFD"); strings.TrimSpace(footer) != "" {
		bs = append(bs, contextBlock(blockID(BlockFooter, is.ID), footer))
	}
	return capBlocks(bs)
}

// LevelEmoji marks severity with one colour scale, hottest first; every
// message that lists issues uses it, so the colours agree.
func LevelEmoji(level string) string {
	switch level {
	case "fatal":
		return ":red_circle:"
	case "error":
		return ":large_orange_circle:"
	case "warning":
		return ":large_yellow_circle:"
	case "info":
		return ":large_blue_circle:"
	case "debug":
		return ":white_circle:"
	}
	return ":black_circle:"
}

// LevelColor is the matching attachment colour bar for an unfurl.
func LevelColor(level string) string {
	switch level {
	case "fatal":
		return "#d1242f"
	case "error":
		return "#f4821f"
	case "warning":
		return "#f2c94c"
	case "info":
		return "#2f80ed"
	case "debug":
		return "#bdbdbd"
	}
	return "#616161"
}

// issueSummary is the first section: level, linked title, short id, level
// word (the emoji alone says nothing to a screen reader), culprit and the
// error value as a quote.
func issueSummary(is sentry.Issue) string {
	title := oneLine(is.Title)
	if title == "" {
		title = oneLine(is.Metadata.Title)
	}
	if title == "" {
		title = "Untitled issue"
	}
	var b strings.Builder
	b.WriteString(LevelEmoji(is.Level))
	b.WriteString(" *")
	b.WriteString(link(is.Permalink, truncateMrkdwn(escape(title), titleMax)))
	b.WriteString("*")

	var meta []string
	if id := oneLine(is.ShortID); id != "" {
		meta = append(meta, "*"+truncateMrkdwn(escape(id), shortIDMax)+"*")
	}
	if lv := oneLine(is.Level); lv != "" {
		meta = append(meta, truncateMrkdwn(escape(titleCase(lv)), 20))
	}
	if is.Culprit != nil {
		if c := oneLine(*is.Culprit); c != "" {
			meta = append(meta, truncateMrkdwn(escape(c), culpritMax))
		}
	}
	if len(meta) > 0 {
		b.WriteString("\n")
		b.WriteString(strings.Join(meta, " · "))
	}
	if v := oneLine(is.Metadata.Value); v != "" {
		b.WriteString("\n> ")
		b.WriteString(truncateMrkdwn(escape(v), valueMax))
	}
	return b.String()
}

// issueFacts are the two-column fields, paired so each row reads left to
// right: status/assignee, events/users, first/last seen, project/release.
func issueFacts(is sentry.Issue) []string {
	fs := []string{
		fact("Status", statusWords(is)),
		fact("Assignee", assignee(is.AssignedTo)),
		fact("Events", truncateMrkdwn(escape(thousands(oneLine(is.Count))), countMax)),
		fact("Users", thousands(strconv.Itoa(is.UserCount))),
	}
	if is.FirstSeen != nil {
		fs = append(fs, fact("First seen", dateToken(*is.FirstSeen)))
	}
	if is.LastSeen != nil {
		fs = append(fs, fact("Last seen", dateToken(*is.LastSeen)))
	}
	if p := projectName(is.Project); p != "" {
		fs = append(fs, fact("Project", p))
	}
	if r := releaseName(is); r != "" {
		fs = append(fs, fact("Release", r))
	}
	return fs
}

// fact is one field: a bold label over an (already escaped) value.
func fact(label, value string) string {
	if value == "" {
		value = "—"
	}
	return "*" + label + "*\n" + value
}

// AssigneeName names an issue's assignee as its card does: a user, a team
// as "#team", or "Unassigned"; escaped for mrkdwn.
func AssigneeName(a *sentry.Assignee) string { return assignee(a) }

// assignee names a user, a team as "#team", or nobody.
func assignee(a *sentry.Assignee) string {
	if a == nil {
		return "Unassigned"
	}
	name := oneLine(a.Name)
	if name == "" {
		name = oneLine(a.Email)
	}
	if name == "" {
		name = oneLine(a.ID)
	}
	if a.Type == "team" {
		name = "#" + strings.TrimPrefix(name, "#")
	}
	if name == "" {
		return "Unassigned"
	}
	return truncateMrkdwn(escape(name), nameMax)
}

func projectName(p sentry.Project) string {
	name := oneLine(p.Name)
	if name == "" {
		name = oneLine(p.Slug)
	}
	return truncateMrkdwn(escape(name), nameMax)
}

// releaseName prefers the latest release the issue was seen in.
func releaseName(is sentry.Issue) string {
	r := is.LastRelease
	if r == nil {
		r = is.FirstRelease
	}
	if r == nil {
		return ""
	}
	v := oneLine(r.ShortVersion)
	if v == "" {
		v = oneLine(r.Version)
	}
	return truncateMrkdwn(escape(v), nameMax)
}

// issueTrend is the context line under the facts; "" without data.
func issueTrend(points []sentry.StatPoint) string {
	if len(points) == 0 {
		return ""
	}
	if len(points) > dayPoints {
		points = points[len(points)-dayPoints:]
	}
	total := sumCounts(points)
	return "Last 24h " + Sparkline(points) + " · " + plural(total, "event", "events")
}
