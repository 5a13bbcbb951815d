package blocks

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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

	is = exampleIssue(tb)
	is.Status, is.Substatus = "pending_deletion", nil
	cases["unknown-status"] = cardCase{issue: is}

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

	if got := controls(bs[3].(*slack.ActionBlock)); got != "button sentry.issue.resolve Resolve primary =1 | static_select sentry.issue.resolve_in Resolve in… | static_select sentry.issue.archive Archive… | external_select sentry.issue.assign Assign… min0 @user:1 John Doe" {
		t.Errorf("controls = %s", got)
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

// controls describes an actions block compactly: one "type action_id label
// [style] [=value] [min<n>] [@initial value and label]" per element.
func controls(a *slack.ActionBlock) string {
	var out []string
	for _, e := range a.Elements.ElementSet {
		switch v := e.(type) {
		case *slack.ButtonBlockElement:
			d := "button " + v.ActionID + " " + v.Text.Text
			if v.Style != "" {
				d += " " + string(v.Style)
			}
			out = append(out, d+" ="+v.Value)
		case *slack.SelectBlockElement:
			d := v.Type + " " + v.ActionID + " " + v.Placeholder.Text
			if v.MinQueryLength != nil {
				d += " min" + strconv.Itoa(*v.MinQueryLength)
			}
			if o := v.InitialOption; o != nil {
				d += " @" + o.Value + " " + o.Text.Text
			}
			out = append(out, d)
		default:
			out = append(out, fmt.Sprintf("%T", e))
		}
	}
	return strings.Join(out, " | ")
}

func TestIssueActionsByStatus(t *testing.T) {
	const (
		resolve   = "button sentry.issue.resolve Resolve primary =42"
		resolveIn = "static_select sentry.issue.resolve_in Resolve in…"
		unresolve = "button sentry.issue.unresolve Unresolve =42"
		archive   = "static_select sentry.issue.archive Archive…"
		unarchive = "button sentry.issue.unarchive Unarchive =42"
		assign    = "external_select sentry.issue.assign Assign… min0"
	)
	tests := []struct {
		name, status string
		assignee     *sentry.Assignee
		want         []string
	}{
		{"unresolved", sentry.StatusUnresolved, nil, []string{resolve, resolveIn, archive, assign}},
		{"resolved", sentry.StatusResolved, nil, []string{unresolve, archive, assign}},
		{"archived", sentry.StatusIgnored, nil, []string{unarchive, resolve, assign}},
		{"unknown status", "reprocessing", nil, []string{resolve, resolveIn, archive, assign}},
		{"assigned user", sentry.StatusResolved, &sentry.Assignee{Type: "user", ID: "7", Name: "Ana Lima", Email: "ana@x.io"},
			[]string{unresolve, archive, assign + " @user:7 Ana Lima"}},
		{"user without name", sentry.StatusUnresolved, &sentry.Assignee{Type: "user", ID: "7", Email: "ana@x.io"},
			[]string{resolve, resolveIn, archive, assign + " @user:7 ana@x.io"}},
		{"assigned team", sentry.StatusIgnored, &sentry.Assignee{Type: "team", ID: "3", Name: "payments"},
			[]string{unarchive, resolve, assign + " @team:3 #payments"}},
		{"team named with hash", sentry.StatusIgnored, &sentry.Assignee{Type: "team", ID: "3", Name: "#payments"},
			[]string{unarchive, resolve, assign + " @team:3 #payments"}},
		{"team without name", sentry.StatusIgnored, &sentry.Assignee{Type: "team", ID: "3"},
			[]string{unarchive, resolve, assign + " @team:3 #3"}},
		{"assignee without id", sentry.StatusUnresolved, &sentry.Assignee{Type: "user", Name: "Ana"}, []string{resolve, resolveIn, archive, assign}},
		{"assignee of unknown type", sentry.StatusUnresolved, &sentry.Assignee{Type: "bot", ID: "1", Name: "x"}, []string{resolve, resolveIn, archive, assign}},
		{"assignee id too long", sentry.StatusUnresolved, &sentry.Assignee{Type: "user", ID: strings.Repeat("1", 200), Name: "x"}, []string{resolve, resolveIn, archive, assign}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := exampleIssue(t)
			is.ID, is.Status, is.AssignedTo = "42", tt.status, tt.assignee
			bs := IssueCard(is, CardOptions{})
			assertLimits(t, bs)
			a, ok := blockByID(bs, "issue_actions:42").(*slack.ActionBlock)
			if !ok {
				t.Fatal("no actions block issue_actions:42")
			}
			if got, want := controls(a), strings.Join(tt.want, " | "); got != want {
				t.Errorf("controls =\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestMenuOptions(t *testing.T) {
	is := exampleIssue(t)
	a := blockByID(IssueCard(is, CardOptions{}), "issue_actions:1").(*slack.ActionBlock)
	menu := func(actionID string) string {
		for _, e := range a.Elements.ElementSet {
			if s, ok := e.(*slack.SelectBlockElement); ok && s.ActionID == actionID {
				var os []string
				for _, o := range s.Options {
					os = append(os, o.Value+"="+o.Text.Text)
				}
				return strings.Join(os, "; ")
			}
		}
		return "(no menu " + actionID + ")"
	}
	if got, want := menu(ActionResolveIn), "next_release=Next release; current_release=Current release"; got != want {
		t.Errorf("resolve in menu = %s\nwant %s", got, want)
	}
	want := "until_escalating=Until escalating; forever=Forever; for:60=For 1 hour; for:1440=For 1 day; for:10080=For 1 week; " +
		"count:10=Until 10 more events; count:100=Until 100 more events; count:1000=Until 1,000 more events"
	if got := menu(ActionArchive); got != want {
		t.Errorf("archive menu = %s\nwant %s", got, want)
	}
	// Every offered archive value parses back.
	for _, o := range archiveOptions() {
		if _, err := ParseArchiveChoice(o.value); err != nil {
			t.Errorf("offered value %q does not parse: %v", o.value, err)
		}
	}
}

func TestParseArchiveChoice(t *testing.T) {
	tests := []struct {
		in   string
		want ArchiveChoice
	}{
		{ArchiveUntilEscalating, ArchiveChoice{UntilEscalating: true}},
		{ArchiveForever, ArchiveChoice{Forever: true}},
		{ArchiveFor1Hour, ArchiveChoice{For: time.Hour}},
		{ArchiveFor1Day, ArchiveChoice{For: 24 * time.Hour}},
		{ArchiveFor1Week, ArchiveChoice{For: 7 * 24 * time.Hour}},
		{ArchiveUntil10, ArchiveChoice{Count: 10}},
		{ArchiveUntil100, ArchiveChoice{Count: 100}},
		{ArchiveUntil1000, ArchiveChoice{Count: 1000}},
	}
	for _, tt := range tests {
		got, err := ParseArchiveChoice(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseArchiveChoice(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "for:30", "for:60 ", "FOREVER", "count:5", "count:-1", "for:1e9", "count:1000000", "until_escalating\x00", strings.Repeat("x", 5000)} {
		if got, err := ParseArchiveChoice(in); err == nil {
			t.Errorf("ParseArchiveChoice(%q) = %+v, want an error", in, got)
		} else if len(err.Error()) > 120 {
			t.Errorf("error for %d-byte input is %d bytes long", len(in), len(err.Error()))
		}
	}
}

func TestIssueIDFromBlockID(t *testing.T) {
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{"issue_actions:4501", "4501", true},
		{BlockActions + "1", "1", true},
		{"issue_actions:", "", false},
		{"issue:4501", "", false},
		{"issue_footer:4501", "", false},
		{"", "", false},
		{"xissue_actions:1", "", false},
		{BlockActions + strings.Repeat("9", maxBlockID-len(BlockActions)-1), strings.Repeat("9", maxBlockID-len(BlockActions)-1), true},
		{clip(BlockActions+strings.Repeat("9", 300), maxBlockID), "", false}, // may have been cut
	}
	for _, tt := range tests {
		got, ok := IssueIDFromBlockID(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("IssueIDFromBlockID(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
	// Round trip through a rendered card, in each layout.
	for _, st := range []string{sentry.StatusUnresolved, sentry.StatusResolved, sentry.StatusIgnored} {
		is := exampleIssue(t)
		is.ID, is.Status = "4501", st
		for _, b := range IssueCard(is, CardOptions{}) {
			if b.BlockType() == slack.MBTAction {
				if id, ok := IssueIDFromBlockID(b.ID()); !ok || id != "4501" {
					t.Errorf("%s card: block id %q reads back as %q, %v", st, b.ID(), id, ok)
				}
			}
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
	f.Add("t", "c", "v", "Ann", "p", "3", "r", "https://x.io/issues/2/", "2", "P-2", "", "resolved", "")
	f.Add("t", "c", "v", "Ann", "p", "3", "r", "https://x.io/issues/3/", "3", "P-3", "", "ignored", "archived_forever")
	f.Fuzz(func(t *testing.T, title, culprit, value, name, project, count, release, permalink, id, shortID, footer, status, sub string) {
		is := sentry.Issue{
			ID: id, ShortID: shortID, Title: title, Culprit: &culprit, Permalink: permalink,
			Level: "error", Status: status, Substatus: &sub,
			Project:    sentry.Project{Name: project, Slug: project},
			Metadata:   sentry.Metadata{Value: value},
			AssignedTo: &sentry.Assignee{Type: "team", ID: shortID, Name: name},
			Count:      count, UserCount: len(name),
			FirstSeen:   at("2024-05-01T10:00:00Z"),
			LastRelease: &sentry.Release{Version: release},
			Stats:       sentry.Stats{Day: hourly(int64(len(title)), int64(len(value)))},
		}
		bs := IssueCard(is, CardOptions{Footer: footer})
		for _, e := range limitErrors(bs) {
			t.Error(e)
		}
		for _, b := range bs {
			if id, ok := IssueIDFromBlockID(b.ID()); ok && id != is.ID {
				t.Errorf("block id %q reads back as issue %q, not %q", b.ID(), id, is.ID)
			}
		}
		if _, err := json.Marshal(bs); err != nil {
			t.Fatalf("json.Marshal: %v", err)
		}
		if !utf8.ValidString(PlainText(bs)) {
			t.Error("PlainText is not valid UTF-8")
		}
	})
}

// FuzzMessages holds the other renderers to the same limits with random
// titles, labels, queries and values.
func FuzzMessages(f *testing.F) {
	f.Add("is:unresolved", "Tom & Jerry <x>", "P-1", "https://x.io/issues/1/", "Ann (ann@x.io)", "user:1", "an", "cursor", 3, true)
	f.Add(strings.Repeat("`", 300), strings.Repeat("ü", 600), strings.Repeat("<", 300), "http://x/|y", strings.Repeat("#", 200), "team:"+strings.Repeat("9", 200), "", strings.Repeat("c", 2001), 60, false)
	f.Add("\xff", "\n", "", "", "", "user:", "@", "", 0, true)
	f.Fuzz(func(t *testing.T, query, title, shortID, permalink, label, actor, typed, more string, n int, assigned bool) {
		// Past a few thousand bytes every text is cut the same way; longer
		// inputs only slow each run down until the fuzzer's deadline passes
		// with a worker still busy.
		for _, s := range []*string{&query, &title, &shortID, &permalink, &label, &actor, &typed, &more} {
			if len(*s) > 4096 {
				*s = (*s)[:4096]
			}
		}
		n = min(max(n, 0), 60)
		is := sentry.Issue{
			ID: shortID, ShortID: shortID, Title: title, Permalink: permalink, Level: "error",
			Status: sentry.StatusResolved, Count: title, UserCount: n,
			Project:  sentry.Project{Slug: label},
			LastSeen: at("2024-05-01T10:00:00Z"),
		}
		issues := make([]sentry.Issue, n)
		for i := range issues {
			issues[i] = is
		}
		cmds := []CommandHelp{{Usage: query, Example: title, Summary: label}, {Usage: shortID, Summary: typed}}
		for name, bs := range map[string][]slack.Block{
			"search": SearchResults(query, issues, more, n),
			"help":   Help(cmds, title),
			"notice": Notice(label),
		} {
			for _, e := range limitErrors(bs) {
				t.Errorf("%s: %s", name, e)
			}
			if _, err := json.Marshal(bs); err != nil {
				t.Fatalf("%s: json.Marshal: %v", name, err)
			}
			if !utf8.ValidString(PlainText(bs)) {
				t.Errorf("%s: PlainText is not valid UTF-8", name)
			}
		}

		cands := []Assignable{{Actor: actor, Label: label}, {Actor: "team:" + shortID, Label: title}, {Actor: "user:" + typed, Label: query}}
		for range n {
			cands = append(cands, Assignable{Actor: "user:" + strconv.Itoa(len(cands)), Label: label})
		}
		opts := AssigneeOptions(AssigneeQuery{Typed: typed, Me: &Assignable{Actor: actor, Label: title}, Assigned: assigned, Candidates: cands})
		for _, e := range optionErrors("assignees", opts) {
			t.Error(e)
		}
		for i, o := range opts {
			switch {
			case o.Value == AssignMe:
				// Only the caller's own option, first, and only for a valid actor.
				if i != 0 || !validActor(actor) {
					t.Errorf("option %d is \"me\" (caller's actor %q)", i, actor)
				}
			case o.Value != AssignNobody && !validActor(o.Value):
				t.Errorf("option value %q is not an actor", o.Value)
			}
		}
		if b, err := json.Marshal(SuggestionResponse(opts)); err != nil || !bytes.HasPrefix(b, []byte(`{"options":[`)) {
			t.Errorf("SuggestionResponse = %s, %v", b, err)
		}
	})
}

// BenchmarkIssueCard renders and encodes the card in each status layout,
// the assigned ones with their initial option.
func BenchmarkIssueCard(b *testing.B) {
	var issues []sentry.Issue
	for _, st := range []string{sentry.StatusUnresolved, sentry.StatusResolved, sentry.StatusIgnored} {
		is := exampleIssue(b)
		is.Status = st
		issues = append(issues, is)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, is := range issues {
			if _, err := json.Marshal(IssueCard(is, CardOptions{})); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkSearchResults(b *testing.B) {
	issues := searchIssues(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(SearchResults("is:unresolved", issues, "next", 1)); err != nil {
			b.Fatal(err)
		}
	}
}
