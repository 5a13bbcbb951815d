package blocks

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// sentryCommands is the /sentry command list as the command handler
// describes it.
func sentryCommands() []CommandHelp {
	return []CommandHelp{
		{"/sentry help", "", "Show this list."},
		{"/sentry link", "", "Link your Slack account to your Sentry user."},
		{"/sentry unlink", "", "Remove that link."},
		{"/sentry whoami", "", "Show your linked Sentry user and your sentrybot role."},
		{"/sentry issue <id|SHORT-ID|url> [share]", "/sentry issue BACKEND-3F share", "Show an issue's card; share posts it in the channel."},
		{"/sentry search <query>", "/sentry search is:unresolved level:error", "Find issues with Sentry's search syntax."},
		{"/sentry resolve <issue> [next-release|current-release]", "/sentry resolve BACKEND-3F next-release", "Resolve an issue, now or in a release."},
		{"/sentry unresolve <issue>", "", "Reopen a resolved issue."},
		{"/sentry archive <issue> [escalating|forever|1h|1d|1w|10|100|1000]", "/sentry archive WEB-88 1d", "Archive an issue until it escalates, forever, for a while or for more events."},
		{"/sentry assign <issue> <@user|#team|me|none>", "/sentry assign BACKEND-3F #payments", "Assign an issue, or clear its assignee with none."},
		{"/sentry admin role @user admin|responder|viewer|default", "/sentry admin role @ana responder", "Set someone's sentrybot role (admins only)."},
		{"/sentry admin audit [issue|@user]", "/sentry admin audit BACKEND-3F", "Show recent changes made through sentrybot (admins only)."},
		{"/sentry subscribe [project…] [query]", "/sentry subscribe backend level:fatal", "Post new matching issues in this channel."},
		{"/sentry unsubscribe", "", "Stop this channel's subscription."},
		{"/sentry subscriptions [all]", "/sentry subscriptions all", "List this channel's subscriptions, or every channel's."},
	}
}

func TestHelpGolden(t *testing.T) {
	intro := "*sentrybot* brings Sentry issues into Slack. Paste an issue link to see its card, or use a command:"
	bs := Help(sentryCommands(), intro)
	goldenBlocks(t, "help", bs)
	if len(bs) != 2 || bs[0].ID() != BlockHelpIntro || bs[1].ID() != BlockHelpCommands+"1" {
		t.Fatalf("blocks %v, want intro and one command section", PlainText(bs))
	}
	lines := strings.Split(bs[1].(*slack.SectionBlock).Text.Text, "\n")
	if len(lines) != len(sentryCommands()) {
		t.Fatalf("%d lines for %d commands", len(lines), len(sentryCommands()))
	}
	wants := map[int]string{
		0: "`/sentry help` — Show this list",
		4: "`/sentry issue &lt;id|SHORT-ID|url&gt; [share]` — Show an issue's card; share posts it in the channel, e.g. `/sentry issue BACKEND-3F share`",
		9: "`/sentry assign &lt;issue&gt; &lt;@user|#team|me|none&gt;` — Assign an issue, or clear its assignee with none, e.g. `/sentry assign BACKEND-3F #payments`",
	}
	for i, want := range wants {
		if lines[i] != want {
			t.Errorf("line %d =\n%s\nwant\n%s", i, lines[i], want)
		}
	}
}

func TestHelpLines(t *testing.T) {
	tests := []struct {
		in   CommandHelp
		want string
	}{
		{CommandHelp{Usage: "/sentry x"}, "`/sentry x`"},
		{CommandHelp{Usage: "/sentry x", Example: "/sentry x 1"}, "`/sentry x` — e.g. `/sentry x 1`"},
		{CommandHelp{Usage: "/sentry x", Summary: "Does x..."}, "`/sentry x` — Does x"},
		{CommandHelp{Usage: "/sentry `x`", Summary: "a <b> & c", Example: "/sentry `x`\n2"}, "`/sentry 'x'` — a &lt;b&gt; &amp; c, e.g. `/sentry 'x' 2`"},
		{CommandHelp{Usage: " \n", Summary: "no usage"}, ""},
	}
	for _, tt := range tests {
		if got := helpLine(tt.in); got != tt.want {
			t.Errorf("helpLine(%+v) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if bs := Help([]CommandHelp{{Summary: "no usage"}}, "  "); len(bs) != 0 {
		t.Errorf("Help with nothing to show = %d blocks", len(bs))
	}
}

func TestHelpLimits(t *testing.T) {
	var cmds []CommandHelp
	for i := range 400 {
		n := strconv.Itoa(i)
		cmds = append(cmds, CommandHelp{
			Usage:   "/sentry " + n + strings.Repeat(" <arg>", 100),
			Example: "/sentry " + n + strings.Repeat(" &", 100),
			Summary: strings.Repeat("ß", 1000),
		})
	}
	bs := Help(cmds, strings.Repeat("<https://docs.example/|docs> ", 200))
	assertLimits(t, bs)
	if len(bs) != maxBlocks {
		t.Errorf("%d blocks, want %d", len(bs), maxBlocks)
	}
	for _, b := range bs[1:] {
		text := b.(*slack.SectionBlock).Text.Text
		if n := utf8.RuneCountInString(text); n > maxSectionText || n < maxSectionText/2 {
			t.Errorf("%s: %d chars; sections should be packed but within %d", b.ID(), n, maxSectionText)
		}
		for _, l := range strings.Split(text, "\n") {
			if strings.Count(l, "`")%2 != 0 {
				t.Errorf("line with an open code span: %q", l)
			}
		}
	}
	intro := bs[0].(*slack.SectionBlock).Text.Text
	if markupError(intro) != "" || !strings.HasSuffix(intro, "…") {
		t.Errorf("intro cut badly: …%q", intro[len(intro)-40:])
	}
}

func TestPack(t *testing.T) {
	tests := []struct {
		lines []string
		max   int
		want  []string
	}{
		{nil, 10, nil},
		{[]string{"aaa", "bbb", "ccc"}, 7, []string{"aaa\nbbb", "ccc"}},
		{[]string{"aaa", "bbb", "ccc"}, 6, []string{"aaa", "bbb", "ccc"}},
		{[]string{"ééé", "ééé"}, 7, []string{"ééé\nééé"}},
	}
	for _, tt := range tests {
		if got := pack(tt.lines, tt.max); strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("pack(%q, %d) = %q, want %q", tt.lines, tt.max, got, tt.want)
		}
	}
}

func TestNotice(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Linked to <@U1>.", "Linked to <@U1>."},
		{"Unknown command " + InlineCode("frob <x>") + ".", "Unknown command `frob &lt;x&gt;`."},
		{"", " "},
		{"\n", " "},
		{"bad \xff byte", "bad \uFFFD byte"},
	}
	for _, tt := range tests {
		bs := Notice(tt.in)
		assertLimits(t, bs)
		if len(bs) != 1 || bs[0].ID() != BlockNotice {
			t.Fatalf("Notice(%q) = %d blocks", tt.in, len(bs))
		}
		if got := bs[0].(*slack.SectionBlock).Text; got.Type != slack.MarkdownType || got.Text != tt.want {
			t.Errorf("Notice(%q) = %s %q, want mrkdwn %q", tt.in, got.Type, got.Text, tt.want)
		}
	}
	long := Notice(strings.Repeat("see <https://x.io/a|a> ", 500))
	assertLimits(t, long)
	if got := long[0].(*slack.SectionBlock).Text.Text; markupError(got) != "" || utf8.RuneCountInString(got) > maxSectionText {
		t.Errorf("long notice cut badly: …%q", got[len(got)-40:])
	}
}

func TestExportedEscape(t *testing.T) {
	if got := Escape("<!channel> & \xff"); got != "&lt;!channel&gt; &amp; \uFFFD" {
		t.Errorf("Escape = %q", got)
	}
}
