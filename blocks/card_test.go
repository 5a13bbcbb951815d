package blocks

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"sentrybot/sentry"
)

var update = flag.Bool("update", false, "rewrite golden files")

// exampleIssue is the issue from Sentry's OpenAPI example (see testdata/README.md).
func exampleIssue(tb testing.TB) sentry.Issue {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "issue-retrieve.openapi-example.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var is sentry.Issue
	if err := json.Unmarshal(b, &is); err != nil {
		tb.Fatalf("decoding example issue: %v", err)
	}
	return is
}

func at(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

// hourly returns 24 hourly points ending at 2024-05-01 10:00 UTC.
func hourly(counts ...int64) []sentry.StatPoint {
	end := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC).Unix()
	ps := make([]sentry.StatPoint, len(counts))
	for i, c := range counts {
		ps[i] = sentry.StatPoint{Time: end - int64(3600*(len(counts)-1-i)), Count: c}
	}
	return ps
}

type cardCase struct {
	issue sentry.Issue
	opts  CardOptions
}

func cardCases(tb testing.TB) map[string]cardCase {
	cases := map[string]cardCase{}

	cases["schema-example"] = cardCase{issue: exampleIssue(tb)}

	is := exampleIssue(tb)
	is.ID, is.ShortID = "4501", "BACKEND-3F"
	is.Title = "ZeroDivisionError: division by zero"
	is.Culprit = ptr("app.billing.invoice in total")
	is.Metadata = sentry.Metadata{Type: "ZeroDivisionError", Value: "division by zero"}
	is.Permalink = "https://acme.sentry.io/issues/4501/"
	is.Project = sentry.Project{ID: "7", Name: "", Slug: "backend"}
	is.Substatus, is.AssignedTo = ptr(sentry.SubstatusNew), nil
	is.Count, is.UserCount = "1", 1
	is.FirstSeen, is.LastSeen = at("2024-05-01T09:58:12Z"), at("2024-05-01T09:58:12Z")
	is.FirstRelease = &sentry.Release{Version: "backend@2.4.0"}
	is.Stats = sentry.Stats{Day: hourly(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)}
	cases["unassigned-new"] = cardCase{issue: is}

	is = exampleIssue(tb)
	is.ID, is.ShortID, is.Level = "4502", "CHECKOUT-1A", "fatal"
	is.Title = "OutOfMemoryError: Java heap space"
	is.Culprit = ptr("com.acme.checkout.CartService in load")
	is.Permalink = "https://acme.sentry.io/issues/4502/"
	is.Metadata = sentry.Metadata{Type: "OutOfMemoryError", Value: "Java heap space"}
	is.Substatus = ptr(sentry.SubstatusEscalating)
	is.Count, is.UserCount = "48213", 3120
	is.LastRelease = &sentry.Release{Version: "checkout@5.0.1+build.77", ShortVersion: "5.0.1"}
	is.Stats = sentry.Stats{Day: hourly(2, 3, 2, 4, 3, 5, 4, 6, 8, 7, 9, 12, 15, 14, 20, 26, 31, 45, 60, 88, 120, 160, 240, 310)}
	cases["escalating"] = cardCase{issue: is}

	is = exampleIssue(tb)
	is.Status, is.Substatus = sentry.StatusResolved, nil
	is.StatusDetails = json.RawMessage(`{"inNextRelease":true}`)
	cases["resolved-footer"] = cardCase{issue: is, opts: CardOptions{Footer: "Resolved by <@U0123ABC> via sentrybot"}}

	is = exampleIssue(tb)
	is.Level = "warning"
	is.Status, is.Substatus = sentry.StatusIgnored, ptr(sentry.SubstatusArchivedUntilEscalating)
	cases["archived-until-escalating"] = cardCase{issue: is, opts: CardOptions{Footer: "Archived by <@U0456DEF>"}}

	is = exampleIssue(tb)
	is.Level = "info"
	is.AssignedTo = &sentry.Assignee{Type: "team", ID: "3", Name: "backend-oncall"}
	cases["team-assignee"] = cardCase{issue: is}

	is = exampleIssue(tb)
	is.Level = "debug"
	is.Culprit, is.Substatus, is.AssignedTo = nil, nil, nil
	is.Platform, is.Priority = nil, nil
	is.FirstSeen, is.LastSeen = nil, nil
	is.FirstRelease, is.LastRelease = nil, nil
	is.Stats = sentry.Stats{}
	is.StatusDetails = nil
	cases["nulls"] = cardCase{issue: is}

	is = exampleIssue(tb)
	cases["gone-no-actions"] = cardCase{issue: is, opts: CardOptions{NoActions: true, Footer: "This issue no longer exists in Sentry."}}

	cases["limits"] = cardCase{issue: limitIssue(tb), opts: CardOptions{Footer: "Resolved by <@U1> " + strings.Repeat("ж", 4000)}}
	return cases
}

// limitIssue has every text far past its limit.
func limitIssue(tb testing.TB) sentry.Issue {
	is := exampleIssue(tb)
	is.Title = "Tom & Jerry <script>alert(1)</script> " + strings.Repeat("Τίτλος ", 80) // > 500 runes
	is.Culprit = ptr(strings.Repeat("culprit.module.", 334))                            // 5010 runes
	is.Metadata.Value = strings.Repeat("värde <&> ", 1000)                              // 10000 runes
	is.Count = "123456789"
	is.AssignedTo = &sentry.Assignee{Type: "user", ID: "9", Name: strings.Repeat("Näme", 50)}
	is.Project.Name = strings.Repeat("P", 200)
	is.FirstRelease = &sentry.Release{Version: strings.Repeat("v", 200)}
	is.Stats.Day = hourly(make([]int64, 1000)...)
	return is
}

// encode writes blocks as indented JSON without HTML escaping so golden
// files show < > & as Slack will read them.
func encode(tb testing.TB, v any) []byte {
	tb.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		tb.Fatalf("encoding blocks: %v", err)
	}
	return buf.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./blocks -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden (run go test ./blocks -update and review):\n%s", name, got)
	}
}

func TestIssueCardGolden(t *testing.T) {
	for name, c := range cardCases(t) {
		t.Run(name, func(t *testing.T) {
			bs := IssueCard(c.issue, c.opts)
			assertLimits(t, bs)
			golden(t, name+".golden.json", encode(t, bs))
			golden(t, name+".golden.txt", []byte(PlainText(bs)+"\n"))
		})
	}
}

func blockByID(bs []slack.Block, id string) slack.Block {
	for _, b := range bs {
		if b.ID() == id {
			return b
		}
	}
	return nil
}

func TestIssueCardStructure(t *testing.T) {
	is := exampleIssue(t)
	bs := IssueCard(is, CardOptions{Footer: "Resolved by <@U1>"})

	var ids []string
	for _, b := range bs {
		ids = append(ids, b.ID())
	}
	wantIDs := []string{"issue:1", "issue_facts:1", "issue_trend:1", "issue_actions:1", "issue_footer:1"}
	if strings.Join(ids, " ") != strings.Join(wantIDs, " ") {
		t.Fatalf("block ids = %v, want %v", ids, wantIDs)
	}

	title := bs[0].(*slack.SectionBlock).Text.Text
	wantTitle := ":large_orange_circle: *<https://sentry.io/the-interstellar-jurisdiction/pump-station/issues/1/|This is an example Python exception>*"
	if !strings.HasPrefix(title, wantTitle+"\n") {
		t.Errorf("title line = %q, want prefix %q", title, wantTitle)
	}

	acts := bs[3].(*slack.ActionBlock).Elements.ElementSet
	want := []struct {
		id, label string
		style     slack.Style
	}{{ActionResolve, "Resolve", slack.StylePrimary}, {ActionArchive, "Archive", ""}, {ActionAssign, "Assign", ""}}
	if len(acts) != len(want) {
		t.Fatalf("%d action elements, want %d", len(acts), len(want))
	}
	for i, w := range want {
		b := acts[i].(*slack.ButtonBlockElement)
		if b.ActionID != w.id || b.Text.Text != w.label || b.Style != w.style || b.Value != "1" {
			t.Errorf("button %d = %s %q %q value %q, want %s %q %q value \"1\"", i, b.ActionID, b.Text.Text, b.Style, b.Value, w.id, w.label, w.style)
		}
	}

	facts := bs[1].(*slack.SectionBlock).Fields
	var got []string
	for _, f := range facts {
		got = append(got, f.Text)
	}
	wantFacts := []string{
		"*Status*\nOngoing",
		"*Assignee*\nJohn Doe",
		"*Events*\n150",
		"*Users*\n12",
		"*First seen*\n<!date^1541539195^{date_short_pretty} {time}|2018-11-06 21:19 UTC>",
		"*Last seen*\n<!date^1544131195^{date_short_pretty} {time}|2018-12-06 21:19 UTC>",
		"*Project*\nPump Station",
		"*Release*\n1764232",
	}
	if strings.Join(got, "|") != strings.Join(wantFacts, "|") {
		t.Errorf("facts =\n%q\nwant\n%q", got, wantFacts)
	}

	trend := bs[2].(*slack.ContextBlock).ContextElements.Elements[0].(*slack.TextBlockObject).Text
	if trend != "Last 24h █▇ · 1,030 events" {
		t.Errorf("trend = %q", trend)
	}

	noActs := IssueCard(is, CardOptions{NoActions: true, Footer: "  "})
	for _, b := range noActs {
		if b.BlockType() == slack.MBTAction {
			t.Error("NoActions card has an actions block")
		}
		if strings.HasPrefix(b.ID(), BlockFooter) {
			t.Error("blank footer rendered")
		}
	}
}

func TestIssueCardLevels(t *testing.T) {
	want := map[string]string{
		"fatal": ":red_circle:", "error": ":large_orange_circle:", "warning": ":large_yellow_circle:",
		"info": ":large_blue_circle:", "debug": ":white_circle:", "sample": ":black_circle:", "": ":black_circle:",
	}
	for level, emoji := range want {
		is := exampleIssue(t)
		is.Level = level
		text := IssueCard(is, CardOptions{})[0].(*slack.SectionBlock).Text.Text
		if !strings.HasPrefix(text, emoji+" ") {
			t.Errorf("level %q: card starts %q, want %s", level, text[:min(len(text), 30)], emoji)
		}
		if LevelColor(level) == "" {
			t.Errorf("level %q: no colour", level)
		}
	}
}

func TestIssueCardAtLimits(t *testing.T) {
	is := limitIssue(t)
	bs := IssueCard(is, CardOptions{Footer: strings.Repeat("<@U1> ", 1000)})
	assertLimits(t, bs)

	summary := bs[0].(*slack.SectionBlock).Text.Text
	lines := strings.Split(summary, "\n")
	if len(lines) != 3 {
		t.Fatalf("summary has %d lines, want title, meta, value: %q", len(lines), summary)
	}
	if !strings.Contains(lines[0], "|Tom &amp; Jerry &lt;script&gt;alert(1)&lt;/script&gt; Τίτλος") || !strings.HasSuffix(lines[0], "…>*") {
		t.Errorf("title not escaped and cut inside its link: %q", lines[0])
	}
	if n := utf8.RuneCountInString(lines[1]); n > shortIDMax+culpritMax+40 || !strings.HasSuffix(lines[1], "…") {
		t.Errorf("culprit line %d runes: %q", n, lines[1])
	}
	if n := utf8.RuneCountInString(lines[2]); n > valueMax+2 || !strings.HasSuffix(lines[2], "…") || !strings.HasPrefix(lines[2], "> värde &lt;&amp;&gt; ") {
		t.Errorf("value line %d runes: %q", n, lines[2])
	}

	facts := map[string]string{}
	for _, f := range bs[1].(*slack.SectionBlock).Fields {
		label, value, _ := strings.Cut(f.Text, "\n")
		facts[label] = value
	}
	if got := facts["*Events*"]; got != "123,456,789" {
		t.Errorf("events = %q", got)
	}
	for _, label := range []string{"*Assignee*", "*Project*", "*Release*"} {
		if got := facts[label]; utf8.RuneCountInString(got) != nameMax || !strings.HasSuffix(got, "…") {
			t.Errorf("%s = %d runes %q, want %d ending in …", label, utf8.RuneCountInString(got), got, nameMax)
		}
	}

	trend := bs[2].(*slack.ContextBlock).ContextElements.Elements[0].(*slack.TextBlockObject).Text
	if n := strings.Count(trend, "▁"); n != dayPoints {
		t.Errorf("trend has %d bars, want %d", n, dayPoints)
	}

	footer := blockByID(bs, BlockFooter+is.ID).(*slack.ContextBlock).ContextElements.Elements[0].(*slack.TextBlockObject).Text
	if strings.HasSuffix(footer, "<@U…") || !strings.HasSuffix(footer, "…") || utf8.RuneCountInString(footer) > maxContextText {
		t.Errorf("footer cut badly: …%q", footer[len(footer)-20:])
	}
}

func TestIssueCardLongID(t *testing.T) {
	is := exampleIssue(t)
	is.ID = strings.Repeat("9", 3000)
	bs := IssueCard(is, CardOptions{Footer: "x"})
	assertLimits(t, bs)
	b := blockByID(bs, clip(BlockActions+is.ID, maxBlockID)).(*slack.ActionBlock).Elements.ElementSet[0].(*slack.ButtonBlockElement)
	if len(b.Value) != maxButtonValue {
		t.Errorf("button value %d chars, want %d", len(b.Value), maxButtonValue)
	}
}

func FuzzIssueCard(f *testing.F) {
	f.Add("Tom & Jerry <x>", "mod in fn", "boom", "Ann", "proj", "150", "1.0", "https://x.io/issues/1/", "1", "P-1", "Resolved by <@U1>", "unresolved", "new")
	f.Add(strings.Repeat("ü", 600), strings.Repeat("<", 6000), strings.Repeat("&", 11000), strings.Repeat("n", 300), "", "12a", "", "http://x/|y", "", "", "", "ignored", "archived_until_condition_met")
	f.Add("\xff\xfe", "\n\n", " ", "#", "<!channel>", "-", "<http://a|b>", "javascript:x", "a\nb", "*", "<", "", "")
	f.Fuzz(func(t *testing.T, title, culprit, value, name, project, count, release, permalink, id, shortID, footer, status, sub string) {
		is := sentry.Issue{
			ID: id, ShortID: shortID, Title: title, Culprit: &culprit, Permalink: permalink,
			Level: "error", Status: status, Substatus: &sub,
			Project:    sentry.Project{Name: project, Slug: project},
			Metadata:   sentry.Metadata{Value: value},
			AssignedTo: &sentry.Assignee{Type: "team", Name: name},
			Count:      count, UserCount: len(name),
			FirstSeen:   at("2024-05-01T10:00:00Z"),
			LastRelease: &sentry.Release{Version: release},
			Stats:       sentry.Stats{Day: hourly(int64(len(title)), int64(len(value)))},
		}
		bs := IssueCard(is, CardOptions{Footer: footer})
		for _, e := range limitErrors(bs) {
			t.Error(e)
		}
		if _, err := json.Marshal(bs); err != nil {
			t.Fatalf("json.Marshal: %v", err)
		}
		if !utf8.ValidString(PlainText(bs)) {
			t.Error("PlainText is not valid UTF-8")
		}
	})
}

func BenchmarkIssueCard(b *testing.B) {
	is := exampleIssue(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(IssueCard(is, CardOptions{})); err != nil {
			b.Fatal(err)
		}
	}
}
