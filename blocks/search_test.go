package blocks

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"sentrybot/sentry"
)

// goldenBlocks checks limits, then compares JSON and PlainText goldens.
func goldenBlocks(t *testing.T, name string, bs []slack.Block) {
	t.Helper()
	assertLimits(t, bs)
	golden(t, name+".golden.json", encode(t, bs))
	golden(t, name+".golden.txt", []byte(PlainText(bs)+"\n"))
}

// searchIssues are ten issues of a realistic first page.
func searchIssues(tb testing.TB) []sentry.Issue {
	type row struct {
		id, short, level, title, project, status, sub, details, count string
		users                                                         int
		lastSeen                                                      string
	}
	rows := []row{
		{"4501", "BACKEND-3F", "error", "ZeroDivisionError: division by zero", "backend", "unresolved", "new", "", "1", 1, "2024-05-01T09:58:12Z"},
		{"4502", "CHECKOUT-1A", "fatal", "OutOfMemoryError: Java heap space", "checkout", "unresolved", "escalating", "", "48213", 3120, "2024-05-01T10:00:00Z"},
		{"4503", "WEB-88", "warning", "Slow DB query: SELECT * FROM orders WHERE user_id = ?", "web", "unresolved", "ongoing", "", "912", 40, "2024-04-30T22:10:00Z"},
		{"4504", "WEB-89", "error", "TypeError: Cannot read properties of undefined (reading 'id')", "web", "resolved", "", `{"inNextRelease":true}`, "77", 12, "2024-04-29T08:00:00Z"},
		{"4505", "BACKEND-40", "error", "KeyError: 'currency'", "backend", "ignored", "archived_forever", "", "3", 2, "2024-04-20T12:00:00Z"},
		{"4506", "MOBILE-7", "info", "Push token rotated", "mobile", "unresolved", "regressed", "", "1500000", 210000, "2024-05-01T07:45:00Z"},
		{"4507", "MOBILE-9", "debug", "Cache warm-up finished", "mobile", "unresolved", "", "", "12a", 0, ""},
		{"4508", "", "error", "", "backend", "unresolved", "ongoing", "", "", 5, "2024-05-01T01:00:00Z"},
		{"4509", "API-12", "error", "ValueError: invalid literal for int() with base 10: '<&>'", "api", "unresolved", "ongoing", "", "64", 9, "2024-04-30T18:30:00Z"},
		{"4510", "API-13", "", "Unknown level issue", "api", "unresolved", "new", "", "2", 1, "2024-04-30T18:31:00Z"},
	}
	var out []sentry.Issue
	for _, r := range rows {
		is := sentry.Issue{
			ID: r.id, ShortID: r.short, Level: r.level, Title: r.title, Status: r.status,
			Permalink: "https://acme.sentry.io/issues/" + r.id + "/",
			Project:   sentry.Project{Slug: r.project},
			Count:     r.count, UserCount: r.users,
		}
		if r.sub != "" {
			is.Substatus = ptr(r.sub)
		}
		if r.details != "" {
			is.StatusDetails = json.RawMessage(r.details)
		}
		if r.lastSeen != "" {
			is.LastSeen = at(r.lastSeen)
		}
		if r.title == "" {
			is.Metadata.Title = "Metadata title stands in"
		}
		out = append(out, is)
	}
	return out
}

func TestSearchResultsGolden(t *testing.T) {
	long := searchIssues(t)[:3]
	long[0].Title = "Tom & Jerry <script>alert(1)</script> " + strings.Repeat("Τίτλος ", 80)
	long[1].ShortID = strings.Repeat("SHORT-", 40)
	long[2].Permalink = "javascript:alert(1)"
	long[2].Project.Slug = strings.Repeat("p", 300)

	many := make([]sentry.Issue, 60)
	for i := range many {
		many[i] = searchIssues(t)[i%10]
		many[i].ID = strconv.Itoa(5000 + i)
		many[i].Permalink = "https://acme.sentry.io/issues/" + many[i].ID + "/"
	}

	tests := []struct {
		name    string
		query   string
		issues  []sentry.Issue
		more    string
		page    int
		summary string // the first line of PlainText
	}{
		{"search-page", "is:unresolved level:error", searchIssues(t), "cursor=0:10:0", 1, "10 issues matching `is:unresolved level:error` · page 1"},
		{"search-last-page", "is:unresolved", searchIssues(t)[:2], "", 3, "2 issues matching `is:unresolved` · page 3"},
		{"search-one", "BACKEND-3F", searchIssues(t)[:1], "", 0, "1 issue matching `BACKEND-3F`"},
		{"search-empty", "checkout `rm -rf` <@U1> & co", nil, "", 1, "No issues match `checkout 'rm -rf' <@U1> & co`."},
		{"search-empty-later-page", "is:unresolved", nil, "", 2, "No more issues match `is:unresolved`."},
		{"search-empty-no-query", "  ", nil, "", 1, "No issues found."},
		{"search-long", strings.Repeat("message:\"<timeout>\" ", 30), long, strings.Repeat("c", maxButtonValue), 1, ""},
		{"search-overflow", "is:unresolved", many, "next", 1, "60 issues matching `is:unresolved` · page 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := SearchResults(tt.query, tt.issues, tt.more, tt.page)
			goldenBlocks(t, tt.name, bs)
			first, _, _ := strings.Cut(PlainText(bs), "\n")
			if tt.summary != "" && first != tt.summary {
				t.Errorf("summary = %q, want %q", first, tt.summary)
			}
			more := blockByID(bs, BlockSearchMore)
			if (more != nil) != (tt.more != "") {
				t.Errorf("More button present = %v, want %v", more != nil, tt.more != "")
			}
			if more != nil {
				b := more.(*slack.ActionBlock).Elements.ElementSet[0].(*slack.ButtonBlockElement)
				if b.ActionID != ActionSearchMore || b.Value != tt.more || b.Text.Text != "More" {
					t.Errorf("More button = %s %q value %q", b.ActionID, b.Text.Text, b.Value)
				}
			}
		})
	}
}

func TestSearchResultsRows(t *testing.T) {
	bs := SearchResults("q", searchIssues(t), "", 1)
	if len(bs) != 11 {
		t.Fatalf("%d blocks, want summary and 10 rows", len(bs))
	}
	row := func(i int) string { return bs[i].(*slack.SectionBlock).Text.Text }
	if got, want := row(1), ":large_orange_circle: *<https://acme.sentry.io/issues/4501/|BACKEND-3F>* ZeroDivisionError: division by zero\n"+
		"backend · 1 event · 1 user · last seen <!date^1714557492^{date_short_pretty} {time}|2024-05-01 09:58 UTC>"; got != want {
		t.Errorf("row 1 =\n%s\nwant\n%s", got, want)
	}
	if got := row(4); !strings.Contains(got, "\nweb · Resolved in next release · 77 events · 12 users · ") {
		t.Errorf("resolved row says no status: %q", got)
	}
	if got := row(5); !strings.Contains(got, "\nbackend · Archived forever · 3 events") {
		t.Errorf("archived row says no status: %q", got)
	}
	if got := row(6); !strings.Contains(got, "· 1,500,000 events · 210,000 users ·") {
		t.Errorf("counts not grouped: %q", got)
	}
	if got := row(7); !strings.HasSuffix(got, "\nmobile · 12a events · 0 users") {
		t.Errorf("odd count or missing last seen: %q", got)
	}
	if got := row(8); !strings.HasPrefix(got, ":large_orange_circle: *<https://acme.sentry.io/issues/4508/|4508>* Metadata title stands in\n") {
		t.Errorf("fallbacks not used: %q", got)
	}
	if got := row(9); !strings.Contains(got, "with base 10: '&lt;&amp;&gt;'") {
		t.Errorf("title not escaped: %q", got)
	}
	for i := 1; i <= 10; i++ {
		if id := bs[i].ID(); id != BlockSearchResult+strconv.Itoa(i) {
			t.Errorf("row %d block id %q", i, id)
		}
	}
}

func TestSearchResultsLimits(t *testing.T) {
	is := searchIssues(t)[0]
	is.Title = strings.Repeat("<&> ", 500)
	issues := make([]sentry.Issue, 200)
	for i := range issues {
		issues[i] = is
	}
	bs := SearchResults(strings.Repeat("`<&>`", 1000), issues, "m", 1)
	assertLimits(t, bs)
	if len(bs) != maxBlocks {
		t.Errorf("%d blocks, want %d", len(bs), maxBlocks)
	}
	hidden := blockByID(bs, BlockSearchHidden)
	if hidden == nil || !strings.HasPrefix(PlainText([]slack.Block{hidden}), "153 more issues not shown.") {
		t.Errorf("hidden rows not counted: %v", PlainText([]slack.Block{hidden}))
	}
	if blockByID(bs, BlockSearchMore) == nil {
		t.Error("More button dropped when rows overflowed")
	}
	title := bs[1].(*slack.SectionBlock).Text.Text
	title, _, _ = strings.Cut(title, "\n")
	_, title, _ = strings.Cut(title, ">* ")
	visible := mrkdwnToPlain(title)
	if !strings.HasSuffix(visible, "…") || utf8.RuneCountInString(visible) != searchTitleMax {
		t.Errorf("title not cut to about %d visible chars: %q", searchTitleMax, visible)
	}

	// A More value that does not fit a button is dropped, not cut.
	bs = SearchResults("q", issues[:1], strings.Repeat("c", maxButtonValue+1), 1)
	if blockByID(bs, BlockSearchMore) != nil {
		t.Error("More button with a value that had to be cut")
	}
}

func TestInlineCode(t *testing.T) {
	tests := map[string]string{
		"is:unresolved":                "`is:unresolved`",
		"a `b` c":                      "`a 'b' c`",
		"<@U1> & <!here>":              "`&lt;@U1&gt; &amp; &lt;!here&gt;`",
		"two\nlines":                   "`two lines`",
		"  ":                           "",
		"":                             "",
		"\xff":                         "`\uFFFD`",
		strings.Repeat("x", codeMax+5): "`" + strings.Repeat("x", codeMax-1) + "…`",
	}
	for in, want := range tests {
		if got := InlineCode(in); got != want {
			t.Errorf("InlineCode(%q) = %q, want %q", in, got, want)
		}
	}
}
