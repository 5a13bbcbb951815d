package blocks

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// Block ids of help and notices.
const (
	BlockHelpIntro    = "help_intro"
	BlockHelpCommands = "help_commands:" // followed by the section number, from 1
	BlockNotice       = "notice"
)

const (
	usageMax   = 150
	exampleMax = 150
	summaryMax = 300
	codeMax    = 200 // inline code spans built by InlineCode
)

// CommandHelp describes one command for Help.
type CommandHelp struct {
	Usage   string // "/sentry search <query>"
	Example string // "/sentry search level:error"; may be empty
	Summary string // "Find issues"; plain text
}

// Help renders an optional intro (mrkdwn written by the caller) and one line
// per command: `usage` — summary, e.g. `example`. Lines are packed into as
// few sections as the text limit allows. Commands without a usage are
// skipped.
func Help(commands []CommandHelp, intro string) []slack.Block {
	var bs []slack.Block
	if intro = strings.ToValidUTF8(intro, "\uFFFD"); strings.TrimSpace(intro) != "" {
		bs = append(bs, section(BlockHelpIntro, intro))
	}
	var lines []string
	for _, c := range commands {
		if l := helpLine(c); l != "" {
			lines = append(lines, l)
		}
	}
	for i, text := range pack(lines, maxSectionText) {
		bs = append(bs, section(BlockHelpCommands+strconv.Itoa(i+1), text))
	}
	return capBlocks(bs)
}

func helpLine(c CommandHelp) string {
	usage := inlineCode(c.Usage, usageMax)
	if usage == "" {
		return ""
	}
	line := usage
	summary := strings.TrimRight(oneLine(c.Summary), ".")
	if summary != "" {
		line += " — " + truncateMrkdwn(escape(summary), summaryMax)
	}
	if ex := inlineCode(c.Example, exampleMax); ex != "" {
		if summary != "" {
			line += ","
		} else {
			line += " —"
		}
		line += " e.g. " + ex
	}
	return line
}

// pack joins lines with newlines into as few texts of at most max runes as
// it can, in order. Every line is already shorter than max.
func pack(lines []string, max int) []string {
	var out []string
	var cur strings.Builder
	n := 0
	for _, l := range lines {
		ln := utf8.RuneCountInString(l)
		if n > 0 && n+1+ln > max {
			out = append(out, cur.String())
			cur.Reset()
			n = 0
		}
		if n > 0 {
			cur.WriteByte('\n')
			n++
		}
		cur.WriteString(l)
		n += ln
	}
	if n > 0 {
		out = append(out, cur.String())
	}
	return out
}

// Notice is a short reply, usually ephemeral: one section of mrkdwn written
// by the caller (use Escape and InlineCode for anything a user typed), cut
// to the section limit.
func Notice(text string) []slack.Block {
	text = strings.ToValidUTF8(text, "\uFFFD")
	if strings.TrimSpace(text) == "" {
		text = " "
	}
	return []slack.Block{section(BlockNotice, text)}
}

// Escape makes text safe to put in mrkdwn: Slack's three escapes, and
// invalid UTF-8 replaced.
func Escape(s string) string {
	return escape(strings.ToValidUTF8(s, "\uFFFD"))
}

// InlineCode shows s as `code` on one line: escaped, backticks (which would
// end the span) turned into quotes, and cut to 200 characters. Blank s
// gives "".
func InlineCode(s string) string {
	return inlineCode(s, codeMax)
}

func inlineCode(s string, max int) string {
	s = strings.ReplaceAll(oneLine(s), "`", "'")
	if s == "" {
		return ""
	}
	return "`" + truncateMrkdwn(escape(s), max) + "`"
}
