package sentryfake

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"sentrybot/sentry"
)

// shortIDTemplate is the "Resolve a Short ID" example of Sentry's OpenAPI
// description; its group shows the fields of the base issue serializer.
//
//go:embed examples/shortid.json
var shortIDTemplate []byte

// issueListTemplate is the "List an Organization's Issues" example of
// Sentry's OpenAPI description; every listed issue starts from its item.
//
//go:embed examples/issue-list.json
var issueListTemplate []byte

// getShortID answers GET /api/0/organizations/{org}/shortids/{issue}/. Like
// Sentry's ShortIdLookupEndpoint it also takes a numeric id, and redirects
// for a merged-away issue.
func (s *Server) getShortID(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("issue")
	s.mu.Lock()
	into, merged := s.mergedInto(ref)
	var body map[string]any
	if is := s.lookup(ref); is != nil && !merged {
		body = map[string]any{
			"organizationSlug": s.opts.Org,
			"projectSlug":      is.Project.Slug,
			"groupId":          is.ID,
			"group":            s.groupBody(is),
			"shortId":          is.ShortID,
		}
	}
	s.mu.Unlock()
	switch {
	case merged:
		http.Redirect(w, r, "/api/0/organizations/"+r.PathValue("org")+"/shortids/"+into+"/", http.StatusFound)
	case body == nil:
		writeNotFound(w)
	default:
		writeJSON(w, http.StatusOK, body)
	}
}

// knownSort reports the sort orders the issue list accepts; the ones the
// fake cannot rank (trends, inbox, recommended) fall back to last seen.
func knownSort(sortBy string) bool {
	switch sortBy {
	case "date", "freq", "inbox", "new", "recommended", "trends", "user":
		return true
	}
	return false
}

// listIssues answers GET /api/0/organizations/{org}/issues/: a search over
// the fake's issues with a subset of Sentry's query syntax (see
// issuePredicate), project=, sort=, limit= and cursor pagination.
func (s *Server) listIssues(w http.ResponseWriter, r *http.Request) {
	params := r.URL.Query()
	query := "is:unresolved" // Sentry's default when no query is given
	if params.Has("query") {
		query = params.Get("query")
	}
	sortBy := params.Get("sort")
	if sortBy == "" {
		sortBy = "date"
	}
	if !knownSort(sortBy) {
		writeJSON(w, http.StatusBadRequest, detail(fmt.Sprintf("Invalid sort: %q", sortBy)))
		return
	}
	limit := maxPerPage
	if v := params.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, detail("invalid limit"))
			return
		}
		limit = max(1, min(n, maxPerPage))
	}
	offset := 0
	if c := params.Get("cursor"); c != "" {
		_, off, _, err := parseCursor(c)
		if err != nil || off < 0 {
			writeJSON(w, http.StatusBadRequest, detail("Invalid cursor parameter."))
			return
		}
		offset = off
	}

	s.mu.Lock()
	match, err := s.issuePredicate(query, s.callerOf(r).user)
	if err != nil {
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, detail(err.Error()))
		return
	}
	projects := params["project"]
	var found []*sentry.Issue
	for _, id := range s.order {
		is := s.issues[id]
		if inProjects(is.Project, projects) && match(is) {
			found = append(found, is)
		}
	}
	slices.SortStableFunc(found, issueOrder(sortBy))
	lo := min(offset, len(found))
	hi := min(lo+limit, len(found))
	body := make([]any, 0, hi-lo)
	for _, is := range found[lo:hi] {
		body = append(body, listItemBody(is))
	}
	s.mu.Unlock()

	s.setLink(w, r,
		fmt.Sprintf("0:%d:1", max(lo-limit, 0)), lo > 0,
		fmt.Sprintf("0:%d:0", hi), hi < len(found))
	writeJSON(w, http.StatusOK, body)
}

func inProjects(p sentry.Project, want []string) bool {
	if len(want) == 0 || slices.Contains(want, "-1") {
		return true
	}
	return slices.Contains(want, p.ID) || slices.Contains(want, p.Slug)
}

// issueOrder sorts by the requested key, newest or largest first, then by
// id, newest first.
func issueOrder(sortBy string) func(a, b *sentry.Issue) int {
	key := func(is *sentry.Issue) int64 {
		switch sortBy {
		case "new":
			return unixOf(is.FirstSeen)
		case "freq":
			n, _ := strconv.ParseInt(is.Count, 10, 64)
			return n
		case "user":
			return int64(is.UserCount)
		}
		return unixOf(is.LastSeen)
	}
	return func(a, b *sentry.Issue) int {
		if ka, kb := key(a), key(b); ka != kb {
			if ka > kb {
				return -1
			}
			return 1
		}
		return -compareIDs(a.ID, b.ID)
	}
}

func unixOf(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return t.UnixNano()
}

// isValues are the "is:" values the fake understands. Sentry knows a few
// more (linked, for_review...).
const isValues = "assigned, archived, escalating, ignored, new, ongoing, regressed, resolved, unassigned, unresolved"

// isFilter selects issues for one "is:" value: a status, a substatus or
// whether the issue has an assignee.
func isFilter(v string) (func(*sentry.Issue) bool, bool) {
	switch strings.ToLower(v) {
	case "unresolved":
		return statusIs(sentry.StatusUnresolved), true
	case "resolved":
		return statusIs(sentry.StatusResolved), true
	case "ignored", "archived":
		return statusIs(sentry.StatusIgnored), true
	case "new":
		return substatusIs(sentry.SubstatusNew), true
	case "ongoing":
		return substatusIs(sentry.SubstatusOngoing), true
	case "escalating":
		return substatusIs(sentry.SubstatusEscalating), true
	case "regressed":
		return substatusIs(sentry.SubstatusRegressed), true
	case "assigned":
		return func(is *sentry.Issue) bool { return is.AssignedTo != nil }, true
	case "unassigned":
		return func(is *sentry.Issue) bool { return is.AssignedTo == nil }, true
	}
	return nil, false
}

func statusIs(st string) func(*sentry.Issue) bool {
	return func(is *sentry.Issue) bool { return is.Status == st }
}

func substatusIs(sub string) func(*sentry.Issue) bool {
	return func(is *sentry.Issue) bool { return is.Substatus != nil && *is.Substatus == sub }
}

// issuePredicate compiles a search query. Supported: is:<status,
// substatus, assigned or unassigned>, level:<level>, project:<slug>,
// assigned:<me|none|email|username|#team-slug>, lists like level:[error,fatal],
// negation with a leading "!", and free text, which (as in Sentry) is
// joined into one phrase and matched against the title, ignoring case.
// Sentry would read any other key as a tag; the fake answers 400 instead so
// a query it cannot evaluate never passes silently. me is the user behind
// the token. s.mu must be held.
func (s *Server) issuePredicate(query string, me sentry.User) (func(*sentry.Issue) bool, error) {
	var preds []func(*sentry.Issue) bool
	var text []string
	for _, tok := range tokenize(query) {
		var p func(*sentry.Issue) bool
		switch tok.key {
		case "":
			text = append(text, tok.value)
			continue
		case "is":
			var alts []func(*sentry.Issue) bool
			for _, v := range tok.values() {
				f, ok := isFilter(v)
				if !ok {
					//lint:ignore ST1005 Sentry's own wording, sent back as the response detail
					return nil, fmt.Errorf("Invalid value for \"is\" search, valid values are [%s]", isValues)
				}
				alts = append(alts, f)
			}
			p = anyOf(alts)
		case "level":
			levels := tok.values()
			p = func(is *sentry.Issue) bool { return slices.Contains(levels, is.Level) }
		case "project":
			slugs := tok.values()
			p = func(is *sentry.Issue) bool { return slices.Contains(slugs, is.Project.Slug) }
		case "assigned":
			var alts []func(*sentry.Issue) bool
			for _, v := range tok.values() {
				alts = append(alts, s.assignedTo(v, me))
			}
			p = anyOf(alts)
		default:
			//lint:ignore ST1005 Sentry's own wording, sent back as the response detail
			return nil, fmt.Errorf("Invalid search query: sentryfake does not support the key %q (supported: is, level, project, assigned and free text)", tok.key)
		}
		if tok.neg {
			inner := p
			p = func(is *sentry.Issue) bool { return !inner(is) }
		}
		preds = append(preds, p)
	}
	if len(text) > 0 {
		phrase := strings.ToLower(strings.Join(text, " "))
		preds = append(preds, func(is *sentry.Issue) bool { return strings.Contains(strings.ToLower(is.Title), phrase) })
	}
	return func(is *sentry.Issue) bool {
		for _, p := range preds {
			if !p(is) {
				return false
			}
		}
		return true
	}, nil
}

func anyOf(alts []func(*sentry.Issue) bool) func(*sentry.Issue) bool {
	return func(is *sentry.Issue) bool {
		return slices.ContainsFunc(alts, func(f func(*sentry.Issue) bool) bool { return f(is) })
	}
}

// assignedTo matches issues assigned to one "assigned:" value. An unknown
// person or team matches nothing, as in Sentry; "me" is me. s.mu must be
// held.
func (s *Server) assignedTo(v string, me sentry.User) func(*sentry.Issue) bool {
	isUser := func(id string) func(*sentry.Issue) bool {
		return func(is *sentry.Issue) bool {
			return is.AssignedTo != nil && is.AssignedTo.Type == "user" && is.AssignedTo.ID == id
		}
	}
	switch {
	case v == "me":
		return isUser(me.ID)
	case v == "none":
		return func(is *sentry.Issue) bool { return is.AssignedTo == nil }
	case strings.HasPrefix(v, "#"):
		for _, t := range s.teams {
			if t.Slug == v[1:] {
				id := t.ID
				return func(is *sentry.Issue) bool {
					return is.AssignedTo != nil && is.AssignedTo.Type == "team" && is.AssignedTo.ID == id
				}
			}
		}
	default:
		for _, m := range s.members {
			if m.User != nil && (strings.EqualFold(m.User.Email, v) || strings.EqualFold(m.Email, v) || strings.EqualFold(m.User.Username, v)) {
				return isUser(m.User.ID)
			}
		}
		if strings.EqualFold(me.Email, v) && v != "" {
			return isUser(me.ID)
		}
	}
	return func(*sentry.Issue) bool { return false }
}

// token is one term of a search query: key:value, !key:value or free text
// (empty key).
type token struct {
	neg   bool
	key   string
	value string
}

// values splits a list value, key:[a, b], into its items.
func (t token) values() []string {
	v := t.value
	if !strings.HasPrefix(v, "[") || !strings.HasSuffix(v, "]") {
		return []string{v}
	}
	var out []string
	for item := range strings.SplitSeq(v[1:len(v)-1], ",") {
		if item = strings.Trim(strings.TrimSpace(item), `"`); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// tokenize splits a query on spaces outside double quotes and brackets, as
// Sentry's search grammar does for the subset the fake supports.
func tokenize(q string) []token {
	var terms []string
	var b strings.Builder
	quoted, bracket := false, false
	flush := func() {
		if b.Len() > 0 {
			terms = append(terms, b.String())
			b.Reset()
		}
	}
	for _, r := range q {
		switch {
		case r == '"':
			quoted = !quoted
			b.WriteRune(r)
		case r == '[' && !quoted:
			bracket = true
			b.WriteRune(r)
		case r == ']' && !quoted:
			bracket = false
			b.WriteRune(r)
		case unicode.IsSpace(r) && !quoted && !bracket:
			flush()
		default:
			b.WriteRune(r)
		}
	}
	flush()

	tokens := make([]token, 0, len(terms))
	for _, term := range terms {
		var t token
		body := term
		if strings.HasPrefix(body, "!") && strings.Contains(body, ":") {
			t.neg, body = true, body[1:]
		}
		if k, v, ok := strings.Cut(body, ":"); ok && k != "" && !strings.HasPrefix(k, `"`) && v != "" {
			t.key, t.value = k, unquote(v)
		} else {
			t.neg, t.value = false, unquote(term)
		}
		tokens = append(tokens, t)
	}
	return tokens
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// listItemBody renders an issue as the issue list does: the list example's
// item with the issue's values laid over the fields the list has.
func listItemBody(is *sentry.Issue) map[string]any {
	var examples []map[string]any
	decodeInto(issueListTemplate, &examples)
	body := examples[0]
	for k, v := range decodeObject(mustJSON(is)) {
		if _, listed := body[k]; listed && !blank(v) {
			body[k] = v
		}
	}
	if p, ok := body["project"].(map[string]any); ok {
		if _, has := p["platform"]; !has {
			p["platform"] = nil
		}
	}
	// Keep the lifetime totals and the assignment flag in step.
	if lt, ok := body["lifetime"].(map[string]any); ok {
		lt["count"], lt["userCount"] = body["count"], body["userCount"]
		lt["firstSeen"], lt["lastSeen"] = body["firstSeen"], body["lastSeen"]
	}
	if dd, ok := body["derivedData"].(map[string]any); ok {
		dd["isAssigned"] = is.AssignedTo != nil
	}
	return body
}

// decodeInto decodes embedded JSON keeping numbers exact.
func decodeInto(b []byte, v any) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		panic("sentryfake: decode embedded JSON: " + err.Error())
	}
}
