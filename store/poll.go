package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// PollState is how far the poller has got with one subscription.
type PollState struct {
	SubscriptionID int64
	// Initialized is set once the first poll recorded what already matched.
	Initialized bool
	// Watermark is the newest first-seen time among the recorded issues;
	// zero when none had one.
	Watermark time.Time
	// Floor is set when the first poll stopped at its page limit: issues
	// first seen before it were there before the subscription and were left
	// unrecorded. Zero when the first poll saw every match.
	Floor     time.Time
	UpdatedAt time.Time
}

// PollIssue is an issue as a subscription's poll last saw it.
type PollIssue struct {
	IssueID   string
	Status    string
	Substatus string
	Assignee  string // "user:<id>", "team:<id>", or "" for nobody
}

// pollMs stores a time as unix milliseconds, the zero time as 0.
func pollMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// pollTime reads pollMs back.
func pollTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// PollState returns the poll progress of a subscription. A subscription
// never polled has a zero state (Initialized false), not an error.
func (db *DB) PollState(ctx context.Context, subID int64) (PollState, error) {
	st := PollState{SubscriptionID: subID}
	var watermark, floor, updated int64
	err := db.queryRow(ctx,
		`SELECT initialized, watermark_ms, floor_ms, updated_at FROM poll_state WHERE subscription_id = ?`,
		subID).Scan(&st.Initialized, &watermark, &floor, &updated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return st, nil
	case err != nil:
		return PollState{}, fmt.Errorf("store: poll state %d: %w", subID, err)
	}
	st.Watermark, st.Floor, st.UpdatedAt = pollTime(watermark), pollTime(floor), pollTime(updated)
	return st, nil
}

// InitPoll records the outcome of a subscription's first poll in one
// transaction: the issues that already matched, the watermark and floor,
// and that the subscription is initialized. Calling it again (a first poll
// that is redone) replaces the state and adds to the recorded issues.
func (db *DB) InitPoll(ctx context.Context, subID int64, watermark, floor time.Time, issues []PollIssue) error {
	op := fmt.Sprintf("store: init poll %d", subID)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer tx.Rollback()
	now := tx.Now().UnixMilli()
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO poll_state (subscription_id, watermark_ms, floor_ms, initialized, updated_at)
		 VALUES (?, ?, ?, 1, ?)
		 ON CONFLICT (subscription_id) DO UPDATE SET
			watermark_ms = excluded.watermark_ms, floor_ms = excluded.floor_ms,
			initialized = 1, updated_at = excluded.updated_at`,
		subID, pollMs(watermark), pollMs(floor), now); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	for _, is := range issues {
		if err := upsertPollSeen(ctx, tx, subID, is, now); err != nil {
			return fmt.Errorf("%s: issue %s: %w", op, is.IssueID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", op, err)
	}
	return nil
}

// pollExecer is what upsertPollSeen needs of a DB or a Tx.
type pollExecer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func upsertPollSeen(ctx context.Context, x pollExecer, subID int64, is PollIssue, nowMs int64) error {
	if is.IssueID == "" {
		return errors.New("empty issue id")
	}
	_, err := x.ExecContext(ctx,
		`INSERT INTO poll_seen (subscription_id, issue_id, status, substatus, assignee, seen_at)
		 VALUES (?, ?, ?, ?, ?, ?)
		 ON CONFLICT (subscription_id, issue_id) DO UPDATE SET
			status = excluded.status, substatus = excluded.substatus, assignee = excluded.assignee`,
		subID, is.IssueID, is.Status, is.Substatus, is.Assignee, nowMs)
	return err
}

// MarkPollSeen records an issue as seen by a subscription's poll, or
// updates the state stored for it. The subscription must have been
// initialized with InitPoll.
func (db *DB) MarkPollSeen(ctx context.Context, subID int64, is PollIssue) error {
	if err := upsertPollSeen(ctx, prepared{db}, subID, is, db.Now().UnixMilli()); err != nil {
		return fmt.Errorf("store: mark poll seen %d/%s: %w", subID, is.IssueID, err)
	}
	return nil
}

// PollSeen returns, of the given issues, those a subscription's poll has
// recorded, by issue id.
func (db *DB) PollSeen(ctx context.Context, subID int64, issueIDs []string) (map[string]PollIssue, error) {
	op := fmt.Sprintf("store: poll seen %d", subID)
	out := make(map[string]PollIssue, len(issueIDs))
	if len(issueIDs) == 0 {
		return out, nil
	}
	// One JSON parameter instead of one per id keeps clear of SQLite's
	// limit on bound parameters.
	ids, err := json.Marshal(issueIDs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	rows, err := db.query(ctx,
		`SELECT issue_id, status, substatus, assignee FROM poll_seen
		 WHERE subscription_id = ? AND issue_id IN (SELECT value FROM json_each(?))`,
		subID, string(ids))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var is PollIssue
		if err := rows.Scan(&is.IssueID, &is.Status, &is.Substatus, &is.Assignee); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		out[is.IssueID] = is
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// AdvancePoll moves a subscription's watermark forward to watermark; an
// older watermark leaves it where it is. It returns an error wrapping
// ErrNotFound when the subscription was never initialized.
func (db *DB) AdvancePoll(ctx context.Context, subID int64, watermark time.Time) error {
	op := fmt.Sprintf("store: advance poll %d", subID)
	res, err := db.exec(ctx,
		`UPDATE poll_state SET watermark_ms = max(watermark_ms, ?), updated_at = ?
		 WHERE subscription_id = ?`,
		pollMs(watermark), db.Now().UnixMilli(), subID)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: rows affected: %w", op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return nil
}

// PrunePoll deletes the poll state and recorded issues of every
// subscription not in keep and returns how many subscriptions it removed.
// An empty keep removes them all.
func (db *DB) PrunePoll(ctx context.Context, keep []int64) (int64, error) {
	if keep == nil {
		keep = []int64{}
	}
	ids, err := json.Marshal(keep)
	if err != nil {
		return 0, fmt.Errorf("store: prune poll: %w", err)
	}
	// poll_seen rows go with their poll_state row (ON DELETE CASCADE).
	res, err := db.exec(ctx,
		`DELETE FROM poll_state WHERE subscription_id NOT IN (SELECT value FROM json_each(?))`,
		string(ids))
	if err != nil {
		return 0, fmt.Errorf("store: prune poll: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: prune poll: rows affected: %w", err)
	}
	return n, nil
}
