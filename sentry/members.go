package sentry

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// maxListPages caps how many pages Members and Teams fetch: 10 pages of 100
// is more people and teams than a Slack picker can show.
const maxListPages = 10

// Member is a member of an organization, or an invitation to become one.
// Its ID identifies the membership, not the person: assign issues with
// Actor, which uses the user's id.
type Member struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
	// Role is the organization role ("member", "admin", "manager", "owner",
	// "billing"). Sentry sends it as orgRole; older versions sent role.
	Role    string `json:"orgRole"`
	Pending bool   `json:"pending"` // an invitation not accepted yet
	Expired bool   `json:"expired"` // an invitation that expired
	User    *User  `json:"user"`    // nil for invitations
}

// UnmarshalJSON reads orgRole, falling back to the legacy role field.
func (m *Member) UnmarshalJSON(b []byte) error {
	type plain Member
	var v struct {
		plain
		LegacyRole string `json:"role"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*m = Member(v.plain)
	if m.Role == "" {
		m.Role = v.LegacyRole
	}
	return nil
}

// Actor is the assignee reference for the member, "user:<user id>". It
// reports false for an invitation, which cannot be assigned anything.
func (m Member) Actor() (string, bool) {
	if m.User == nil || m.User.ID == "" {
		return "", false
	}
	return "user:" + m.User.ID, true
}

// Team is an organization's team.
type Team struct {
	ID       string `json:"id"`
	Slug     string `json:"slug"`
	Name     string `json:"name"`
	IsMember bool   `json:"isMember"` // whether the token's user belongs to the team
}

// Actor is the assignee reference for the team, "team:<team id>".
func (t Team) Actor() string { return "team:" + t.ID }

// Members lists an organization's members and pending invitations,
// following pagination for up to 10 pages of 100 (members beyond those are
// left out). query filters them with
// Sentry's member search: "email:jane@example.com" matches the membership
// or account email exactly (an undocumented filter of the endpoint), plain
// words match names and emails; "" lists everyone.
func (c *Client) Members(ctx context.Context, org, query string) ([]Member, error) {
	const op = "list members"
	if err := checkSegments(op, org); err != nil {
		return nil, err
	}
	q := url.Values{}
	if query != "" {
		q.Set("query", query)
	}
	members, _, err := listAll[Member](ctx, c, op, "/api/0/organizations/"+url.PathEscape(org)+"/members/", q, maxListPages)
	return members, err
}

// Member retrieves one member (or invitation) by its member id.
func (c *Client) Member(ctx context.Context, org, memberID string) (*Member, error) {
	const op = "get member"
	if err := checkSegments(op, org, memberID); err != nil {
		return nil, err
	}
	var m Member
	if _, err := c.do(ctx, op, http.MethodGet, "/api/0/organizations/"+url.PathEscape(org)+"/members/"+url.PathEscape(memberID)+"/", nil, nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Teams lists an organization's teams, following pagination for up to 10
// pages of 100 (teams beyond those are left out).
func (c *Client) Teams(ctx context.Context, org string) ([]Team, error) {
	const op = "list teams"
	if err := checkSegments(op, org); err != nil {
		return nil, err
	}
	// detailed=0 leaves out each team's projects, which can be long.
	q := url.Values{"detailed": {"0"}}
	teams, _, err := listAll[Team](ctx, c, op, "/api/0/organizations/"+url.PathEscape(org)+"/teams/", q, maxListPages)
	return teams, err
}
