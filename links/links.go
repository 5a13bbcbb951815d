// Package links recognises Sentry issue links that sentrybot unfurls: a URL
// on a configured link host (or an {org}.{link host} subdomain) whose path
// names an issue of the configured organization, optionally one of its
// events. Everything else is rejected without further work, so the matcher
// is strict: a URL that only looks like a Sentry link must never lead to a
// call to Sentry.
package links

import (
	"net"
	"net/url"
	"strings"
)

// MaxURLLength bounds the URLs considered. Real issue links are far shorter;
// the bound keeps hostile input cheap to reject.
const MaxURLLength = 2048

// maxIDLength bounds issue ids. Numeric ids are at most 20 digits and short
// IDs are a project slug (at most 50 characters in Sentry) plus a suffix.
const maxIDLength = 100

// Matcher recognises issue links of one organization on a set of hosts.
// It is immutable after NewMatcher and safe for concurrent use.
type Matcher struct {
	org   string // lower-case org slug; "" matches nothing
	hosts []string
}

// Link is a recognised issue link.
type Link struct {
	URL     string // the original URL
	Org     string // the configured org slug, lower-case
	IssueID string // numeric id or short ID as it appears in the path
	// EventID is "", "latest", or an event id as 32 lower-case hex digits
	// (a dashed UUID in the path is normalised, since that is the form
	// Sentry's API takes).
	EventID string
}

// NewMatcher returns a Matcher for links of org on hosts. Hosts are bare
// host names; they are lower-cased, and a port, a scheme or a path given by
// mistake is dropped. Empty entries are ignored.
func NewMatcher(org string, hosts []string) *Matcher {
	m := &Matcher{org: asciiLower(strings.TrimSpace(org))}
	seen := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		h = normaliseHost(h)
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		m.hosts = append(m.hosts, h)
	}
	return m
}

// normaliseHost turns "HTTPS://Sentry.Example.com:9000/x" or
// "sentry.example.com:9000" into "sentry.example.com".
func normaliseHost(h string) string {
	h = strings.TrimSpace(h)
	if i := strings.Index(h, "://"); i >= 0 {
		h = h[i+3:]
	}
	if i := strings.IndexAny(h, "/?#"); i >= 0 {
		h = h[:i]
	}
	if i := strings.LastIndexByte(h, '@'); i >= 0 {
		h = h[i+1:]
	}
	switch {
	case strings.HasPrefix(h, "["): // [v6] or [v6]:port
		if i := strings.IndexByte(h, ']'); i > 0 {
			h = h[1:i]
		}
	case strings.Count(h, ":") == 1: // name:port; a bare v6 address has more colons
		h = h[:strings.IndexByte(h, ':')]
	}
	return asciiLower(strings.TrimSuffix(h, "."))
}

// Match reports whether rawURL is an issue link of the matcher's org and,
// if so, what it points at.
//
// Percent-encoded paths never match: Sentry itself only produces paths of
// plain slugs and ids, and decoding first would let "%2e%2e" or "%2f" smuggle
// traversal into the ids that end up in API paths. Query strings (including
// Slack's "&amp;" escaping) and fragments are ignored.
func (m *Matcher) Match(rawURL string) (Link, bool) {
	if m == nil || m.org == "" || len(m.hosts) == 0 || len(rawURL) > MaxURLLength {
		return Link{}, false
	}
	// Browsers drop or reinterpret spaces, control characters and
	// backslashes in URLs; Go's parser does not. Rather than guess which
	// host a browser would visit, refuse such URLs outright.
	for i := 0; i < len(rawURL); i++ {
		if c := rawURL[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return Link{}, false
		}
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Opaque != "" || u.User != nil {
		return Link{}, false
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Link{}, false
	}
	subOrg, ok := m.matchHost(u.Hostname())
	if !ok {
		return Link{}, false
	}
	// The parser decodes "%2e" and friends in the host; a real link never
	// has them, so look at the authority as written. A non-empty host means
	// the URL has the form scheme://authority.
	if authority, _, _ := strings.Cut(rawURL[len(u.Scheme)+len("://"):], "/"); strings.ContainsRune(authority, '%') {
		return Link{}, false
	}
	if subOrg != "" && subOrg != m.org {
		return Link{}, false
	}
	// EscapedPath keeps the original encoding, so any '%' shows up here and
	// fails the segment checks below.
	issueID, eventID, pathOrg, ok := parsePath(u.EscapedPath())
	if !ok {
		return Link{}, false
	}
	if pathOrg != "" && asciiLower(pathOrg) != m.org {
		return Link{}, false
	}
	return Link{URL: rawURL, Org: m.org, IssueID: issueID, EventID: eventID}, true
}

// matchHost reports whether host is a link host (subOrg "") or
// {label}.{link host} (subOrg the lower-cased label).
func (m *Matcher) matchHost(host string) (subOrg string, ok bool) {
	if host == "" || !isASCII(host) {
		// Non-ASCII hosts are refused: Unicode case folding would let
		// look-alikes such as "ſentry.io" compare equal.
		return "", false
	}
	host = asciiLower(host)
	for _, h := range m.hosts {
		if host == h {
			return "", true
		}
	}
	for _, h := range m.hosts {
		if net.ParseIP(h) != nil {
			continue // an address has no subdomains
		}
		label, found := strings.CutSuffix(host, "."+h)
		if !found || label == "" || strings.Contains(label, ".") {
			continue
		}
		return label, true
	}
	return "", false
}

// parsePath accepts
//
//	/organizations/{org}/issues/{id}[/events/{event}][/]
//	/issues/{id}[/events/{event}][/]
//
// and nothing else.
func parsePath(p string) (issueID, eventID, org string, ok bool) {
	p, found := strings.CutPrefix(p, "/")
	if !found {
		return "", "", "", false
	}
	p = strings.TrimSuffix(p, "/")
	// At most 6 segments are meaningful; SplitN keeps a hostile path from
	// costing more than that.
	seg := strings.SplitN(p, "/", 7)
	if len(seg) >= 2 && seg[0] == "organizations" {
		if !isSlug(seg[1]) {
			return "", "", "", false
		}
		org = seg[1]
		seg = seg[2:]
	}
	switch {
	case len(seg) == 2 && seg[0] == "issues":
	case len(seg) == 4 && seg[0] == "issues" && seg[2] == "events":
		var valid bool
		if eventID, valid = normaliseEventID(seg[3]); !valid {
			return "", "", "", false
		}
	default:
		return "", "", "", false
	}
	if !isIssueID(seg[1]) {
		return "", "", "", false
	}
	return seg[1], eventID, org, true
}

// isIssueID reports whether s is a plausible issue id: a numeric id or a
// short ID such as "BACKEND-1A2" (letters, digits, '-' and '_').
func isIssueID(s string) bool {
	if s == "" || len(s) > maxIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// normaliseEventID accepts "latest", 32 hex digits, or a dashed UUID, and
// returns the id as 32 lower-case hex digits.
func normaliseEventID(s string) (string, bool) {
	if s == "latest" {
		return s, true
	}
	switch len(s) {
	case 32:
	case 36:
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return "", false
		}
		s = s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	default:
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return "", false
		}
	}
	return asciiLower(s), true
}

// isSlug reports whether s could be an org slug. Case is folded later.
func isSlug(s string) bool {
	if s == "" || len(s) > maxIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// asciiLower lower-cases ASCII letters only, without allocating when s is
// already lower-case. Unicode folding is deliberately avoided (see
// matchHost).
func asciiLower(s string) string {
	i := 0
	for i < len(s) && !(s[i] >= 'A' && s[i] <= 'Z') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if c := b[i]; c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
