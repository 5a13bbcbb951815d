package blocks

import (
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// PlainText renders blocks as readable plain text, one block after another:
// mrkdwn markup is undone (links become "label (url)", date tokens their
// fallback, entities their characters), fields read "Label: value" one per
// line, and interactive elements show as [Label] (menus as [Label ▾]).
func PlainText(bs []slack.Block) string {
	var lines []string
	for _, b := range bs {
		if s := blockText(b); s != "" {
			lines = append(lines, s)
		}
	}
	return strings.Join(lines, "\n")
}

func blockText(b slack.Block) string {
	switch v := b.(type) {
	case *slack.HeaderBlock:
		return objectText(v.Text)
	case slack.HeaderBlock:
		return objectText(v.Text)
	case *slack.SectionBlock:
		return sectionText(v)
	case slack.SectionBlock:
		return sectionText(&v)
	case *slack.ContextBlock:
		return contextText(v)
	case slack.ContextBlock:
		return contextText(&v)
	case *slack.ActionBlock:
		return actionsText(v)
	case slack.ActionBlock:
		return actionsText(&v)
	case *slack.DividerBlock, slack.DividerBlock:
		return "---"
	case *slack.ImageBlock:
		return "[image: " + v.AltText + "]"
	case nil:
		return ""
	}
	return "[" + string(b.BlockType()) + "]"
}

func sectionText(s *slack.SectionBlock) string {
	var lines []string
	if t := objectText(s.Text); t != "" {
		lines = append(lines, t)
	}
	for _, f := range s.Fields {
		// A field is "label\nvalue"; on one line it reads "label: value".
		if t := objectText(f); t != "" {
			lines = append(lines, strings.ReplaceAll(t, "\n", ": "))
		}
	}
	if s.Accessory != nil {
		if t := accessoryText(s.Accessory); t != "" {
			lines = append(lines, t)
		}
	}
	return strings.Join(lines, "\n")
}

func contextText(c *slack.ContextBlock) string {
	var parts []string
	for _, e := range c.ContextElements.Elements {
		switch v := e.(type) {
		case *slack.TextBlockObject:
			parts = append(parts, objectText(v))
		case slack.TextBlockObject:
			parts = append(parts, objectText(&v))
		case *slack.ImageBlockElement:
			parts = append(parts, "["+v.AltText+"]")
		}
	}
	return strings.Join(parts, "  ")
}

func actionsText(a *slack.ActionBlock) string {
	if a.Elements == nil {
		return ""
	}
	var parts []string
	for _, e := range a.Elements.ElementSet {
		if t := elementText(e); t != "" {
			parts = append(parts, t)
		}
	}
	return strings.Join(parts, " ")
}

func accessoryText(a *slack.Accessory) string {
	switch {
	case a.ButtonElement != nil:
		return elementText(a.ButtonElement)
	case a.OverflowElement != nil:
		return elementText(a.OverflowElement)
	case a.SelectElement != nil:
		return elementText(a.SelectElement)
	case a.ImageElement != nil:
		return "[" + a.ImageElement.AltText + "]"
	}
	return ""
}

// elementText shows a control the way a reader would name it.
func elementText(e slack.BlockElement) string {
	switch v := e.(type) {
	case *slack.ButtonBlockElement:
		return "[" + objectText(v.Text) + "]"
	case *slack.SelectBlockElement:
		// A menu with a chosen option shows the choice, as Slack does.
		if v.InitialOption != nil && v.InitialOption.Text != nil {
			return "[" + objectText(v.InitialOption.Text) + " ▾]"
		}
		return "[" + objectText(v.Placeholder) + " ▾]"
	case *slack.MultiSelectBlockElement:
		return "[" + objectText(v.Placeholder) + " ▾]"
	case *slack.OverflowBlockElement:
		return "[⋯]"
	case nil:
		return ""
	}
	return "[" + string(e.ElementType()) + "]"
}

func objectText(t *slack.TextBlockObject) string {
	if t == nil {
		return ""
	}
	if t.Type == slack.MarkdownType {
		return mrkdwnToPlain(t.Text)
	}
	return t.Text
}

var unescaper = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")

// mrkdwnToPlain undoes the mrkdwn this package writes: bold markers, <…>
// tokens and the three entities.
func mrkdwnToPlain(s string) string {
	s = stripBold(s)
	var b strings.Builder
	for {
		open := strings.IndexByte(s, '<')
		if open < 0 {
			break
		}
		end := strings.IndexByte(s[open:], '>')
		if end < 0 {
			break
		}
		b.WriteString(unescaper.Replace(s[:open]))
		b.WriteString(tokenText(s[open+1 : open+end]))
		s = s[open+end+1:]
	}
	b.WriteString(unescaper.Replace(s))
	return b.String()
}

// tokenText renders the inside of one <…> token
// (docs.slack.dev/messaging/formatting-message-text).
func tokenText(tok string) string {
	body, label, hasLabel := strings.Cut(tok, "|")
	label = unescaper.Replace(label)
	switch {
	case strings.HasPrefix(body, "!date^"):
		if hasLabel {
			return label
		}
		// No fallback: show the timestamp in UTC, as the fallback would.
		ts, _, _ := strings.Cut(strings.TrimPrefix(body, "!date^"), "^")
		if n, err := strconv.ParseInt(ts, 10, 64); err == nil {
			return time.Unix(n, 0).UTC().Format(dateFallbackLayout)
		}
		return ts
	case strings.HasPrefix(body, "!subteam^"):
		if hasLabel {
			return label
		}
		return "@team"
	case strings.HasPrefix(body, "!"):
		return "@" + strings.TrimPrefix(body, "!")
	case strings.HasPrefix(body, "@"), strings.HasPrefix(body, "#"):
		if hasLabel {
			return body[:1] + strings.TrimPrefix(label, body[:1])
		}
		return body
	}
	url := unescaper.Replace(body)
	if !hasLabel || label == url {
		return url
	}
	return label + " (" + url + ")"
}

// stripBold removes *bold* markers that open after a non-word character and
// close before one, as Slack reads them; other asterisks stay.
func stripBold(s string) string {
	if strings.IndexByte(s, '*') < 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '*' || (i > 0 && isWord(s[i-1])) || i+1 >= len(s) || isSpace(s[i+1]) || s[i+1] == '*' {
			continue
		}
		j := closingStar(s, i+1)
		if j < 0 {
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(s[i+1 : j])
		last = j + 1
		i = j
	}
	b.WriteString(s[last:])
	return b.String()
}

// closingStar finds the '*' that closes bold opened before from, on the same
// line, or -1.
func closingStar(s string, from int) int {
	for j := from; j < len(s) && s[j] != '\n'; j++ {
		if s[j] == '*' && !isSpace(s[j-1]) && (j+1 == len(s) || !isWord(s[j+1])) {
			return j
		}
	}
	return -1
}

func isWord(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' }
