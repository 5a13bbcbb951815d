package blocks

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// limitErrors walks rendered blocks and reports every Block Kit limit they
// break, plus text Slack would reject or misread: empty text, invalid UTF-8,
// duplicate block ids, and (outside caller-supplied footers) a mrkdwn token
// or entity cut in half.
func limitErrors(bs []slack.Block) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	runes := utf8.RuneCountInString
	text := func(where string, t *slack.TextBlockObject, max int, checkMarkup bool) {
		if t == nil {
			bad("%s: nil text", where)
			return
		}
		if t.Text == "" {
			bad("%s: empty text", where)
		}
		if n := runes(t.Text); n > max {
			bad("%s: %d chars > %d", where, n, max)
		}
		if !utf8.ValidString(t.Text) {
			bad("%s: invalid UTF-8", where)
		}
		if t.Type == slack.MarkdownType && checkMarkup {
			if err := markupError(t.Text); err != "" {
				bad("%s: %s in %q", where, err, t.Text)
			}
		}
	}
	id := func(where, s string, max int) {
		if n := runes(s); n > max {
			bad("%s: id %d chars > %d", where, n, max)
		}
	}
	if len(bs) > maxBlocks {
		bad("%d blocks > %d", len(bs), maxBlocks)
	}
	seen := map[string]bool{}
	for i, b := range bs {
		where := fmt.Sprintf("block %d (%s)", i, b.BlockType())
		if bid := b.ID(); bid != "" {
			id(where, bid, maxBlockID)
			if seen[bid] {
				bad("%s: duplicate block_id %q", where, bid)
			}
			seen[bid] = true
		}
		markup := !callerMrkdwn(b.ID())
		switch v := b.(type) {
		case *slack.HeaderBlock:
			text(where+" header", v.Text, maxHeaderText, markup)
		case *slack.SectionBlock:
			if v.Text == nil && len(v.Fields) == 0 {
				bad("%s: neither text nor fields", where)
			}
			if v.Text != nil {
				text(where+" text", v.Text, maxSectionText, markup)
			}
			if len(v.Fields) > maxFields {
				bad("%s: %d fields > %d", where, len(v.Fields), maxFields)
			}
			for j, f := range v.Fields {
				text(fmt.Sprintf("%s field %d", where, j), f, maxFieldText, markup)
			}
		case *slack.ContextBlock:
			els := v.ContextElements.Elements
			if len(els) == 0 || len(els) > maxContextElems {
				bad("%s: %d elements", where, len(els))
			}
			for j, e := range els {
				t, ok := e.(*slack.TextBlockObject)
				if !ok {
					bad("%s element %d: unexpected %T", where, j, e)
					continue
				}
				text(fmt.Sprintf("%s element %d", where, j), t, maxContextText, markup)
			}
		case *slack.ActionBlock:
			if v.Elements == nil || len(v.Elements.ElementSet) == 0 || len(v.Elements.ElementSet) > maxActionsElems {
				bad("%s: bad element count", where)
				continue
			}
			for j, e := range v.Elements.ElementSet {
				ew := fmt.Sprintf("%s element %d", where, j)
				switch el := e.(type) {
				case *slack.ButtonBlockElement:
					text(ew+" text", el.Text, maxButtonText, false)
					if el.Text != nil && el.Text.Type != slack.PlainTextType {
						bad("%s: button text must be plain_text", ew)
					}
					id(ew+" action_id", el.ActionID, maxActionID)
					if n := runes(el.Value); n > maxButtonValue {
						bad("%s: value %d chars > %d", ew, n, maxButtonValue)
					}
				case *slack.OverflowBlockElement:
					id(ew+" action_id", el.ActionID, maxActionID)
					for k, o := range el.Options {
						text(fmt.Sprintf("%s option %d", ew, k), o.Text, maxOptionText, false)
					}
				case *slack.SelectBlockElement:
					id(ew+" action_id", el.ActionID, maxActionID)
					text(ew+" placeholder", el.Placeholder, maxPlaceholder, false)
					if el.Placeholder != nil && el.Placeholder.Type != slack.PlainTextType {
						bad("%s: placeholder must be plain_text", ew)
					}
					if len(el.OptionGroups) > 0 {
						bad("%s: option groups are not used", ew)
					}
					switch el.Type {
					case slack.OptTypeStatic:
						if len(el.Options) == 0 {
							bad("%s: static select without options", ew)
						}
						errs = append(errs, optionErrors(ew, el.Options)...)
						if o := el.InitialOption; o != nil && !hasOption(el.Options, o) {
							bad("%s: initial option %q is not one of the options", ew, o.Value)
						}
					case slack.OptTypeExternal:
						if len(el.Options) > 0 {
							bad("%s: external select with inline options", ew)
						}
						if el.MinQueryLength == nil {
							bad("%s: no min_query_length", ew)
						}
					default:
						bad("%s: unexpected select type %q", ew, el.Type)
					}
					if o := el.InitialOption; o != nil {
						errs = append(errs, optionErrors(ew+" initial", []*slack.OptionBlockObject{o})...)
					}
				default:
					bad("%s: unexpected %T", ew, e)
				}
			}
		default:
			bad("%s: unexpected %T", where, b)
		}
	}
	return errs
}

// callerMrkdwn marks blocks whose text the caller writes as mrkdwn; their
// markup is the caller's to get right.
func callerMrkdwn(blockID string) bool {
	return strings.HasPrefix(blockID, BlockFooter) || blockID == BlockNotice || blockID == BlockHelpIntro
}

// optionErrors checks a list of options as Slack would in a menu or a
// block_suggestion answer: count, plain_text labels, value lengths, unique
// values.
func optionErrors(where string, opts []*slack.OptionBlockObject) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if len(opts) > maxSelectOpts {
		bad("%s: %d options > %d", where, len(opts), maxSelectOpts)
	}
	values := map[string]bool{}
	for i, o := range opts {
		ow := fmt.Sprintf("%s option %d", where, i)
		if o == nil {
			bad("%s: nil", ow)
			continue
		}
		switch {
		case o.Text == nil:
			bad("%s: no text", ow)
		case o.Text.Type != slack.PlainTextType:
			bad("%s: text must be plain_text", ow)
		case strings.TrimSpace(o.Text.Text) == "":
			bad("%s: blank text", ow)
		case utf8.RuneCountInString(o.Text.Text) > maxOptionText:
			bad("%s: text %d chars > %d", ow, utf8.RuneCountInString(o.Text.Text), maxOptionText)
		case !utf8.ValidString(o.Text.Text):
			bad("%s: invalid UTF-8", ow)
		}
		if o.Value == "" || utf8.RuneCountInString(o.Value) > maxOptionValue || !utf8.ValidString(o.Value) {
			bad("%s: value %q is empty, too long or invalid", ow, o.Value)
		}
		if values[o.Value] {
			bad("%s: duplicate value %q", ow, o.Value)
		}
		values[o.Value] = true
	}
	return errs
}

func hasOption(opts []*slack.OptionBlockObject, want *slack.OptionBlockObject) bool {
	for _, o := range opts {
		if o != nil && o.Value == want.Value && o.Text != nil && want.Text != nil && o.Text.Text == want.Text.Text {
			return true
		}
	}
	return false
}

// markupError reports a mrkdwn token left open or nested, or an ampersand
// that does not start one of the three entities.
func markupError(s string) string {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '<':
			if depth > 0 {
				return "nested <"
			}
			depth++
		case '>':
			// A bare '>' is only allowed as a quote marker at a line start.
			if depth == 0 && i > 0 && s[i-1] != '\n' {
				return "stray >"
			}
			if depth > 0 {
				depth--
			}
		case '&':
			rest := s[i:]
			if !strings.HasPrefix(rest, "&amp;") && !strings.HasPrefix(rest, "&lt;") && !strings.HasPrefix(rest, "&gt;") {
				return "bare &"
			}
		}
	}
	if depth != 0 {
		return "unclosed <"
	}
	return ""
}

func assertLimits(t testing.TB, bs []slack.Block) {
	t.Helper()
	for _, e := range limitErrors(bs) {
		t.Error(e)
	}
}

// The checker itself must catch what it claims to.
func TestLimitErrorsCatchesViolations(t *testing.T) {
	long := strings.Repeat("x", maxSectionText+1)
	fields := make([]*slack.TextBlockObject, maxFields+1)
	for i := range fields {
		fields[i] = slack.NewTextBlockObject(slack.MarkdownType, "f", false, false)
	}
	tests := map[string][]slack.Block{
		"long section": {slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, long, false, false), nil, nil)},
		"many fields":  {slack.NewSectionBlock(nil, fields, nil)},
		"open token":   {slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "a <http://x|b", false, false), nil, nil)},
		"bare amp":     {slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "a & b", false, false), nil, nil)},
		"empty text":   {slack.NewContextBlock("c", slack.NewTextBlockObject(slack.MarkdownType, "", false, false))},
		"long button": {slack.NewActionBlock("a", slack.NewButtonBlockElement("x", "v",
			slack.NewTextBlockObject(slack.PlainTextType, strings.Repeat("b", maxButtonText+1), false, false)))},
		"dup block id": {
			slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "a", false, false), nil, nil, slack.SectionBlockOptionBlockID("x")),
			slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "b", false, false), nil, nil, slack.SectionBlockOptionBlockID("x")),
		},
		"too many blocks": func() []slack.Block {
			var bs []slack.Block
			for range maxBlocks + 1 {
				bs = append(bs, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "a", false, false), nil, nil))
			}
			return bs
		}(),
		"long placeholder": {slack.NewActionBlock("a", slack.NewOptionsSelectBlockElement(slack.OptTypeStatic,
			slack.NewTextBlockObject(slack.PlainTextType, strings.Repeat("p", maxPlaceholder+1), false, false), "x",
			slack.NewOptionBlockObject("v", slack.NewTextBlockObject(slack.PlainTextType, "t", false, false), nil)))},
		"duplicate option value": {slack.NewActionBlock("a", slack.NewOptionsSelectBlockElement(slack.OptTypeStatic,
			slack.NewTextBlockObject(slack.PlainTextType, "p", false, false), "x",
			slack.NewOptionBlockObject("v", slack.NewTextBlockObject(slack.PlainTextType, "t", false, false), nil),
			slack.NewOptionBlockObject("v", slack.NewTextBlockObject(slack.PlainTextType, "u", false, false), nil)))},
		"foreign initial option": {slack.NewActionBlock("a", slack.NewOptionsSelectBlockElement(slack.OptTypeStatic,
			slack.NewTextBlockObject(slack.PlainTextType, "p", false, false), "x",
			slack.NewOptionBlockObject("v", slack.NewTextBlockObject(slack.PlainTextType, "t", false, false), nil)).
			WithInitialOption(slack.NewOptionBlockObject("w", slack.NewTextBlockObject(slack.PlainTextType, "t", false, false), nil)))},
		"long option value": {slack.NewActionBlock("a", slack.NewOptionsSelectBlockElement(slack.OptTypeStatic,
			slack.NewTextBlockObject(slack.PlainTextType, "p", false, false), "x",
			slack.NewOptionBlockObject(strings.Repeat("v", maxOptionValue+1), slack.NewTextBlockObject(slack.PlainTextType, "t", false, false), nil)))},
		"external without min query": {slack.NewActionBlock("a", slack.NewOptionsSelectBlockElement(slack.OptTypeExternal,
			slack.NewTextBlockObject(slack.PlainTextType, "p", false, false), "x"))},
		"long block id": {slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "a", false, false), nil, nil,
			slack.SectionBlockOptionBlockID(strings.Repeat("i", maxBlockID+1)))},
	}
	for name, bs := range tests {
		t.Run(name, func(t *testing.T) {
			if errs := limitErrors(bs); len(errs) == 0 {
				t.Error("no violation reported")
			}
		})
	}
}

func TestBuildersEnforceLimits(t *testing.T) {
	huge := strings.Repeat("é", 10000)
	fields := make([]string, 15)
	for i := range fields {
		fields[i] = huge
	}
	var texts []string
	for range 15 {
		texts = append(texts, huge)
	}
	id := strings.Repeat("i", 1000)
	opts := make([]*slack.OptionBlockObject, 150)
	for i := range opts {
		opts[i] = option(strconv.Itoa(i)+huge, huge)
	}
	bs := []slack.Block{
		section("1"+id, huge, fields...),
		contextBlock("2"+id, texts...),
		actions("3"+id, button(id, huge, huge, slack.StylePrimary), staticSelect(id, huge, opts...), externalSelect(id, huge, 0)),
	}
	assertLimits(t, bs)
	if got := len(bs[0].(*slack.SectionBlock).Fields); got != maxFields {
		t.Errorf("fields = %d, want %d", got, maxFields)
	}
	if got := len(bs[1].(*slack.ContextBlock).ContextElements.Elements); got != maxContextElems {
		t.Errorf("context elements = %d, want %d", got, maxContextElems)
	}

	if got := len(bs[2].(*slack.ActionBlock).Elements.ElementSet[1].(*slack.SelectBlockElement).Options); got != maxSelectOpts {
		t.Errorf("select options = %d, want %d", got, maxSelectOpts)
	}

	o := option(huge, huge)
	if n := utf8.RuneCountInString(o.Text.Text); n != maxOptionText {
		t.Errorf("option text = %d chars, want %d", n, maxOptionText)
	}
	if n := utf8.RuneCountInString(o.Value); n != maxOptionValue {
		t.Errorf("option value = %d chars, want %d", n, maxOptionValue)
	}
	if got := section("s", "").Text; got != nil {
		t.Errorf("empty section text = %+v, want none", got)
	}
	if got := contextBlock("c", "").ContextElements.Elements[0].(*slack.TextBlockObject).Text; got != " " {
		t.Errorf("empty context text = %q, want a single space", got)
	}
}

func TestCapBlocks(t *testing.T) {
	for _, n := range []int{0, 1, maxBlocks, maxBlocks + 1, 200} {
		bs := make([]slack.Block, n)
		for i := range bs {
			bs[i] = slack.NewDividerBlock()
		}
		got := capBlocks(bs)
		if want := min(n, maxBlocks); len(got) != want {
			t.Errorf("capBlocks(%d) = %d blocks, want %d", n, len(got), want)
		}
	}
}
