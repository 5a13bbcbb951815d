package sentry

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

// Auth describes the token in use, as GET /api/0/ reports it.
type Auth struct {
	Scopes []string
	User   *User // the user (or integration proxy user) behind the token; nil if Sentry sent none
}

// HasScope reports whether the token carries scope, e.g. "event:write".
func (a *Auth) HasScope(scope string) bool {
	return slices.Contains(a.Scopes, scope)
}

// User is a Sentry user account.
type User struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	Username string `json:"username"`
}

// Organization is the part of a Sentry organization sentrybot uses.
type Organization struct {
	ID    string            `json:"id"`
	Slug  string            `json:"slug"`
	Name  string            `json:"name"`
	Links OrganizationLinks `json:"links"`
}

// OrganizationLinks are the organization's web and API region addresses on
// sentry.io (e.g. https://acme.sentry.io and https://us.sentry.io).
type OrganizationLinks struct {
	OrganizationURL string `json:"organizationUrl"`
	RegionURL       string `json:"regionUrl"`
}

// Issue fetches one issue by numeric id or short id (BACKEND-1A2) through
// the org-scoped endpoint. A merged issue answers with the issue it was
// merged into, so the returned ID may differ from issueID.
func (c *Client) Issue(ctx context.Context, org, issueID string) (*Issue, error) {
	const op = "get issue"
	if err := checkSegments(op, org, issueID); err != nil {
		return nil, err
	}
	var is Issue
	path := "/api/0/organizations/" + url.PathEscape(org) + "/issues/" + url.PathEscape(issueID) + "/"
	if _, err := c.do(ctx, op, http.MethodGet, path, nil, nil, &is); err != nil {
		return nil, err
	}
	if is.ID == "" {
		return nil, &Error{Op: op, StatusCode: http.StatusOK, Kind: KindBadResponse, Detail: "issue without an id"}
	}
	return &is, nil
}

// Whoami reports the scopes and user of the configured token
// (GET /api/0/). A token Sentry does not accept yields KindUnauthorized.
func (c *Client) Whoami(ctx context.Context) (*Auth, error) {
	const op = "whoami"
	var body struct {
		Auth *struct {
			Scopes []string `json:"scopes"`
		} `json:"auth"`
		User *User `json:"user"`
	}
	if _, err := c.do(ctx, op, http.MethodGet, "/api/0/", nil, nil, &body); err != nil {
		return nil, err
	}
	if body.Auth == nil {
		// The index endpoint admits anonymous callers; no "auth" means the
		// token was not used to authenticate.
		return nil, &Error{Op: op, StatusCode: http.StatusOK, Kind: KindUnauthorized, Detail: "the token was not accepted"}
	}
	return &Auth{Scopes: body.Auth.Scopes, User: body.User}, nil
}

// Organization fetches an organization by slug or id.
func (c *Client) Organization(ctx context.Context, org string) (*Organization, error) {
	const op = "get organization"
	if err := checkSegments(op, org); err != nil {
		return nil, err
	}
	var o Organization
	query := url.Values{"detailed": {"0"}} // skip projects and teams: smaller and faster
	if _, err := c.do(ctx, op, http.MethodGet, "/api/0/organizations/"+url.PathEscape(org)+"/", query, nil, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// checkSegments rejects path segments that cannot be an org slug, a numeric
// id or a short id, so that user input never rewrites the request path.
func checkSegments(op string, segments ...string) error {
	for _, s := range segments {
		if !validSegment(s) {
			return &Error{Op: op, Kind: KindInvalid, Detail: "invalid identifier " + quoteShort(s)}
		}
	}
	return nil
}

func validSegment(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
		if !ok {
			return false
		}
	}
	return true
}

func quoteShort(s string) string {
	r := []rune(s)
	if len(r) > 40 {
		s = string(r[:40]) + "…"
	}
	return strconv.Quote(s)
}
