package alerts

import (
	"regexp"
	"strings"

	"sentrybot/sentry"
)

// MatchQuery reports whether an issue matches a subscription's Sentry search
// query, judged locally from the issue alone. It understands the part of
// Sentry's search syntax that an issue's own fields can answer:
//
//	is:unresolved|resolved|ignored|archived|unassigned|assigned
//	is:new|ongoing|escalating|regressed     (the substatus)
//	level:error   level:[error,fatal]
//	assigned:jane@example.com   assigned:#backend   assigned:none
//	project:web   project:[web,api]
//	words and "quoted phrases": a case-insensitive substring of the
//	  title or the culprit
//	!key:value negates a term; AND is implied between terms; OR between
//	  runs of terms is honoured; parentheses are ignored.
//
// Anything else (other keys such as has:, release:, age:, firstSeen:,
// tags, or values that depend on who is asking such as assigned:me) cannot
// be judged without Sentry and is treated as matching, negated or not:
// a subscription then gets more alerts, never fewer. The poller runs the
// query in Sentry itself, so poll alerts are exact.
//
// An empty query matches every issue; a nil issue matches nothing.
func MatchQuery(query string, is *sentry.Issue) bool {
	if is == nil {
		return false
	}
	for _, group := range parseQuery(query) {
		if matchAll(group, is) {
			return true
		}
	}
	return false
}

// term is one search term.
type term struct {
	neg    bool
	key    string   // lower case; "" for free text
	values []string // for key:value, the value or the list's values
	text   string   // free text, lower case
}

// searchKey is what Sentry accepts before the colon of key:value (tags such
// as browser.name included); anything else with a colon is free text.
var searchKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.\-]*$`)

// parseQuery splits a query into OR-separated groups of terms.
func parseQuery(q string) [][]term {
	groups := [][]term{nil}
	for _, tok := range tokenize(q) {
		tok = strings.TrimLeft(tok, "(")
		if !strings.HasPrefix(tok, `"`) || strings.Count(tok, `"`)%2 == 0 {
			tok = strings.TrimRight(tok, ")")
		}
		switch tok {
		case "":
			continue
		case "OR":
			groups = append(groups, nil)
			continue
		case "AND":
			continue
		}
		last := len(groups) - 1
		groups[last] = append(groups[last], parseTerm(tok))
	}
	return groups
}

// tokenize splits on white space outside double quotes and brackets.
func tokenize(q string) []string {
	var toks []string
	var b strings.Builder
	inQuote, depth := false, 0
	for _, r := range q {
		switch {
		case r == '"':
			inQuote = !inQuote
		case !inQuote && r == '[':
			depth++
		case !inQuote && r == ']' && depth > 0:
			depth--
		case !inQuote && depth == 0 && (r == ' ' || r == '\t' || r == '\n' || r == '\r'):
			if b.Len() > 0 {
				toks = append(toks, b.String())
				b.Reset()
			}
			continue
		}
		b.WriteRune(r)
	}
	if b.Len() > 0 {
		toks = append(toks, b.String())
	}
	return toks
}

func parseTerm(tok string) term {
	neg := false
	body := tok
	if strings.HasPrefix(body, "!") {
		neg, body = true, body[1:]
	}
	if k, v, ok := strings.Cut(body, ":"); ok && v != "" && searchKey.MatchString(k) {
		return term{neg: neg, key: strings.ToLower(k), values: parseValues(v)}
	}
	// "!word" is not negated free text in Sentry either: the ! is text.
	return term{text: strings.ToLower(unquote(tok))}
}

// parseValues reads a value or a [a, b] list, unquoting each.
func parseValues(v string) []string {
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		var out []string
		for _, part := range strings.Split(v[1:len(v)-1], ",") {
			if p := unquote(strings.TrimSpace(part)); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	return []string{unquote(v)}
}

func unquote(s string) string {
	if len(s) >= 2 && strings.HasPrefix(s, `"`) && strings.HasSuffix(s, `"`) {
		return s[1 : len(s)-1]
	}
	return strings.Trim(s, `"`)
}

func matchAll(terms []term, is *sentry.Issue) bool {
	for _, t := range terms {
		if !t.match(is) {
			return false
		}
	}
	return true
}

// match applies the term; a term that cannot be judged matches.
func (t term) match(is *sentry.Issue) bool {
	if t.key == "" {
		return t.text == "" || strings.Contains(strings.ToLower(is.Title), t.text) ||
			(is.Culprit != nil && strings.Contains(strings.ToLower(*is.Culprit), t.text))
	}
	known := false
	hit := false
	for _, v := range t.values {
		h, k := matchValue(t.key, strings.ToLower(v), is)
		if !k {
			// One value that cannot be judged could be the one that
			// matches: the whole term cannot be judged.
			return true
		}
		known = true
		hit = hit || h
	}
	if !known {
		return true
	}
	return hit != t.neg
}

// matchValue judges key:value (value in lower case) and reports whether it
// could.
func matchValue(key, value string, is *sentry.Issue) (hit, known bool) {
	switch key {
	case "is":
		return matchIs(value, is)
	case "level":
		return strings.EqualFold(is.Level, value), true
	case "project":
		return strings.EqualFold(is.Project.Slug, value), true
	case "assigned":
		return matchAssigned(value, is.AssignedTo)
	}
	return false, false
}

func matchIs(value string, is *sentry.Issue) (hit, known bool) {
	substatus := ""
	if is.Substatus != nil {
		substatus = *is.Substatus
	}
	switch value {
	case "unresolved", "resolved":
		return is.Status == value, true
	case "ignored", "archived":
		return is.Status == sentry.StatusIgnored, true
	case "unassigned":
		return is.AssignedTo == nil, true
	case "assigned":
		return is.AssignedTo != nil, true
	case sentry.SubstatusNew, sentry.SubstatusOngoing, sentry.SubstatusEscalating, sentry.SubstatusRegressed:
		return substatus == value, true
	}
	return false, false
}

func matchAssigned(value string, a *sentry.Assignee) (hit, known bool) {
	switch value {
	case "none":
		return a == nil, true
	case "me", "my_teams":
		return false, false
	}
	if a == nil {
		return false, true
	}
	if team, ok := strings.CutPrefix(value, "#"); ok {
		return a.Type == "team" && (strings.EqualFold(a.Name, team) || strings.EqualFold(strings.TrimPrefix(a.Name, "#"), team)), true
	}
	if a.Type == "team" {
		return false, true
	}
	return strings.EqualFold(a.Email, value) || strings.EqualFold(a.Name, value) || a.ID == value, true
}
