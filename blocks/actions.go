package blocks

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"sentrybot/sentry"
)

// Action ids are stable: other code routes clicks and menu choices by them.
// Buttons carry the issue id as their value; menus carry their choice, and
// the issue id is read from the actions block's id (IssueIDFromBlockID).
const (
	ActionResolve   = "sentry.issue.resolve"    // button
	ActionResolveIn = "sentry.issue.resolve_in" // static select of ResolveIn* values
	ActionUnresolve = "sentry.issue.unresolve"  // button
	ActionArchive   = "sentry.issue.archive"    // static select of Archive* values
	ActionUnarchive = "sentry.issue.unarchive"  // button
	ActionAssign    = "sentry.issue.assign"     // external select; options from AssigneeOptions
)

// Values of the "Resolve in…" menu.
const (
	ResolveInNextRelease    = "next_release"
	ResolveInCurrentRelease = "current_release"
)

// Values of the "Archive…" menu; ParseArchiveChoice reads them back.
const (
	ArchiveUntilEscalating = "until_escalating"
	ArchiveForever         = "forever"
	ArchiveFor1Hour        = "for:60"
	ArchiveFor1Day         = "for:1440"
	ArchiveFor1Week        = "for:10080"
	ArchiveUntil10         = "count:10"
	ArchiveUntil100        = "count:100"
	ArchiveUntil1000       = "count:1000"
)

// ArchiveChoice is one way to archive an issue; exactly one field is set.
type ArchiveChoice struct {
	UntilEscalating bool
	Forever         bool
	For             time.Duration // archive for this long
	Count           int           // archive until this many more events
}

type archiveOption struct {
	value, label string
	choice       ArchiveChoice
}

// archiveOptions is the one list both the menu and the parser read, so a
// value can only be accepted if the menu offers it.
func archiveOptions() []archiveOption {
	return []archiveOption{
		{ArchiveUntilEscalating, "Until escalating", ArchiveChoice{UntilEscalating: true}},
		{ArchiveForever, "Forever", ArchiveChoice{Forever: true}},
		{ArchiveFor1Hour, "For 1 hour", ArchiveChoice{For: time.Hour}},
		{ArchiveFor1Day, "For 1 day", ArchiveChoice{For: 24 * time.Hour}},
		{ArchiveFor1Week, "For 1 week", ArchiveChoice{For: 7 * 24 * time.Hour}},
		{ArchiveUntil10, "Until 10 more events", ArchiveChoice{Count: 10}},
		{ArchiveUntil100, "Until 100 more events", ArchiveChoice{Count: 100}},
		{ArchiveUntil1000, "Until 1,000 more events", ArchiveChoice{Count: 1000}},
	}
}

// ParseArchiveChoice reads a value of the "Archive…" menu. Only the exact
// values the menu offers are accepted: the value arrives from the client.
func ParseArchiveChoice(v string) (ArchiveChoice, error) {
	for _, o := range archiveOptions() {
		if v == o.value {
			return o.choice, nil
		}
	}
	return ArchiveChoice{}, fmt.Errorf("archive choice %q is not one the card offers", clip(strings.ToValidUTF8(v, "\uFFFD"), 40))
}

// IssueIDFromBlockID reads the issue id back from an issue card's actions
// block id. An id that fills the whole block id may have been cut to fit,
// so it is refused rather than returned wrong.
func IssueIDFromBlockID(blockID string) (string, bool) {
	id, ok := strings.CutPrefix(blockID, BlockActions)
	if !ok || id == "" || utf8.RuneCountInString(blockID) >= maxBlockID {
		return "", false
	}
	return id, true
}

// issueActions offers what makes sense in the issue's state, each choice
// one click (buttons) or two (menus). A status this package does not know
// gets the unresolved controls; Sentry refuses a change that does not apply.
func issueActions(is sentry.Issue) *slack.ActionBlock {
	var els []slack.BlockElement
	switch is.Status {
	case sentry.StatusResolved:
		els = []slack.BlockElement{unresolveControl(is.ID), archiveControl(), assignControl(is.AssignedTo)}
	case sentry.StatusIgnored:
		els = []slack.BlockElement{unarchiveControl(is.ID), resolveControl(is.ID), assignControl(is.AssignedTo)}
	default:
		els = []slack.BlockElement{resolveControl(is.ID), resolveInControl(), archiveControl(), assignControl(is.AssignedTo)}
	}
	return actions(blockID(BlockActions, is.ID), els...)
}

func resolveControl(issueID string) slack.BlockElement {
	return button(ActionResolve, "Resolve", issueID, slack.StylePrimary)
}

func unresolveControl(issueID string) slack.BlockElement {
	return button(ActionUnresolve, "Unresolve", issueID, "")
}

func unarchiveControl(issueID string) slack.BlockElement {
	return button(ActionUnarchive, "Unarchive", issueID, "")
}

func resolveInControl() slack.BlockElement {
	return staticSelect(ActionResolveIn, "Resolve in…",
		option(ResolveInNextRelease, "Next release"),
		option(ResolveInCurrentRelease, "Current release"),
	)
}

// archiveControl is one flat menu: every label names its condition fully,
// so groups would only add height.
func archiveControl() slack.BlockElement {
	os := archiveOptions()
	opts := make([]*slack.OptionBlockObject, 0, len(os))
	for _, o := range os {
		opts = append(opts, option(o.value, o.label))
	}
	return staticSelect(ActionArchive, "Archive…", opts...)
}

// assignControl loads its options through block_suggestion; with no typed
// text (min_query_length 0) the first list appears on open.
func assignControl(a *sentry.Assignee) slack.BlockElement {
	s := externalSelect(ActionAssign, "Assign…", 0)
	s.InitialOption = assigneeOption(a)
	return s
}

// assigneeOption is the current assignee as a menu option, or nil when it
// cannot be named as a Sentry actor without cutting its value.
func assigneeOption(a *sentry.Assignee) *slack.OptionBlockObject {
	if a == nil || (a.Type != "user" && a.Type != "team") {
		return nil
	}
	actor := a.Type + ":" + a.ID
	if !validActor(actor) {
		return nil
	}
	label := oneLine(a.Name)
	if a.Type == "team" {
		if label == "" {
			label = oneLine(a.ID)
		}
		label = "#" + strings.TrimPrefix(label, "#")
	} else {
		if label == "" {
			label = oneLine(a.Email)
		}
		if label == "" {
			label = a.ID
		}
	}
	return option(actor, label)
}
