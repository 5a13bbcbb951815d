package sentry

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// Page sizes for SearchIssues.
const (
	DefaultIssueLimit = 10
	MaxIssueLimit     = 100 // Sentry's own cap
)

// ResolveShortID looks up an issue by its short id (BACKEND-1A2); a numeric
// id works too. It uses GET /api/0/organizations/{org}/shortids/{id}/,
// which answers the issue without the event statistics that Issue adds.
func (c *Client) ResolveShortID(ctx context.Context, org, shortID string) (*Issue, error) {
	const op = "resolve short id"
	if err := checkSegments(op, org, shortID); err != nil {
		return nil, err
	}
	var body struct {
		Group *Issue `json:"group"`
	}
	path := "/api/0/organizations/" + url.PathEscape(org) + "/shortids/" + url.PathEscape(shortID) + "/"
	if _, err := c.do(ctx, op, http.MethodGet, path, nil, nil, &body); err != nil {
		return nil, err
	}
	if body.Group == nil || body.Group.ID == "" {
		return nil, &Error{Op: op, StatusCode: http.StatusOK, Kind: KindBadResponse, Detail: "short id answer without an issue"}
	}
	return body.Group, nil
}

// IssueQuery selects issues for SearchIssues.
type IssueQuery struct {
	// Query is Sentry search syntax, e.g. "is:unresolved level:error
	// assigned:me timeout". It is always sent: an empty query matches every
	// issue, whereas leaving the parameter out would make Sentry apply its
	// default ("is:unresolved" and, on newer versions, a priority filter).
	Query    string
	Projects []string // project ids (slugs also work); empty means every project the token sees
	Cursor   string   // IssuePage.NextCursor of the previous page; empty for the first page
	Limit    int      // issues per page: 0 means DefaultIssueLimit, more than MaxIssueLimit is capped
	Sort     string   // "date" (last seen, the default), "new" (first seen), "freq", "user", "trends", "inbox"
}

// IssuePage is one page of search results.
type IssuePage struct {
	Issues     []Issue
	NextCursor string // "" when there are no more results
}

// SearchIssues runs an issue search over an organization
// (GET /api/0/organizations/{org}/issues/) and returns one page.
func (c *Client) SearchIssues(ctx context.Context, org string, q IssueQuery) (*IssuePage, error) {
	const op = "search issues"
	if err := checkSegments(op, org); err != nil {
		return nil, err
	}
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = DefaultIssueLimit
	case limit > MaxIssueLimit:
		limit = MaxIssueLimit
	}
	sort := q.Sort
	if sort == "" {
		sort = "date"
	}
	params := url.Values{
		"query": {q.Query},
		"limit": {strconv.Itoa(limit)},
		"sort":  {sort},
	}
	for _, p := range q.Projects {
		if p != "" {
			params.Add("project", p)
		}
	}
	if q.Cursor != "" {
		params.Set("cursor", q.Cursor)
	}
	var issues []Issue
	h, err := c.do(ctx, op, http.MethodGet, "/api/0/organizations/"+url.PathEscape(org)+"/issues/", params, nil, &issues)
	if err != nil {
		return nil, err
	}
	page := &IssuePage{Issues: issues}
	if cursor, more := nextCursor(h); more && cursor != q.Cursor {
		page.NextCursor = cursor
	}
	if page.Issues == nil {
		page.Issues = []Issue{}
	}
	return page, nil
}
