package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// AuditEntry is one attempted change, allowed or denied.
type AuditEntry struct {
	ID int64
	At time.Time // zero means now when appending

	TeamID, UserID, ChannelID string // Slack workspace, user and channel
	SentryMemberID            string // the user's linked member; empty if unlinked

	Action, IssueID string
	Decision        string // "allow" or "deny"
	Reason          string // reason code of the decision
	Outcome         string // "ok", "error: <text>", or "" when denied or not attempted
	Detail          string // the change requested, e.g. "status=resolved inNextRelease"
}

// AuditFilter selects audit entries; zero fields do not filter.
type AuditFilter struct {
	Since   time.Time // entries at or after this instant
	IssueID string
	UserID  string // Slack user id
	Limit   int    // at most this many, the newest ones; 0 or less means 1000
}

// DefaultAuditLimit is the number of entries Audit returns when the filter
// sets no limit.
const DefaultAuditLimit = 1000

// AppendAudit adds an entry to the audit log and returns its id. The log
// is append-only: the database refuses to update or delete entries.
func (db *DB) AppendAudit(ctx context.Context, e AuditEntry) (int64, error) {
	if e.Action == "" {
		return 0, fmt.Errorf("store: append audit: action is required")
	}
	if e.Decision != "allow" && e.Decision != "deny" {
		return 0, fmt.Errorf("store: append audit %s: decision %q is neither allow nor deny", e.Action, e.Decision)
	}
	at := e.At
	if at.IsZero() {
		at = db.Now()
	}
	res, err := db.exec(ctx,
		`INSERT INTO audit_log (at, team_id, user_id, channel_id, sentry_member_id, action, issue_id, decision, reason, outcome, detail)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		at.UnixMilli(), e.TeamID, e.UserID, e.ChannelID, e.SentryMemberID, e.Action, e.IssueID,
		e.Decision, e.Reason, e.Outcome, e.Detail)
	if err != nil {
		return 0, fmt.Errorf("store: append audit %s: %w", e.Action, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("store: append audit %s: last insert id: %w", e.Action, err)
	}
	return id, nil
}

// Audit returns the entries that match f, oldest first. When more than
// f.Limit match, it returns the newest f.Limit of them, like tail(1): the
// recent past is what someone reading the log is usually after.
func (db *DB) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	var where []string
	var args []any
	if !f.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, f.Since.UnixMilli())
	}
	if f.IssueID != "" {
		where = append(where, "issue_id = ?")
		args = append(args, f.IssueID)
	}
	if f.UserID != "" {
		where = append(where, "user_id = ?")
		args = append(args, f.UserID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultAuditLimit
	}
	args = append(args, limit)

	q := `SELECT id, at, team_id, user_id, channel_id, sentry_member_id, action, issue_id, decision, reason, outcome, detail
		FROM audit_log`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	// The inner query picks the newest entries, the outer one puts them in
	// order; id breaks ties between entries of the same millisecond.
	q = `SELECT * FROM (` + q + ` ORDER BY at DESC, id DESC LIMIT ?) ORDER BY at, id`

	rows, err := db.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: audit: %w", err)
	}
	defer rows.Close()
	var list []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.TeamID, &e.UserID, &e.ChannelID, &e.SentryMemberID,
			&e.Action, &e.IssueID, &e.Decision, &e.Reason, &e.Outcome, &e.Detail); err != nil {
			return nil, fmt.Errorf("store: audit: %w", err)
		}
		e.At = time.UnixMilli(at).UTC()
		list = append(list, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: audit: %w", err)
	}
	return list, nil
}
