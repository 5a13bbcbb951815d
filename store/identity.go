package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is returned (wrapped) when a looked-up row does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrMemberLinked is returned (wrapped) by LinkIdentity when the Sentry
// member is already linked to a different Slack user of the same workspace.
// Two Slack users acting as one Sentry member would make the audit log lie
// about who did what, so the old link must be removed first.
var ErrMemberLinked = errors.New("store: sentry member already linked to another slack user")

// Identity links a Slack user of one workspace to a Sentry organization
// member.
type Identity struct {
	TeamID, SlackUserID string

	MemberID     string // Sentry organization member id; required
	SentryUserID string // Sentry user id; empty while an invite is pending
	Email        string
	OrgRole      string // Sentry organization role when last checked

	Method   string    // how the link was proven: "email" now, "oauth" later
	LinkedAt time.Time // zero means now
	LinkedBy string    // Slack user id that made the link (the user, for /sentry link)
}

// RoleOverride is a sentrybot role set locally for a Slack user.
type RoleOverride struct {
	TeamID, SlackUserID string
	Role                string // "viewer", "responder" or "admin"
	SetBy               string // Slack user id of the admin who set it
	SetAt               time.Time
}

// overrideRoles are the values role_overrides.role accepts; the table has
// the same CHECK, this gives a readable error first.
var overrideRoles = map[string]bool{"viewer": true, "responder": true, "admin": true}

// LinkIdentity creates the link for (id.TeamID, id.SlackUserID) or replaces
// the one that exists.
func (db *DB) LinkIdentity(ctx context.Context, id Identity) error {
	op := fmt.Sprintf("store: link identity %s/%s", id.TeamID, id.SlackUserID)
	switch {
	case id.TeamID == "" || id.SlackUserID == "":
		return fmt.Errorf("%s: team and slack user ids are required", op)
	case id.MemberID == "":
		return fmt.Errorf("%s: member id is required", op)
	case id.Method == "":
		return fmt.Errorf("%s: method is required", op)
	}

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer tx.Rollback()

	// Checked inside the write transaction, so no other link can take the
	// member between the check and the insert.
	var holder string
	err = tx.QueryRowContext(ctx,
		`SELECT slack_user_id FROM identities WHERE team_id = ? AND member_id = ?`,
		id.TeamID, id.MemberID).Scan(&holder)
	switch {
	case err == nil && holder != id.SlackUserID:
		return fmt.Errorf("%s: member %s is linked to %s: %w", op, id.MemberID, holder, ErrMemberLinked)
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", op, err)
	}

	linkedAt := id.LinkedAt
	if linkedAt.IsZero() {
		linkedAt = tx.Now()
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO identities (team_id, slack_user_id, member_id, sentry_user_id, email, org_role, method, linked_at, linked_by)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		 ON CONFLICT (team_id, slack_user_id) DO UPDATE SET
			member_id = excluded.member_id, sentry_user_id = excluded.sentry_user_id,
			email = excluded.email, org_role = excluded.org_role, method = excluded.method,
			linked_at = excluded.linked_at, linked_by = excluded.linked_by`,
		id.TeamID, id.SlackUserID, id.MemberID, id.SentryUserID, id.Email, id.OrgRole,
		id.Method, linkedAt.UnixMilli(), id.LinkedBy); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", op, err)
	}
	return nil
}

const identityColumns = `team_id, slack_user_id, member_id, sentry_user_id, email, org_role, method, linked_at, linked_by`

func scanIdentity(row *sql.Row) (Identity, error) {
	var id Identity
	var linkedAt int64
	err := row.Scan(&id.TeamID, &id.SlackUserID, &id.MemberID, &id.SentryUserID, &id.Email,
		&id.OrgRole, &id.Method, &linkedAt, &id.LinkedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return Identity{}, ErrNotFound
	}
	if err != nil {
		return Identity{}, err
	}
	id.LinkedAt = time.UnixMilli(linkedAt).UTC()
	return id, nil
}

// Identity returns the link of a Slack user, or an error wrapping
// ErrNotFound when the user is not linked.
func (db *DB) Identity(ctx context.Context, teamID, slackUserID string) (Identity, error) {
	id, err := scanIdentity(db.queryRow(ctx,
		`SELECT `+identityColumns+` FROM identities WHERE team_id = ? AND slack_user_id = ?`,
		teamID, slackUserID))
	if err != nil {
		return Identity{}, fmt.Errorf("store: identity %s/%s: %w", teamID, slackUserID, err)
	}
	return id, nil
}

// IdentityBySentryUser returns the link of a Sentry user, or an error
// wrapping ErrNotFound. With links in several workspaces it returns the most
// recently made one.
func (db *DB) IdentityBySentryUser(ctx context.Context, sentryUserID string) (Identity, error) {
	if sentryUserID == "" {
		// Pending members have no user id; they must not all match.
		return Identity{}, fmt.Errorf("store: identity by sentry user: empty id: %w", ErrNotFound)
	}
	id, err := scanIdentity(db.queryRow(ctx,
		`SELECT `+identityColumns+` FROM identities WHERE sentry_user_id = ?
		 ORDER BY linked_at DESC, team_id LIMIT 1`, sentryUserID))
	if err != nil {
		return Identity{}, fmt.Errorf("store: identity by sentry user %s: %w", sentryUserID, err)
	}
	return id, nil
}

// UnlinkIdentity removes a Slack user's link and reports whether there was
// one. The user's role override, if any, stays.
func (db *DB) UnlinkIdentity(ctx context.Context, teamID, slackUserID string) (bool, error) {
	res, err := db.exec(ctx,
		`DELETE FROM identities WHERE team_id = ? AND slack_user_id = ?`, teamID, slackUserID)
	if err != nil {
		return false, fmt.Errorf("store: unlink identity %s/%s: %w", teamID, slackUserID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: unlink identity %s/%s: rows affected: %w", teamID, slackUserID, err)
	}
	return n > 0, nil
}

// UpdateOrgRole records the Sentry organization role last seen for a linked
// user. It returns an error wrapping ErrNotFound when the user is not linked.
func (db *DB) UpdateOrgRole(ctx context.Context, teamID, slackUserID, orgRole string) error {
	res, err := db.exec(ctx,
		`UPDATE identities SET org_role = ? WHERE team_id = ? AND slack_user_id = ?`,
		orgRole, teamID, slackUserID)
	if err != nil {
		return fmt.Errorf("store: update org role %s/%s: %w", teamID, slackUserID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: update org role %s/%s: rows affected: %w", teamID, slackUserID, err)
	}
	if n == 0 {
		return fmt.Errorf("store: update org role %s/%s: %w", teamID, slackUserID, ErrNotFound)
	}
	return nil
}

// SetRoleOverride sets a Slack user's sentrybot role to role ("viewer",
// "responder" or "admin"), replacing any earlier override. A role of "" or
// "default" removes the override instead.
func (db *DB) SetRoleOverride(ctx context.Context, teamID, slackUserID, role, setBy string) error {
	op := fmt.Sprintf("store: set role override %s/%s", teamID, slackUserID)
	if teamID == "" || slackUserID == "" {
		return fmt.Errorf("%s: team and slack user ids are required", op)
	}
	if role == "" || role == "default" {
		if _, err := db.exec(ctx,
			`DELETE FROM role_overrides WHERE team_id = ? AND slack_user_id = ?`, teamID, slackUserID); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		return nil
	}
	if !overrideRoles[role] {
		return fmt.Errorf("%s: unknown role %q", op, role)
	}
	if setBy == "" {
		return fmt.Errorf("%s: set by is required", op)
	}
	if _, err := db.exec(ctx,
		`INSERT INTO role_overrides (team_id, slack_user_id, role, set_by, set_at) VALUES (?, ?, ?, ?, ?)
		 ON CONFLICT (team_id, slack_user_id) DO UPDATE SET
			role = excluded.role, set_by = excluded.set_by, set_at = excluded.set_at`,
		teamID, slackUserID, role, setBy, db.Now().UnixMilli()); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// RoleOverride returns a Slack user's overriding role, or "" when there is
// none.
func (db *DB) RoleOverride(ctx context.Context, teamID, slackUserID string) (string, error) {
	var role string
	err := db.queryRow(ctx,
		`SELECT role FROM role_overrides WHERE team_id = ? AND slack_user_id = ?`,
		teamID, slackUserID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: role override %s/%s: %w", teamID, slackUserID, err)
	}
	return role, nil
}

// RoleOverrides lists a workspace's role overrides by Slack user id.
func (db *DB) RoleOverrides(ctx context.Context, teamID string) ([]RoleOverride, error) {
	rows, err := db.query(ctx,
		`SELECT team_id, slack_user_id, role, set_by, set_at FROM role_overrides
		 WHERE team_id = ? ORDER BY slack_user_id`, teamID)
	if err != nil {
		return nil, fmt.Errorf("store: role overrides %s: %w", teamID, err)
	}
	defer rows.Close()
	var list []RoleOverride
	for rows.Next() {
		var o RoleOverride
		var setAt int64
		if err := rows.Scan(&o.TeamID, &o.SlackUserID, &o.Role, &o.SetBy, &setAt); err != nil {
			return nil, fmt.Errorf("store: role overrides %s: %w", teamID, err)
		}
		o.SetAt = time.UnixMilli(setAt).UTC()
		list = append(list, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: role overrides %s: %w", teamID, err)
	}
	return list, nil
}

// UserRecord is what the store holds about one Slack user that an
// authorization decision reads: their role override and their link.
type UserRecord struct {
	Override string   // the role override; "" when none
	Linked   bool     // whether Identity holds a link
	Identity Identity // the link, when Linked
}

// UserRecord reads a Slack user's role override and link in one statement,
// so both come from the same snapshot and cost one read.
func (db *DB) UserRecord(ctx context.Context, teamID, slackUserID string) (UserRecord, error) {
	var (
		override                                       sql.NullString
		member, sentryUser, email, orgRole, method, by sql.NullString
		linkedAt                                       sql.NullInt64
	)
	err := db.queryRow(ctx,
		`SELECT (SELECT role FROM role_overrides WHERE team_id = ?1 AND slack_user_id = ?2),
			i.member_id, i.sentry_user_id, i.email, i.org_role, i.method, i.linked_at, i.linked_by
		 FROM (SELECT 1) LEFT JOIN identities i ON i.team_id = ?1 AND i.slack_user_id = ?2`,
		teamID, slackUserID).Scan(&override, &member, &sentryUser, &email, &orgRole, &method, &linkedAt, &by)
	if err != nil {
		return UserRecord{}, fmt.Errorf("store: user record %s/%s: %w", teamID, slackUserID, err)
	}
	rec := UserRecord{Override: override.String, Linked: member.Valid}
	if rec.Linked {
		rec.Identity = Identity{
			TeamID: teamID, SlackUserID: slackUserID, MemberID: member.String, SentryUserID: sentryUser.String,
			Email: email.String, OrgRole: orgRole.String, Method: method.String,
			LinkedAt: time.UnixMilli(linkedAt.Int64).UTC(), LinkedBy: by.String,
		}
	}
	return rec, nil
}
