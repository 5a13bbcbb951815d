package blocks

import (
	"encoding/json"
	"strings"
	"time"

	"sentrybot/sentry"
)

// statusDetails is the union of the statusDetails shapes in Sentry's schema:
// the issue endpoints send inCommit as a string, the bulk-update response as
// an object, so it stays raw until used.
type statusDetails struct {
	InNextRelease    bool            `json:"inNextRelease"`
	InRelease        string          `json:"inRelease"`
	InCommit         json.RawMessage `json:"inCommit"`
	IgnoreDuration   int64           `json:"ignoreDuration"`
	IgnoreUntil      string          `json:"ignoreUntil"`
	IgnoreCount      int64           `json:"ignoreCount"`
	IgnoreWindow     int64           `json:"ignoreWindow"`
	IgnoreUserCount  int64           `json:"ignoreUserCount"`
	IgnoreUserWindow int64           `json:"ignoreUserWindow"`
}

// parseStatusDetails reads what it can; a field of an unexpected type is
// left zero rather than hiding the status.
func parseStatusDetails(raw json.RawMessage) statusDetails {
	var d statusDetails
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &d)
	}
	return d
}

// statusWords renders status and substatus the way Sentry's UI names them
// (sentry.Status*/Substatus* constants), with resolution or archive details.
// The result is escaped mrkdwn (it may hold a date token).
func statusWords(is sentry.Issue) string {
	sub := ""
	if is.Substatus != nil {
		sub = *is.Substatus
	}
	d := parseStatusDetails(is.StatusDetails)
	switch is.Status {
	case sentry.StatusUnresolved:
		switch sub {
		case "":
			return "Unresolved"
		case sentry.SubstatusNew:
			return "New"
		case sentry.SubstatusOngoing:
			return "Ongoing"
		case sentry.SubstatusEscalating:
			return "Escalating"
		case sentry.SubstatusRegressed:
			return "Regressed"
		}
		return escape(truncatePlain(titleCase(sub), 60))
	case sentry.StatusResolved:
		return "Resolved" + resolvedDetails(d)
	case sentry.StatusIgnored:
		var words string
		switch sub {
		case "":
			words = "Archived"
		case sentry.SubstatusArchivedUntilEscalating:
			words = "Archived until escalating"
		case sentry.SubstatusArchivedForever:
			words = "Archived forever"
		case sentry.SubstatusArchivedUntilConditionMet:
			words = "Archived until condition met"
		default:
			words = escape(truncatePlain(titleCase(sub), 60))
		}
		if ds := archiveDetails(d); len(ds) > 0 {
			words += " (" + strings.Join(ds, ", ") + ")"
		}
		return words
	case "":
		return "Unknown"
	}
	return escape(truncatePlain(titleCase(is.Status), 60))
}

// resolvedDetails says what the resolution waits for, if anything.
func resolvedDetails(d statusDetails) string {
	switch {
	case d.InNextRelease:
		return " in next release"
	case d.InRelease != "":
		return " in release " + escape(truncatePlain(oneLine(d.InRelease), 100))
	}
	if c := commitName(d.InCommit); c != "" {
		return " in commit " + escape(c)
	}
	return ""
}

// commitName reads inCommit in either shape and shortens a full SHA.
func commitName(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var sha string
	if err := json.Unmarshal(raw, &sha); err != nil {
		var obj struct {
			Commit string `json:"commit"`
		}
		if json.Unmarshal(raw, &obj) != nil {
			return ""
		}
		sha = obj.Commit
	}
	sha = oneLine(sha)
	if len(sha) >= 12 && strings.Trim(sha, "0123456789abcdef") == "" {
		return sha[:7]
	}
	return truncatePlain(sha, 40)
}

// archiveDetails lists the conditions that will bring an archived issue back.
func archiveDetails(d statusDetails) []string {
	var ds []string
	if t, err := time.Parse(time.RFC3339, d.IgnoreUntil); err == nil {
		ds = append(ds, "until "+dateToken(t))
	} else if d.IgnoreDuration > 0 {
		ds = append(ds, "for "+minutes(d.IgnoreDuration))
	}
	if d.IgnoreCount > 0 {
		s := "until " + plural(d.IgnoreCount, "event", "events")
		if d.IgnoreWindow > 0 {
			s += " in " + minutes(d.IgnoreWindow)
		}
		ds = append(ds, s)
	}
	if d.IgnoreUserCount > 0 {
		s := "until " + plural(d.IgnoreUserCount, "user", "users")
		if d.IgnoreUserWindow > 0 {
			s += " in " + minutes(d.IgnoreUserWindow)
		}
		ds = append(ds, s)
	}
	return ds
}
