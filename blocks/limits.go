package blocks

import (
	"github.com/slack-go/slack"
)

// Block Kit limits, from Slack's Block Kit reference
// (docs.slack.dev/reference/block-kit: blocks, block elements, composition
// objects). slack-go checks almost none of them and Slack rejects the whole
// message when one is exceeded, so every text built here passes through the
// constructors below.
const (
	maxBlocks       = 50   // blocks per message
	maxHeaderText   = 150  // header block text
	maxSectionText  = 3000 // section block text
	maxFields       = 10   // section fields
	maxFieldText    = 2000 // each section field
	maxContextElems = 10   // context block elements
	maxContextText  = 3000 // a text object in a context block
	maxButtonText   = 75   // button label
	maxOptionText   = 75   // option label
	maxOptionValue  = 150  // option value
	maxPlaceholder  = 150  // select menu placeholder
	maxSelectOpts   = 100  // options of a static select or of a block_suggestion answer
	maxActionID     = 255  // action_id
	maxBlockID      = 255  // block_id
	maxButtonValue  = 2000 // button value
	maxActionsElems = 25   // elements in an actions block
)

// mrkdwnText builds a mrkdwn text object cut to max characters without
// breaking a link, token or entity.
func mrkdwnText(s string, max int) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, nonEmpty(truncateMrkdwn(s, max)), false, false)
}

// plainText builds a plain_text object (emoji shortcodes enabled) cut to max.
func plainText(s string, max int) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, nonEmpty(truncatePlain(s, max)), true, false)
}

// nonEmpty keeps text objects valid: Slack rejects empty text.
func nonEmpty(s string) string {
	if s == "" {
		return " "
	}
	return s
}

// blockID joins a prefix and an issue id, cutting the id so the result fits.
// Ids are cut without an ellipsis: they are keys, not prose.
func blockID(prefix, id string) string {
	return clip(prefix+id, maxBlockID)
}

// section builds a section block with mrkdwn text and up to maxFields fields.
func section(id, text string, fields ...string) *slack.SectionBlock {
	var t *slack.TextBlockObject
	if text != "" {
		t = mrkdwnText(text, maxSectionText)
	}
	if len(fields) > maxFields {
		fields = fields[:maxFields]
	}
	var fs []*slack.TextBlockObject
	for _, f := range fields {
		fs = append(fs, mrkdwnText(f, maxFieldText))
	}
	return slack.NewSectionBlock(t, fs, nil, slack.SectionBlockOptionBlockID(clip(id, maxBlockID)))
}

// contextBlock builds a context block of mrkdwn texts.
func contextBlock(id string, texts ...string) *slack.ContextBlock {
	if len(texts) > maxContextElems {
		texts = texts[:maxContextElems]
	}
	els := make([]slack.MixedElement, 0, len(texts))
	for _, t := range texts {
		els = append(els, mrkdwnText(t, maxContextText))
	}
	return slack.NewContextBlock(clip(id, maxBlockID), els...)
}

// actions builds an actions block.
func actions(id string, els ...slack.BlockElement) *slack.ActionBlock {
	if len(els) > maxActionsElems {
		els = els[:maxActionsElems]
	}
	return slack.NewActionBlock(clip(id, maxBlockID), els...)
}

// button builds a button; style may be "" for the default look.
func button(actionID, label, value string, style slack.Style) *slack.ButtonBlockElement {
	b := slack.NewButtonBlockElement(clip(actionID, maxActionID), clip(value, maxButtonValue), plainText(label, maxButtonText))
	if style != "" {
		b = b.WithStyle(style)
	}
	return b
}

// option builds a select or overflow option.
func option(value, label string) *slack.OptionBlockObject {
	return slack.NewOptionBlockObject(clip(value, maxOptionValue), plainText(label, maxOptionText), nil)
}

// staticSelect builds a select menu with a fixed list of options.
func staticSelect(actionID, placeholder string, opts ...*slack.OptionBlockObject) *slack.SelectBlockElement {
	if len(opts) > maxSelectOpts {
		opts = opts[:maxSelectOpts]
	}
	return slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plainText(placeholder, maxPlaceholder), clip(actionID, maxActionID), opts...)
}

// externalSelect builds a select menu whose options Slack asks the app for
// (a block_suggestion) once minQuery characters are typed.
func externalSelect(actionID, placeholder string, minQuery int) *slack.SelectBlockElement {
	s := slack.NewOptionsSelectBlockElement(slack.OptTypeExternal, plainText(placeholder, maxPlaceholder), clip(actionID, maxActionID))
	s.MinQueryLength = &minQuery
	return s
}

// capBlocks is the last step of every renderer: Slack refuses a message with
// more than maxBlocks blocks.
func capBlocks(bs []slack.Block) []slack.Block {
	if len(bs) > maxBlocks {
		return bs[:maxBlocks]
	}
	return bs
}
