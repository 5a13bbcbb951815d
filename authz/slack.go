package authz

import (
	"context"
	"fmt"

	"github.com/slack-go/slack"
)

// SlackUserInfo is the part of *slack.Client the workspace-admin check
// uses (users.info).
type SlackUserInfo interface {
	GetUserInfoContext(ctx context.Context, user string, options ...slack.GetUserInfoOption) (*slack.User, error)
}

// SlackAdminChecker answers IsWorkspaceAdmin from Slack's users.info: owners,
// the primary owner and admins of the workspace are workspace admins.
func SlackAdminChecker(api SlackUserInfo) SlackUsers { return slackAdminChecker{api} }

type slackAdminChecker struct{ api SlackUserInfo }

func (c slackAdminChecker) IsWorkspaceAdmin(ctx context.Context, teamID, userID string) (bool, error) {
	u, err := c.api.GetUserInfoContext(ctx, userID)
	if err != nil {
		return false, fmt.Errorf("authz: slack users.info %s: %w", userID, err)
	}
	if u == nil {
		return false, fmt.Errorf("authz: slack users.info %s: empty answer", userID)
	}
	// Deactivated accounts keep their flags; guests cannot be admins. A
	// user of another workspace (Enterprise Grid) is not this workspace's
	// admin as far as sentrybot is concerned.
	if u.Deleted || u.IsRestricted || u.IsUltraRestricted || (teamID != "" && u.TeamID != "" && u.TeamID != teamID) {
		return false, nil
	}
	return u.IsAdmin || u.IsOwner || u.IsPrimaryOwner, nil
}
