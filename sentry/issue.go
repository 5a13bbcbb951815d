// Package sentry is a small client for the parts of Sentry's Web API that
// sentrybot uses. Types follow Sentry's published OpenAPI description
// (getsentry/sentry-api-schema): counts that Sentry sends as strings stay
// strings, and fields the schema marks nullable are pointers.
package sentry

import (
	"bytes"
	"encoding/json"
	"time"
)

// Issue is a Sentry issue ("group") as the org-scoped issue endpoint returns it.
type Issue struct {
	ID            string          `json:"id"`
	ShortID       string          `json:"shortId"`
	Title         string          `json:"title"`
	Culprit       *string         `json:"culprit"`
	Permalink     string          `json:"permalink"`
	Level         string          `json:"level"`
	Status        string          `json:"status"`
	StatusDetails json.RawMessage `json:"statusDetails,omitempty"`
	Substatus     *string         `json:"substatus"`
	Platform      *string         `json:"platform"`
	Priority      *string         `json:"priority"`
	Project       Project         `json:"project"`
	Type          string          `json:"type"`
	IssueType     string          `json:"issueType"`
	IssueCategory string          `json:"issueCategory"`
	Metadata      Metadata        `json:"metadata"`
	AssignedTo    *Assignee       `json:"assignedTo"`
	// Count is the number of events. Sentry sends it as a string ("150").
	Count        string     `json:"count"`
	UserCount    int        `json:"userCount"`
	FirstSeen    *time.Time `json:"firstSeen"`
	LastSeen     *time.Time `json:"lastSeen"`
	FirstRelease *Release   `json:"firstRelease"`
	LastRelease  *Release   `json:"lastRelease"`
	Stats        Stats      `json:"stats"`
	NumComments  int        `json:"numComments"`
	IsUnhandled  bool       `json:"isUnhandled"`
}

// Project is the short project record embedded in an issue.
type Project struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Slug     string `json:"slug"`
	Platform string `json:"platform,omitempty"`
}

// Metadata carries the error type and value for error issues.
type Metadata struct {
	Title    string `json:"title,omitempty"`
	Type     string `json:"type,omitempty"`
	Value    string `json:"value,omitempty"`
	Filename string `json:"filename,omitempty"`
	Function string `json:"function,omitempty"`
}

// Assignee is the user or team an issue is assigned to.
type Assignee struct {
	Type  string `json:"type"` // "user" or "team"
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
}

// Release is the short release record embedded in an issue.
type Release struct {
	Version      string     `json:"version"`
	ShortVersion string     `json:"shortVersion,omitempty"`
	DateCreated  *time.Time `json:"dateCreated,omitempty"`
	DateReleased *time.Time `json:"dateReleased,omitempty"`
}

// Stats holds event-count time series keyed by period ("24h", "30d").
type Stats struct {
	Day   []StatPoint `json:"24h,omitempty"`
	Month []StatPoint `json:"30d,omitempty"`
}

// StatPoint is one [unix seconds, count] pair of a time series.
type StatPoint struct {
	Time  int64
	Count int64
}

// UnmarshalJSON decodes the two-element array form Sentry uses. An issue
// carries about 50 points, so the usual form, two integers, is read
// directly; anything else goes through encoding/json.
func (p *StatPoint) UnmarshalJSON(b []byte) error {
	if t, c, ok := parseIntPair(b); ok {
		p.Time, p.Count = t, c
		return nil
	}
	var pair [2]float64
	if err := json.Unmarshal(b, &pair); err != nil {
		return err
	}
	p.Time, p.Count = int64(pair[0]), int64(pair[1])
	return nil
}

// parseIntPair reads `[a, b]` where a and b are JSON integers, with
// optional whitespace. It reports false for any other input.
func parseIntPair(b []byte) (a, c int64, ok bool) {
	b = trimJSONSpace(b)
	if len(b) < 5 || b[0] != '[' || b[len(b)-1] != ']' {
		return 0, 0, false
	}
	first, rest, found := bytes.Cut(b[1:len(b)-1], []byte{','})
	if !found {
		return 0, 0, false
	}
	a, ok1 := parseJSONInt(trimJSONSpace(first))
	c, ok2 := parseJSONInt(trimJSONSpace(rest))
	return a, c, ok1 && ok2
}

// parseJSONInt parses a JSON integer: an optional minus sign, then digits
// without a leading zero. It reports false for anything else, including
// values that do not fit an int64.
func parseJSONInt(b []byte) (int64, bool) {
	digits := b
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 18 || (digits[0] == '0' && len(digits) > 1) {
		return 0, false
	}
	var n int64
	for _, d := range digits {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int64(d-'0')
	}
	if len(digits) < len(b) {
		n = -n
	}
	return n, true
}

func trimJSONSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// MarshalJSON encodes the point as Sentry does: [time, count].
func (p StatPoint) MarshalJSON() ([]byte, error) {
	return json.Marshal([2]int64{p.Time, p.Count})
}

// Issue statuses as Sentry reports them.
const (
	StatusUnresolved = "unresolved"
	StatusResolved   = "resolved"
	StatusIgnored    = "ignored" // shown as "Archived" in Sentry's UI
)

// Issue substatuses as Sentry reports them.
const (
	SubstatusNew                       = "new"
	SubstatusOngoing                   = "ongoing"
	SubstatusEscalating                = "escalating"
	SubstatusRegressed                 = "regressed"
	SubstatusArchivedUntilEscalating   = "archived_until_escalating"
	SubstatusArchivedUntilConditionMet = "archived_until_condition_met"
	SubstatusArchivedForever           = "archived_forever"
)
