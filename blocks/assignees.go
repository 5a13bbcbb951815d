package blocks

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// Values of the "Assign…" menu besides actors. AssignMe is the value of the
// caller's own option: the handler resolves it to whoever clicks, so the
// option never carries another person's id. AssignNobody is Unassign.
const (
	AssignMe     = "me"
	AssignNobody = "unassign"
)

// Assignable is someone an issue can be assigned to.
type Assignable struct {
	Actor string // "user:<sentry user id>" or "team:<sentry team id>"
	Label string // "Alice Smith (alice@x.io)" or "#payments"
}

// AssigneeQuery is one block_suggestion for the "Assign…" menu.
type AssigneeQuery struct {
	Typed      string      // what the user has typed so far
	Me         *Assignable // the caller's linked Sentry user; nil when not linked
	Assigned   bool        // the issue has an assignee, so Unassign is offered
	Candidates []Assignable
}

// AssigneeOptions answers a block_suggestion: the caller first, then
// Unassign, then matching users and teams (users first, each in input
// order). Matching is a case-insensitive substring of the label or the id;
// a leading '@' or spaces in the typed text are ignored. Candidates whose
// actor is malformed or too long for an option value are left out rather
// than cut: a cut value would name someone else.
func AssigneeOptions(q AssigneeQuery) []*slack.OptionBlockObject {
	typed := strings.ToLower(strings.TrimPrefix(oneLine(q.Typed), "@"))
	var opts []*slack.OptionBlockObject
	seen := map[string]bool{}
	add := func(value, label string) {
		if len(opts) < maxSelectOpts && !seen[value] {
			seen[value] = true
			opts = append(opts, option(value, label))
		}
	}

	if me := q.Me; me != nil && validActor(me.Actor) {
		label := oneLine(me.Label)
		if matches(typed, AssignMe, label, actorID(me.Actor)) {
			text := "Me"
			if label != "" {
				// Cut the label, not the whole text, so the parenthesis closes.
				text = "Me (" + truncatePlain(label, maxOptionText-len("Me ()")) + ")"
			}
			add(AssignMe, text)
			seen[me.Actor] = true // not listed a second time as a candidate
		}
	}
	if q.Assigned && matches(typed, AssignNobody) {
		add(AssignNobody, "Unassign")
	}
	for _, kind := range [...]string{"user:", "team:"} {
		for _, c := range q.Candidates {
			if !strings.HasPrefix(c.Actor, kind) || !validActor(c.Actor) {
				continue
			}
			label := oneLine(c.Label)
			if !matches(typed, label, actorID(c.Actor)) {
				continue
			}
			if label == "" {
				label = c.Actor
			}
			add(c.Actor, label)
		}
	}
	return opts
}

// matches reports whether typed (already lower case) is empty or found in
// any of the words.
func matches(typed string, words ...string) bool {
	if typed == "" {
		return true
	}
	for _, w := range words {
		if strings.Contains(strings.ToLower(w), typed) {
			return true
		}
	}
	return false
}

// validActor accepts "user:<id>" and "team:<id>" with a printable id, short
// enough to be an option value whole.
func validActor(actor string) bool {
	kind, id, ok := strings.Cut(actor, ":")
	if !ok || (kind != "user" && kind != "team") || id == "" {
		return false
	}
	if !utf8.ValidString(actor) || utf8.RuneCountInString(actor) > maxOptionValue {
		return false
	}
	return strings.IndexFunc(id, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) < 0
}

func actorID(actor string) string {
	_, id, _ := strings.Cut(actor, ":")
	return id
}

// suggestionResponse is the ack payload for a block_suggestion. Options has
// no omitempty: Slack expects a list, empty when nothing matches.
type suggestionResponse struct {
	Options []*slack.OptionBlockObject `json:"options"`
}

// SuggestionResponse wraps options as the ack payload Slack expects for a
// block_suggestion: {"options":[…]}, never null, at most 100 options.
func SuggestionResponse(opts []*slack.OptionBlockObject) any {
	out := make([]*slack.OptionBlockObject, 0, min(len(opts), maxSelectOpts))
	for _, o := range opts {
		if o != nil && len(out) < maxSelectOpts {
			out = append(out, o)
		}
	}
	return suggestionResponse{Options: out}
}
