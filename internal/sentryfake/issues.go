package sentryfake

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"sentrybot/sentry"
)

// issueTemplate is the issue example of Sentry's OpenAPI description; every
// issue body the fake serves starts from it, so fields sentrybot does not
// model (activity, seenBy, participants, annotations...) are still present.
//
//go:embed examples/issue.json
var issueTemplate []byte

// NewIssue returns a realistic unresolved error issue for the demo and for
// tests: the project comes from the short id's prefix ("BACKEND-1A2" is in
// project "backend"), it was first seen three days ago and last seen a few
// minutes ago, with 42 events from 7 users spread over 24 hourly points.
// The permalink is filled in by AddIssue, which knows the server's URL.
func NewIssue(id, shortID, title string) sentry.Issue {
	now := time.Now().UTC().Truncate(time.Second)
	firstSeen := now.Add(-72 * time.Hour)
	lastSeen := now.Add(-4 * time.Minute)
	culprit := "app.handlers in process_order"
	substatus := sentry.SubstatusOngoing
	priority := "high"
	platform := "python"
	errType, errValue := splitTitle(title)
	released := firstSeen.Add(-time.Hour)
	return sentry.Issue{
		ID:            id,
		ShortID:       shortID,
		Title:         title,
		Culprit:       &culprit,
		Level:         "error",
		Status:        sentry.StatusUnresolved,
		StatusDetails: json.RawMessage(`{}`),
		Substatus:     &substatus,
		Platform:      &platform,
		Priority:      &priority,
		Project:       projectFor(shortID),
		Type:          "error",
		IssueType:     "error",
		IssueCategory: "error",
		Metadata:      sentry.Metadata{Title: title, Type: errType, Value: errValue, Filename: "app/handlers.py", Function: "process_order"},
		Count:         "42",
		UserCount:     7,
		FirstSeen:     &firstSeen,
		LastSeen:      &lastSeen,
		FirstRelease:  &sentry.Release{Version: "backend@2.3.0", ShortVersion: "2.3.0", DateCreated: &released},
		LastRelease:   &sentry.Release{Version: "backend@2.3.0", ShortVersion: "2.3.0", DateCreated: &released},
		Stats:         sentry.Stats{Day: hourlyStats(now)},
		IsUnhandled:   true,
	}
}

// hourlyStats spreads 42 events over the 24 hours before now, ending with a
// spike so the sparkline has a shape.
func hourlyStats(now time.Time) []sentry.StatPoint {
	counts := [24]int64{0, 1, 0, 0, 2, 1, 0, 3, 0, 1, 2, 0, 4, 1, 0, 2, 3, 0, 1, 5, 2, 4, 3, 7}
	end := now.Truncate(time.Hour)
	points := make([]sentry.StatPoint, len(counts))
	for i, c := range counts {
		points[i] = sentry.StatPoint{Time: end.Add(time.Duration(i-len(counts)+1) * time.Hour).Unix(), Count: c}
	}
	return points
}

// splitTitle reads "ValueError: bad input" as type and value, as Sentry
// builds error titles.
func splitTitle(title string) (errType, value string) {
	if t, v, ok := strings.Cut(title, ": "); ok && !strings.Contains(t, " ") {
		return t, v
	}
	return "Error", title
}

// projectFor derives a project from a short id's prefix.
func projectFor(shortID string) sentry.Project {
	slug := "backend"
	if i := strings.LastIndexByte(shortID, '-'); i > 0 {
		slug = strings.ToLower(shortID[:i])
	}
	name := strings.ToUpper(slug[:1]) + slug[1:]
	return sentry.Project{ID: "1", Name: name, Slug: slug, Platform: "python"}
}

// AddIssue stores is, replacing an issue with the same id, and returns what
// was stored. Missing identity is filled in: an empty ID gets the next free
// number, an empty ShortID, Project or Permalink is derived. In the served
// body, empty strings and empty objects fall back to the schema example's
// values, while nil pointers are served as null.
func (s *Server) AddIssue(is sentry.Issue) sentry.Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	if is.ID == "" {
		is.ID = strconv.Itoa(s.nextID())
	}
	if is.Project == (sentry.Project{}) {
		is.Project = projectFor(is.ShortID)
	}
	if is.ShortID == "" {
		is.ShortID = strings.ToUpper(is.Project.Slug) + "-" + shortSuffix(is.ID)
	}
	if is.Permalink == "" {
		is.Permalink = s.url + "/organizations/" + s.opts.Org + "/issues/" + is.ID + "/"
	}
	if _, exists := s.issues[is.ID]; !exists {
		s.order = append(s.order, is.ID)
	}
	stored := is
	s.issues[is.ID] = &stored
	return is
}

// shortSuffix is the base-36 part of a short id, as Sentry derives it from
// the per-project counter.
func shortSuffix(id string) string {
	if n, err := strconv.ParseInt(id, 10, 64); err == nil {
		return strings.ToUpper(strconv.FormatInt(n, 36))
	}
	return strings.ToUpper(id)
}

func (s *Server) nextID() int {
	next := 1
	for id := range s.issues {
		if n, err := strconv.Atoi(id); err == nil && n >= next {
			next = n + 1
		}
	}
	return next
}

// Issue returns the current state of an issue, by id or short id.
func (s *Server) Issue(ref string) (sentry.Issue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.lookup(ref)
	if is == nil {
		return sentry.Issue{}, false
	}
	return *is, true
}

// SetIssue changes a stored issue in place, by id or short id, and reports
// whether it exists. update runs with the server locked: keep it short and
// do not call the server from it.
func (s *Server) SetIssue(ref string, update func(*sentry.Issue)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.lookup(ref)
	if is == nil {
		return false
	}
	update(is)
	return true
}

// MergeIssue merges issue from into issue into, as Sentry does: from
// disappears, and requests for its id or short id are redirected to into.
func (s *Server) MergeIssue(from, into string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	src, dst := s.lookup(from), s.lookup(into)
	if src == nil || dst == nil || src == dst {
		return false
	}
	s.merged[src.ID] = dst.ID
	s.merged[strings.ToUpper(src.ShortID)] = dst.ID
	s.removeIssue(src.ID)
	return true
}

// mergedInto reports the id a merged-away issue, given by id or short id,
// now lives under; s.mu must be held.
func (s *Server) mergedInto(ref string) (string, bool) {
	if into, ok := s.merged[ref]; ok {
		return into, true
	}
	into, ok := s.merged[strings.ToUpper(ref)]
	return into, ok
}

// lookup finds an issue by id, then by short id ignoring case; s.mu must be held.
func (s *Server) lookup(ref string) *sentry.Issue {
	if is, ok := s.issues[ref]; ok {
		return is
	}
	for _, id := range s.order {
		if is := s.issues[id]; strings.EqualFold(is.ShortID, ref) {
			return is
		}
	}
	return nil
}

// canonicalID maps an id or short id to the issue's id, following merges,
// so failure rules match however an issue is addressed; s.mu must be held.
func (s *Server) canonicalID(ref string) string {
	if into, ok := s.mergedInto(ref); ok {
		return into
	}
	if is := s.lookup(ref); is != nil {
		return is.ID
	}
	return strings.ToUpper(ref)
}

func (s *Server) getIssue(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("issue")
	s.mu.Lock()
	into, merged := s.mergedInto(ref)
	var body map[string]any
	if !merged {
		if is := s.lookup(ref); is != nil {
			body = issueBody(is)
		}
	}
	s.mu.Unlock()

	switch {
	case merged:
		target := "/api/0/organizations/" + r.PathValue("org") + "/issues/" + into + "/"
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusFound)
	case body == nil:
		writeNotFound(w)
	default:
		writeJSON(w, http.StatusOK, body)
	}
}

// issueBody renders an issue as the retrieve endpoint does: the schema
// example with the issue's values laid over it.
func issueBody(is *sentry.Issue) map[string]any {
	body := decodeObject(issueTemplate)
	given, err := json.Marshal(is)
	if err != nil {
		panic("sentryfake: encode issue: " + err.Error()) // a sentry.Issue always encodes
	}
	for k, v := range decodeObject(given) {
		if blank(v) {
			continue
		}
		body[k] = v
	}
	// The schema requires project.platform (nullable); sentry.Project omits
	// an empty one.
	if p, ok := body["project"].(map[string]any); ok {
		if _, has := p["platform"]; !has {
			p["platform"] = nil
		}
	}
	// Keep the "first_seen" activity in step with the issue.
	if acts, ok := body["activity"].([]any); ok && is.FirstSeen != nil {
		for _, a := range acts {
			if act, ok := a.(map[string]any); ok && act["type"] == "first_seen" {
				act["dateCreated"] = is.FirstSeen.UTC().Format(time.RFC3339)
			}
		}
	}
	return body
}

// blank reports values that mean "not given" in a sentry.Issue: empty
// strings and empty objects. null, zero and false are real values.
func blank(v any) bool {
	switch val := v.(type) {
	case string:
		return val == ""
	case map[string]any:
		return len(val) == 0
	}
	return false
}

// decodeObject decodes a JSON object keeping numbers exact; it is only used
// on bodies this package produced or embedded.
func decodeObject(b []byte) map[string]any {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		panic("sentryfake: decode embedded JSON: " + err.Error())
	}
	return m
}
