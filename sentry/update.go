package sentry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// IssueUpdate is the body of PUT /api/0/organizations/{org}/issues/{id}/.
// Sentry changes only the fields that are sent, so every field is optional
// and unset fields are left out of the JSON. Build updates with the
// constructors below (Resolve, ArchiveUntilEscalating, AssignTo...), which
// encode Sentry's rules; UpdateIssue checks the rest with Valid.
type IssueUpdate struct {
	Status string `json:"status,omitempty"` // StatusResolved, StatusUnresolved or StatusIgnored
	// Substatus refines Status. Sentry infers it when it is left out, and
	// infers "archive until escalating" only from an undocumented
	// statusDetails flag, so that mode must be sent explicitly.
	Substatus     string         `json:"substatus,omitempty"`
	StatusDetails *StatusDetails `json:"statusDetails,omitempty"`
	// AssignedTo is "user:<user id>" or "team:<team id>"; a pointer to ""
	// unassigns and nil leaves the assignee alone.
	AssignedTo *string `json:"assignedTo,omitempty"`
}

// StatusDetails qualifies a resolution or an archive.
type StatusDetails struct {
	InNextRelease bool   `json:"inNextRelease,omitempty"`
	InRelease     string `json:"inRelease,omitempty"` // a release version, or "latest" for the project's most recent release
	// Archive conditions: the issue comes back when one is met.
	IgnoreDuration   int `json:"ignoreDuration,omitempty"`   // minutes
	IgnoreCount      int `json:"ignoreCount,omitempty"`      // events, counted from now or within IgnoreWindow
	IgnoreWindow     int `json:"ignoreWindow,omitempty"`     // minutes, at most MaxIgnoreWindow
	IgnoreUserCount  int `json:"ignoreUserCount,omitempty"`  // users, counted from now or within IgnoreUserWindow
	IgnoreUserWindow int `json:"ignoreUserWindow,omitempty"` // minutes, at most MaxIgnoreWindow
}

// MaxIgnoreWindow is the longest ignoreWindow and ignoreUserWindow Sentry
// accepts: one week, in minutes.
const MaxIgnoreWindow = 7 * 24 * 60

// hasCondition reports whether d sets an archive condition.
func (d *StatusDetails) hasCondition() bool {
	return d != nil && (d.IgnoreDuration != 0 || d.IgnoreCount != 0 || d.IgnoreUserCount != 0 ||
		d.IgnoreWindow != 0 || d.IgnoreUserWindow != 0)
}

func (d *StatusDetails) hasRelease() bool {
	return d != nil && (d.InNextRelease || d.InRelease != "")
}

// Resolve marks the issue resolved now. Sentry clears the substatus of a
// resolved issue, so none is sent.
func Resolve() IssueUpdate {
	return IssueUpdate{Status: StatusResolved}
}

// ResolveInNextRelease resolves the issue as of the project's next release,
// so events from the current release do not reopen it. Sentry refuses this
// with a 400 when the project has no release at all: see IsNoReleaseData.
func ResolveInNextRelease() IssueUpdate {
	return IssueUpdate{Status: StatusResolved, StatusDetails: &StatusDetails{InNextRelease: true}}
}

// ResolveInCurrentRelease resolves the issue in the project's most recent
// release ("latest"). Like ResolveInNextRelease it fails with a 400 that
// IsNoReleaseData recognises when the project has no release.
func ResolveInCurrentRelease() IssueUpdate {
	return IssueUpdate{Status: StatusResolved, StatusDetails: &StatusDetails{InRelease: "latest"}}
}

// Unresolve reopens a resolved or archived issue. No substatus is sent on
// purpose: Sentry infers "regressed" for a resolved issue, "new" for an
// archived issue first seen in the last 7 days and "ongoing" otherwise,
// which is more accurate than anything the caller could pick.
func Unresolve() IssueUpdate {
	return IssueUpdate{Status: StatusUnresolved}
}

// ArchiveUntilEscalating archives the issue until Sentry sees it escalate.
// The substatus must be explicit: status "ignored" alone is inferred as
// archived forever.
func ArchiveUntilEscalating() IssueUpdate {
	return IssueUpdate{Status: StatusIgnored, Substatus: SubstatusArchivedUntilEscalating}
}

// ArchiveForever archives the issue with no condition to bring it back.
func ArchiveForever() IssueUpdate {
	return IssueUpdate{Status: StatusIgnored, Substatus: SubstatusArchivedForever}
}

// ArchiveFor archives the issue for d, rounded up to whole minutes (the
// unit Sentry takes). A d below one nanosecond yields an update that Valid
// rejects.
func ArchiveFor(d time.Duration) IssueUpdate {
	minutes := 0
	if d > 0 {
		minutes = int(min(math.Ceil(d.Minutes()), math.MaxInt32))
	}
	return IssueUpdate{
		Status:        StatusIgnored,
		Substatus:     SubstatusArchivedUntilConditionMet,
		StatusDetails: &StatusDetails{IgnoreDuration: minutes},
	}
}

// ArchiveUntilCount archives the issue until it occurs n more times.
// An n below 1 yields an update that Valid rejects.
func ArchiveUntilCount(n int) IssueUpdate {
	return IssueUpdate{
		Status:        StatusIgnored,
		Substatus:     SubstatusArchivedUntilConditionMet,
		StatusDetails: &StatusDetails{IgnoreCount: n},
	}
}

// AssignTo assigns the issue to actor, "user:<user id>" or "team:<team id>".
// Use Member.Actor and Team.Actor to build it: an organization member's id
// is not its user id. A malformed actor yields an update that Valid rejects.
func AssignTo(actor string) IssueUpdate {
	return IssueUpdate{AssignedTo: &actor}
}

// Unassign removes the issue's assignee.
func Unassign() IssueUpdate {
	empty := ""
	return IssueUpdate{AssignedTo: &empty}
}

// Valid reports why Sentry would reject u or silently do something other
// than it says; nil means u is sound.
func (u IssueUpdate) Valid() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if u.Status == "" && u.Substatus == "" && u.StatusDetails == nil && u.AssignedTo == nil {
		add("nothing to update")
	}
	switch u.Status {
	case "", StatusResolved, StatusUnresolved, StatusIgnored:
	default:
		add("unknown status %s", quoteShort(u.Status))
	}
	if u.Status == "" && (u.Substatus != "" || u.StatusDetails != nil) {
		// Sentry ignores both without a status.
		add("substatus and statusDetails need a status")
	}
	if u.Substatus != "" && !substatusFits(u.Status, u.Substatus) {
		add("substatus %s does not go with status %s", quoteShort(u.Substatus), quoteShort(u.Status))
	}
	if d := u.StatusDetails; d != nil {
		if d.hasRelease() && u.Status != StatusResolved {
			add("a release applies only to status resolved")
		}
		if d.InNextRelease && d.InRelease != "" {
			add("inNextRelease and inRelease exclude each other")
		}
		if d.hasCondition() && u.Status != StatusIgnored {
			add("archive conditions apply only to status ignored")
		}
		for _, f := range []struct {
			name  string
			value int
		}{{"ignoreDuration", d.IgnoreDuration}, {"ignoreCount", d.IgnoreCount}, {"ignoreWindow", d.IgnoreWindow},
			{"ignoreUserCount", d.IgnoreUserCount}, {"ignoreUserWindow", d.IgnoreUserWindow}} {
			if f.value < 0 {
				add("%s must not be negative", f.name)
			}
		}
		if d.IgnoreWindow > MaxIgnoreWindow || d.IgnoreUserWindow > MaxIgnoreWindow {
			add("ignore windows are at most %d minutes", MaxIgnoreWindow)
		}
		if d.IgnoreWindow != 0 && d.IgnoreCount == 0 {
			add("ignoreWindow needs ignoreCount")
		}
		if d.IgnoreUserWindow != 0 && d.IgnoreUserCount == 0 {
			add("ignoreUserWindow needs ignoreUserCount")
		}
	}
	switch u.Substatus {
	case SubstatusArchivedUntilConditionMet:
		if !u.StatusDetails.hasCondition() {
			add("archived_until_condition_met needs a positive ignoreDuration, ignoreCount or ignoreUserCount")
		}
	case SubstatusArchivedUntilEscalating, SubstatusArchivedForever:
		if u.StatusDetails.hasCondition() {
			add("%s takes no archive condition", u.Substatus)
		}
	}
	if u.AssignedTo != nil && *u.AssignedTo != "" {
		if _, _, ok := ParseActor(*u.AssignedTo); !ok {
			add("assignee %s is not user:<id> or team:<id>", quoteShort(*u.AssignedTo))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// substatusFits reports whether Sentry's UI would show sub under status.
func substatusFits(status, sub string) bool {
	switch sub {
	case SubstatusArchivedUntilEscalating, SubstatusArchivedUntilConditionMet, SubstatusArchivedForever:
		return status == StatusIgnored
	case SubstatusNew, SubstatusOngoing, SubstatusEscalating, SubstatusRegressed:
		return status == StatusUnresolved
	}
	return false
}

// ParseActor splits an assignee reference, "user:<id>" or "team:<id>", into
// its kind ("user" or "team") and numeric id.
func ParseActor(actor string) (kind, id string, ok bool) {
	kind, id, found := strings.Cut(actor, ":")
	if !found || (kind != "user" && kind != "team") {
		return "", "", false
	}
	if n, err := strconv.ParseUint(id, 10, 63); err != nil || n == 0 || strconv.FormatUint(n, 10) != id {
		return "", "", false
	}
	return kind, id, true
}

// UpdateIssue applies u to an issue through the org-scoped endpoint, after
// checking it with Valid. An issue merged into another answers with a
// redirect, which is not followed for updates: the error has Kind
// KindBadResponse; fetch the issue with Issue to learn its new id.
func (c *Client) UpdateIssue(ctx context.Context, org, issueID string, u IssueUpdate) error {
	const op = "update issue"
	if err := checkSegments(op, org, issueID); err != nil {
		return err
	}
	if err := u.Valid(); err != nil {
		return &Error{Op: op, Kind: KindInvalid, Detail: err.Error()}
	}
	path := "/api/0/organizations/" + url.PathEscape(org) + "/issues/" + url.PathEscape(issueID) + "/"
	_, err := c.do(ctx, op, http.MethodPut, path, nil, u, nil)
	return err
}

// noReleaseData is how Sentry's StatusDetailsValidator starts the message it
// raises for inNextRelease, and for inRelease "latest", when the project has
// no release: "No release data present in the system to form a basis for
// 'Next Release'" (getsentry/sentry,
// src/sentry/api/helpers/group_index/validators/status_details.py). It
// arrives as {"statusDetails": {"inNextRelease": ["..."]}}.
const noReleaseData = "No release data present"

// IsNoReleaseData reports whether err is Sentry refusing a resolution "in
// the next release" or "in the current release" because the project has
// no release yet. Callers should tell the user to resolve without a release
// or to set up releases.
func IsNoReleaseData(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == http.StatusBadRequest && strings.Contains(e.Detail, noReleaseData)
}
