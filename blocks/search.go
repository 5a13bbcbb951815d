package blocks

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"sentrybot/sentry"
)

// ActionSearchMore is the "More" button under search results; its value is
// whatever the caller needs to fetch the next page.
const ActionSearchMore = "sentry.search.more"

// Block ids of search results.
const (
	BlockSearchSummary = "search_summary"
	BlockSearchResult  = "search_result:" // followed by the row number, from 1
	BlockSearchHidden  = "search_hidden"
	BlockSearchMore    = "search_more"
)

const (
	searchTitleMax = 80
	searchQueryMax = 200
	// One section per issue keeps every row far from the text limit; the
	// summary, the hidden-rows note and the More button take three blocks.
	searchRowsMax = maxBlocks - 3
)

// SearchResults renders one page of issues found for query: a summary line,
// one compact row per issue, and a More button when moreValue is not empty.
// Rows past what one message holds are counted, not shown. A moreValue too
// long for a button value drops the button rather than send a cut one.
func SearchResults(query string, issues []sentry.Issue, moreValue string, page int) []slack.Block {
	q := inlineCode(query, searchQueryMax)
	page = max(page, 1)
	if len(issues) == 0 {
		text := "No issues found."
		switch {
		case q != "" && page > 1:
			text = "No more issues match " + q + "."
		case q != "":
			text = "No issues match " + q + "."
		}
		return []slack.Block{section(BlockSearchSummary, text)}
	}

	summary := "*" + plural(int64(len(issues)), "issue", "issues") + "*"
	if q != "" {
		summary += " matching " + q
	}
	if page > 1 || moreValue != "" {
		summary += " · page " + strconv.Itoa(page)
	}
	bs := []slack.Block{section(BlockSearchSummary, summary)}

	rows := issues[:min(len(issues), searchRowsMax)]
	for i, is := range rows {
		bs = append(bs, section(BlockSearchResult+strconv.Itoa(i+1), searchRow(is)))
	}
	if hidden := len(issues) - len(rows); hidden > 0 {
		bs = append(bs, contextBlock(BlockSearchHidden, plural(int64(hidden), "more issue", "more issues")+" not shown. Narrow the query to see them."))
	}
	if moreValue != "" && utf8.RuneCountInString(moreValue) <= maxButtonValue {
		bs = append(bs, actions(BlockSearchMore, button(ActionSearchMore, "More", moreValue, "")))
	}
	return capBlocks(bs)
}

// searchRow is two lines: level, linked short id and title; then project,
// status when not unresolved, events, users and last seen.
func searchRow(is sentry.Issue) string {
	id := oneLine(is.ShortID)
	if id == "" {
		id = oneLine(is.ID)
	}
	if id == "" {
		id = "Issue"
	}
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
	b.WriteString(link(is.Permalink, truncateMrkdwn(escape(id), shortIDMax)))
	b.WriteString("* ")
	b.WriteString(escape(truncatePlain(title, searchTitleMax)))

	var meta []string
	if p := projectName(is.Project); p != "" {
		meta = append(meta, p)
	}
	if is.Status != sentry.StatusUnresolved {
		meta = append(meta, statusWords(is))
	}
	if c := oneLine(is.Count); c != "" {
		if n, err := strconv.ParseInt(c, 10, 64); err == nil {
			meta = append(meta, plural(n, "event", "events"))
		} else {
			meta = append(meta, truncateMrkdwn(escape(c), countMax)+" events")
		}
	}
	meta = append(meta, plural(int64(is.UserCount), "user", "users"))
	if is.LastSeen != nil {
		meta = append(meta, "last seen "+dateToken(*is.LastSeen))
	}
	b.WriteString("\n")
	b.WriteString(strings.Join(meta, " · "))
	return b.String()
}
