package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"sentrybot/authz"
	"sentrybot/sentry"
	"sentrybot/store"
)

// SlackUserInfo reads a Slack user's profile (users.info).
type SlackUserInfo interface {
	GetUserInfoContext(ctx context.Context, user string, options ...slack.GetUserInfoOption) (*slack.User, error)
}

// MemberFinder searches the organization's members (query "email:x@y").
type MemberFinder interface {
	Members(ctx context.Context, org, query string) ([]sentry.Member, error)
}

// IdentityLinker stores and removes identity links.
type IdentityLinker interface {
	Link(ctx context.Context, s authz.Subject, id store.Identity) error
	Unlink(ctx context.Context, s authz.Subject) (bool, error)
}

// IdentityReader reads a user's current link.
type IdentityReader interface {
	Identity(ctx context.Context, teamID, slackUserID string) (store.Identity, error)
}

// Identities links Slack users to Sentry members by their confirmed email.
type Identities struct {
	org     string
	slack   SlackUserInfo
	members MemberFinder
	links   IdentityLinker
	read    IdentityReader
	now     func() time.Time
}

// NewIdentities builds the linking service.
func NewIdentities(org string, s SlackUserInfo, m MemberFinder, links IdentityLinker, read IdentityReader, now func() time.Time) *Identities {
	if now == nil {
		now = time.Now
	}
	return &Identities{org: org, slack: s, members: m, links: links, read: read, now: now}
}

// Link links the user to the one Sentry member with their confirmed Slack
// email, and says precisely why when it cannot.
func (i *Identities) Link(ctx context.Context, s authz.Subject) (string, error) {
	if id, err := i.read.Identity(ctx, s.TeamID, s.UserID); err == nil {
		return fmt.Sprintf("You're already linked to Sentry as *%s* (%s, org role %s). To link another member, run `/sentry unlink` first.",
			id.Email, memberName(id), orDash(id.OrgRole)), nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("link: reading the current link: %w", err)
	}

	u, err := i.slack.GetUserInfoContext(ctx, s.UserID)
	if err != nil {
		return "", fmt.Errorf("link: users.info: %w", err)
	}
	email := strings.TrimSpace(u.Profile.Email)
	switch {
	case email == "":
		return "sentrybot can't see your Slack email address, so it can't find you in Sentry. The Slack app needs the `users:read.email` scope; ask a Slack admin to add it and reinstall the app.", nil
	case !u.IsEmailConfirmed:
		return fmt.Sprintf("Your Slack email address (%s) isn't confirmed yet, so it can't prove who you are in Sentry. Confirm it in Slack, then run `/sentry link` again.", email), nil
	}

	found, err := i.members.Members(ctx, i.org, "email:"+email)
	if err != nil {
		return "", fmt.Errorf("link: searching Sentry members: %w", err)
	}
	var matches []sentry.Member
	for _, m := range found {
		if strings.EqualFold(m.Email, email) || (m.User != nil && strings.EqualFold(m.User.Email, email)) {
			matches = append(matches, m)
		}
	}
	var accepted []sentry.Member
	for _, m := range matches {
		if m.User != nil && !m.Pending && !m.Expired {
			accepted = append(accepted, m)
		}
	}
	switch {
	case len(matches) == 0:
		return fmt.Sprintf("No member of the Sentry organization *%s* has the email address %s. Ask a Sentry admin to invite you with that address, or change your Slack email to the one you use in Sentry.", i.org, email), nil
	case len(accepted) == 0:
		return fmt.Sprintf("Your Sentry invitation for %s hasn't been accepted yet. Accept it (check your email), then run `/sentry link` again.", email), nil
	case len(accepted) > 1:
		return fmt.Sprintf("%d Sentry members share the email address %s, so sentrybot can't tell which one is you. Ask a Sentry admin to sort out the duplicates.", len(accepted), email), nil
	}
	m := accepted[0]
	id := store.Identity{
		TeamID: s.TeamID, SlackUserID: s.UserID,
		MemberID: m.ID, SentryUserID: m.User.ID, Email: email, OrgRole: m.Role,
		Method: "email", LinkedAt: i.now(), LinkedBy: s.UserID,
	}
	if err := i.links.Link(ctx, s, id); errors.Is(err, authz.ErrWorkspaceNotServed) {
		return "sentrybot serves only the Slack workspace it's installed in, so it can't link an account of this one. Nothing was linked.", nil
	} else if err != nil {
		return "", fmt.Errorf("link: storing the link: %w", err)
	}
	return fmt.Sprintf("Linked: your Slack account now acts as Sentry member *%s* (%s, org role %s).", email, memberName(id), orDash(m.Role)), nil
}

// Unlink removes the user's link.
func (i *Identities) Unlink(ctx context.Context, s authz.Subject) (string, error) {
	removed, err := i.links.Unlink(ctx, s)
	if err != nil {
		return "", fmt.Errorf("unlink: %w", err)
	}
	if !removed {
		return "You weren't linked to Sentry, so there was nothing to unlink.", nil
	}
	return "Unlinked: your Slack account is no longer linked to Sentry. Run `/sentry link` to link it again.", nil
}

func memberName(id store.Identity) string {
	return "member " + id.MemberID + ", user " + id.SentryUserID
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
