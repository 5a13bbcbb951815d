package sentryfake

import (
	_ "embed"
	"net/http"
	"strings"

	"sentrybot/sentry"
)

// organizationTemplate is the "Retrieve an organization" example of
// Sentry's OpenAPI description.
//
//go:embed examples/organization.json
var organizationTemplate []byte

// whoami answers GET /api/0/ for the token: its scopes and the user behind
// it. For an internal integration that user is the integration's proxy user;
// for an OAuth access token, the user who approved it.
func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	who := s.callerOf(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"version": "0",
		"auth":    map[string]any{"scopes": who.scopes},
		"user":    userBody(who.user),
	})
}

// userBody renders a user as Sentry's UserSerializer does (GET /api/0/,
// the actor of a status change, a member's user).
func userBody(u sentry.User) map[string]any {
	name := u.Name
	if name == "" {
		name = u.Email
	}
	username := u.Username
	if username == "" {
		username = u.Email
	}
	emails := []any{}
	if u.Email != "" {
		emails = append(emails, map[string]any{"id": u.ID, "email": u.Email, "is_verified": true})
	}
	return map[string]any{
		"id":              u.ID,
		"name":            name,
		"username":        username,
		"email":           u.Email,
		"avatarUrl":       "https://gravatar.com/avatar/0?s=32&d=mm",
		"avatar":          map[string]any{"avatarType": "letter_avatar", "avatarUuid": nil},
		"isActive":        true,
		"isSuspended":     false,
		"hasPasswordAuth": false,
		"isManaged":       false,
		"dateJoined":      "2025-01-15T10:00:00Z",
		"lastLogin":       nil,
		"has2fa":          false,
		"lastActive":      nil,
		"isSuperuser":     false,
		"isStaff":         false,
		"experiments":     map[string]any{},
		"emails":          emails,
	}
}

// getOrganization answers GET /api/0/organizations/{org}/.
func (s *Server) getOrganization(w http.ResponseWriter, r *http.Request) {
	body := decodeObject(organizationTemplate)
	body["id"] = s.orgID
	body["slug"] = s.opts.Org
	body["name"] = strings.ToUpper(s.opts.Org[:1]) + s.opts.Org[1:]
	body["links"] = map[string]any{"organizationUrl": s.url, "regionUrl": s.url}
	writeJSON(w, http.StatusOK, body)
}
