package blocks

import (
	"testing"

	"github.com/slack-go/slack"
)

func TestMrkdwnToPlain(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"*Status*\nOngoing", "Status\nOngoing"},
		{":red_circle: *<https://x.io/i/1/|Tom &amp; Jerry &lt;3>*", ":red_circle: Tom & Jerry <3 (https://x.io/i/1/)"},
		{"<https://x.io/?a=1&amp;b=2>", "https://x.io/?a=1&b=2"},
		{"<https://x.io|https://x.io>", "https://x.io"},
		{"<!date^1541539195^{date_short_pretty} {time}|2018-11-06 21:19 UTC>", "2018-11-06 21:19 UTC"},
		{"<!date^1541539195^{date_short_pretty}>", "2018-11-06 21:19 UTC"},
		{"Resolved by <@U123>", "Resolved by @U123"},
		{"<@U123|ana>", "@ana"},
		{"in <#C123|general> and <#C9>", "in #general and #C9"},
		{"<!here> <!channel>", "@here @channel"},
		{"<!subteam^S1|@oncall>", "@oncall"},
		{"2*3*4 stays", "2*3*4 stays"},
		{"a * b * c", "a * b * c"},
		{"*a* and *b*", "a and b"},
		{"&amp;lt; stays escaped once", "&lt; stays escaped once"},
		{"open <http://x without close", "open <http://x without close"},
		{">quoted value", ">quoted value"},
	}
	for _, tt := range tests {
		if got := mrkdwnToPlain(tt.in); got != tt.want {
			t.Errorf("mrkdwnToPlain(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPlainText(t *testing.T) {
	md := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
	}
	pt := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
	}
	tests := []struct {
		name string
		in   []slack.Block
		want string
	}{
		{"nothing", nil, ""},
		{"header", []slack.Block{slack.NewHeaderBlock(pt("Sentry & you"))}, "Sentry & you"},
		{"section fields", []slack.Block{slack.NewSectionBlock(md("*<https://x|T>*"), []*slack.TextBlockObject{md("*Status*\nNew"), md("*Users*\n12")}, nil)},
			"T (https://x)\nStatus: New\nUsers: 12"},
		{"section accessory", []slack.Block{slack.NewSectionBlock(md("Pick"), nil,
			slack.NewAccessory(slack.NewButtonBlockElement("a", "v", pt("Go"))))}, "Pick\n[Go]"},
		{"context", []slack.Block{slack.NewContextBlock("c", md("Resolved by <@U1>"), pt("then"))}, "Resolved by @U1  then"},
		{"actions", []slack.Block{slack.NewActionBlock("a",
			slack.NewButtonBlockElement(ActionResolve, "1", pt("Resolve")),
			slack.NewOverflowBlockElement(ActionArchive),
			slack.NewOptionsSelectBlockElement(slack.OptTypeExternal, pt("Assign to…"), ActionAssign),
		)}, "[Resolve] [⋯] [Assign to… ▾]"},
		{"menu with a choice", []slack.Block{slack.NewActionBlock("a",
			slack.NewOptionsSelectBlockElement(slack.OptTypeExternal, pt("Assign…"), ActionAssign).
				WithInitialOption(slack.NewOptionBlockObject("team:3", pt("#payments"), nil)),
		)}, "[#payments ▾]"},
		{"divider between", []slack.Block{slack.NewSectionBlock(md("a"), nil, nil), slack.NewDividerBlock(), slack.NewSectionBlock(md("b"), nil, nil)},
			"a\n---\nb"},
		{"value blocks", []slack.Block{slack.SectionBlock{Type: slack.MBTSection, Text: md("v &amp; w")}}, "v & w"},
		{"image", []slack.Block{slack.NewImageBlock("https://x/i.png", "chart", "", nil)}, "[image: chart]"},
		{"other block", []slack.Block{slack.NewFileBlock("f", "ext", "remote")}, "[file]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PlainText(tt.in); got != tt.want {
				t.Errorf("PlainText =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
