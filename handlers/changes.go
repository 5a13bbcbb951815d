package handlers

import (
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"sentrybot/authz"
	"sentrybot/blocks"
	"sentrybot/sentry"
)

// The changes a card or a command can ask for. Each knows its Sentry update,
// its authorization action and how the card's footer says it.

// ResolveNow resolves an issue immediately.
func ResolveNow() Change {
	return Change{Action: authz.ActionResolve, Update: sentry.Resolve(), Done: "Resolved", Detail: "status=resolved"}
}

// ResolveInNextRelease resolves an issue in the project's next release.
func ResolveInNextRelease() Change {
	return Change{Action: authz.ActionResolve, Update: sentry.ResolveInNextRelease(), Done: "Resolved in the next release", Detail: "status=resolved inNextRelease"}
}

// ResolveInCurrentRelease resolves an issue in the latest release.
func ResolveInCurrentRelease() Change {
	return Change{Action: authz.ActionResolve, Update: sentry.ResolveInCurrentRelease(), Done: "Resolved in the current release", Detail: "status=resolved inRelease=latest"}
}

// Unresolve reopens a resolved issue.
func Unresolve() Change {
	return Change{Action: authz.ActionUnresolve, Update: sentry.Unresolve(), Done: "Reopened", Detail: "status=unresolved"}
}

// Unarchive brings an archived issue back.
func Unarchive() Change {
	return Change{Action: authz.ActionUnarchive, Update: sentry.Unresolve(), Done: "Unarchived", Detail: "status=unresolved"}
}

// Archive archives an issue as the choice says.
func Archive(c blocks.ArchiveChoice) (Change, error) {
	switch {
	case c.UntilEscalating:
		return Change{Action: authz.ActionArchive, Update: sentry.ArchiveUntilEscalating(), Done: "Archived until escalating", Detail: "status=ignored substatus=archived_until_escalating"}, nil
	case c.Forever:
		return Change{Action: authz.ActionArchive, Update: sentry.ArchiveForever(), Done: "Archived forever", Detail: "status=ignored substatus=archived_forever"}, nil
	case c.For > 0:
		return Change{Action: authz.ActionArchive, Update: sentry.ArchiveFor(c.For), Done: "Archived for " + humanDuration(c.For),
			Detail: fmt.Sprintf("status=ignored ignoreDuration=%d", int(c.For/time.Minute))}, nil
	case c.Count > 0:
		return Change{Action: authz.ActionArchive, Update: sentry.ArchiveUntilCount(c.Count), Done: fmt.Sprintf("Archived until %d more events", c.Count),
			Detail: fmt.Sprintf("status=ignored ignoreCount=%d", c.Count)}, nil
	}
	return Change{}, fmt.Errorf("archive: no condition chosen")
}

// AssignMe assigns the issue to the acting user's linked Sentry user.
func AssignMe() Change {
	return Change{Action: authz.ActionAssign, Done: "Assigned to themselves", Me: true}
}

// AssignTo assigns the issue to a Sentry actor ("user:<id>" or
// "team:<id>"); label names them on the card.
func AssignTo(actor, label string) (Change, error) {
	kind, id, ok := strings.Cut(actor, ":")
	if !ok || (kind != "user" && kind != "team") || !isIssueID(id) {
		return Change{}, fmt.Errorf("assign: %q is not a Sentry user or team", actor)
	}
	return Change{Action: authz.ActionAssign, Update: sentry.AssignTo(actor), Done: "Assigned to " + label, Detail: "assignedTo=" + actor}, nil
}

// Unassign clears the issue's assignee.
func Unassign() Change {
	return Change{Action: authz.ActionUnassign, Update: sentry.Unassign(), Done: "Unassigned", Detail: "assignedTo="}
}

// ChangeFromAction reads the change a card's button or menu asks for. Menu
// values are checked against what the card offers, never trusted as given.
func ChangeFromAction(a *slack.BlockAction) (Change, error) {
	switch a.ActionID {
	case blocks.ActionResolve:
		return ResolveNow(), nil
	case blocks.ActionResolveIn:
		switch a.SelectedOption.Value {
		case blocks.ResolveInNextRelease:
			return ResolveInNextRelease(), nil
		case blocks.ResolveInCurrentRelease:
			return ResolveInCurrentRelease(), nil
		}
		return Change{}, fmt.Errorf("resolve in: unknown choice %q", a.SelectedOption.Value)
	case blocks.ActionUnresolve:
		return Unresolve(), nil
	case blocks.ActionArchive:
		choice, err := blocks.ParseArchiveChoice(a.SelectedOption.Value)
		if err != nil {
			return Change{}, err
		}
		return Archive(choice)
	case blocks.ActionUnarchive:
		return Unarchive(), nil
	case blocks.ActionAssign:
		v := a.SelectedOption.Value
		switch v {
		case blocks.AssignMe:
			return AssignMe(), nil
		case blocks.AssignNobody:
			return Unassign(), nil
		}
		label := a.SelectedOption.Text.Text
		if label == "" {
			label = v
		}
		return AssignTo(v, label)
	}
	return Change{}, fmt.Errorf("unknown action id %q", a.ActionID)
}

func humanDuration(d time.Duration) string {
	switch {
	case d%(7*24*time.Hour) == 0:
		return plural(int(d/(7*24*time.Hour)), "week")
	case d%(24*time.Hour) == 0:
		return plural(int(d/(24*time.Hour)), "day")
	case d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	}
	return plural(int(d/time.Minute), "minute")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
