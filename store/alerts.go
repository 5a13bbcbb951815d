package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Subscription asks for new issues of some projects that match a Sentry
// search query to be posted in a channel.
type Subscription struct {
	ID                int64
	TeamID, ChannelID string
	Projects          []string // project slugs, sorted; empty means every project
	Query             string   // Sentry search syntax; "" means every issue
	CreatedBy         string   // Slack user id
	CreatedAt         time.Time
}

// normalizeProjects trims, drops blanks and duplicates and sorts, so that
// the same set of projects is stored the same way whatever order it came in.
func normalizeProjects(ps []string) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func projectsJSON(ps []string) (string, error) {
	b, err := json.Marshal(normalizeProjects(ps))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

const subscriptionColumns = `id, team_id, channel_id, projects, query, created_by, created_at`

type rowScanner interface {
	Scan(dest ...any) error
}

func scanSubscription(r rowScanner) (Subscription, error) {
	var s Subscription
	var projects string
	var created int64
	if err := r.Scan(&s.ID, &s.TeamID, &s.ChannelID, &projects, &s.Query, &s.CreatedBy, &created); err != nil {
		return Subscription{}, err
	}
	if err := json.Unmarshal([]byte(projects), &s.Projects); err != nil {
		return Subscription{}, fmt.Errorf("subscription %d: projects: %w", s.ID, err)
	}
	if len(s.Projects) == 0 {
		s.Projects = nil
	}
	s.CreatedAt = time.UnixMilli(created).UTC()
	return s, nil
}

// AddSubscription stores s (its ID is ignored) and returns it as stored,
// with true. When the channel already has a subscription with the same
// projects and query, that one is returned with false and nothing changes.
// A zero CreatedAt means now.
func (db *DB) AddSubscription(ctx context.Context, s Subscription) (Subscription, bool, error) {
	op := fmt.Sprintf("store: add subscription %s", s.ChannelID)
	if s.ChannelID == "" {
		return Subscription{}, false, fmt.Errorf("%s: channel id is required", op)
	}
	projects, err := projectsJSON(s.Projects)
	if err != nil {
		return Subscription{}, false, fmt.Errorf("%s: %w", op, err)
	}
	query := strings.TrimSpace(s.Query)

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return Subscription{}, false, fmt.Errorf("%s: %w", op, err)
	}
	defer tx.Rollback()
	created := s.CreatedAt
	if created.IsZero() {
		created = tx.Now()
	}
	res, err := tx.ExecContext(ctx,
		`INSERT INTO subscriptions (team_id, channel_id, projects, query, created_by, created_at)
		 VALUES (?, ?, ?, ?, ?, ?)
		 ON CONFLICT (channel_id, projects, query) DO NOTHING`,
		s.TeamID, s.ChannelID, projects, query, s.CreatedBy, created.UnixMilli())
	if err != nil {
		return Subscription{}, false, fmt.Errorf("%s: %w", op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return Subscription{}, false, fmt.Errorf("%s: rows affected: %w", op, err)
	}
	got, err := scanSubscription(tx.QueryRowContext(ctx,
		`SELECT `+subscriptionColumns+` FROM subscriptions WHERE channel_id = ? AND projects = ? AND query = ?`,
		s.ChannelID, projects, query))
	if err != nil {
		return Subscription{}, false, fmt.Errorf("%s: read back: %w", op, err)
	}
	if err := tx.Commit(); err != nil {
		return Subscription{}, false, fmt.Errorf("%s: commit: %w", op, err)
	}
	return got, n == 1, nil
}

// RemoveSubscriptions deletes the channel's subscription with exactly these
// projects (in any order) and query, or, when both are empty, every
// subscription of the channel. It returns how many it deleted.
func (db *DB) RemoveSubscriptions(ctx context.Context, channelID string, projects []string, query string) (int64, error) {
	op := fmt.Sprintf("store: remove subscriptions %s", channelID)
	var res sql.Result
	var err error
	query = strings.TrimSpace(query)
	if len(normalizeProjects(projects)) == 0 && query == "" {
		res, err = db.exec(ctx, `DELETE FROM subscriptions WHERE channel_id = ?`, channelID)
	} else {
		var ps string
		if ps, err = projectsJSON(projects); err != nil {
			return 0, fmt.Errorf("%s: %w", op, err)
		}
		res, err = db.exec(ctx,
			`DELETE FROM subscriptions WHERE channel_id = ? AND projects = ? AND query = ?`, channelID, ps, query)
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("%s: rows affected: %w", op, err)
	}
	return n, nil
}

// Subscriptions lists a channel's subscriptions, or every channel's when
// channelID is "", oldest first.
func (db *DB) Subscriptions(ctx context.Context, channelID string) ([]Subscription, error) {
	q := `SELECT ` + subscriptionColumns + ` FROM subscriptions`
	var args []any
	if channelID != "" {
		q += ` WHERE channel_id = ?`
		args = append(args, channelID)
	}
	list, err := queryAll(ctx, prepared{db}, scanSubscription, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: subscriptions %s: %w", channelID, err)
	}
	return list, nil
}

// Subscription returns one subscription, or an error wrapping ErrNotFound.
func (db *DB) Subscription(ctx context.Context, id int64) (Subscription, error) {
	s, err := scanSubscription(db.queryRow(ctx,
		`SELECT `+subscriptionColumns+` FROM subscriptions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Subscription{}, fmt.Errorf("store: subscription %d: %w", id, err)
	}
	return s, nil
}

// Kinds of card.
const (
	CardMessage = "message" // a message sentrybot posted
	CardUnfurl  = "unfurl"  // an attachment sentrybot unfurled into someone's message
)

// Card is an issue card sentrybot put in Slack.
type Card struct {
	IssueID   string
	ChannelID string // the channel id Slack answered with
	TS        string // the message's ts
	UnfurlURL string // the unfurled link; "" for a message
	Kind      string // CardMessage or CardUnfurl
	// Alert marks a top-level alert message: later alerts for the issue in
	// the channel go into its thread.
	Alert bool
	// Footer is the card's context line, drawn again when the card is
	// updated; "" for none.
	Footer   string
	PostedAt time.Time // zero means now
}

func (c Card) validate() error {
	switch {
	case c.IssueID == "" || c.ChannelID == "" || c.TS == "":
		return errors.New("issue id, channel id and ts are required")
	case c.Kind == CardMessage && c.UnfurlURL != "":
		return errors.New("a message card has no unfurl url")
	case c.Kind == CardUnfurl && c.UnfurlURL == "":
		return errors.New("an unfurl card needs its url")
	case c.Kind != CardMessage && c.Kind != CardUnfurl:
		return fmt.Errorf("unknown card kind %q", c.Kind)
	}
	return nil
}

// cardExecer is what recordCard needs of a DB or a Tx.
type cardExecer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func recordCard(ctx context.Context, x cardExecer, c Card, now time.Time) error {
	if err := c.validate(); err != nil {
		return err
	}
	at := c.PostedAt
	if at.IsZero() {
		at = now
	}
	_, err := x.ExecContext(ctx,
		`INSERT INTO cards (channel_id, ts, unfurl_url, issue_id, kind, alert, footer, posted_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		 ON CONFLICT (channel_id, ts, unfurl_url) DO UPDATE SET
			issue_id = excluded.issue_id, kind = excluded.kind, alert = excluded.alert,
			footer = excluded.footer, posted_at = excluded.posted_at`,
		c.ChannelID, c.TS, c.UnfurlURL, c.IssueID, c.Kind, c.Alert, c.Footer, at.UnixMilli())
	return err
}

// RecordCard remembers a card so that changes to its issue update it. A
// card with the same channel, ts and unfurl URL is replaced.
func (db *DB) RecordCard(ctx context.Context, c Card) error {
	if err := recordCard(ctx, prepared{db}, c, db.Now()); err != nil {
		return fmt.Errorf("store: record card %s/%s: %w", c.ChannelID, c.TS, err)
	}
	return nil
}

const cardColumns = `issue_id, channel_id, ts, unfurl_url, kind, alert, footer, posted_at`

func scanCard(r rowScanner) (Card, error) {
	var c Card
	var at int64
	if err := r.Scan(&c.IssueID, &c.ChannelID, &c.TS, &c.UnfurlURL, &c.Kind, &c.Alert, &c.Footer, &at); err != nil {
		return Card{}, err
	}
	c.PostedAt = time.UnixMilli(at).UTC()
	return c, nil
}

// CardsForIssue lists the issue's cards posted at or after since, oldest
// first.
func (db *DB) CardsForIssue(ctx context.Context, issueID string, since time.Time) ([]Card, error) {
	list, err := queryAll(ctx, prepared{db}, scanCard,
		`SELECT `+cardColumns+` FROM cards WHERE issue_id = ? AND posted_at >= ?
		 ORDER BY posted_at, channel_id, ts, unfurl_url`, issueID, since.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("store: cards for issue %s: %w", issueID, err)
	}
	return list, nil
}

// FirstAlertCard returns the earliest top-level alert message for the issue
// in the channel posted at or after since, or an error wrapping ErrNotFound.
func (db *DB) FirstAlertCard(ctx context.Context, issueID, channelID string, since time.Time) (Card, error) {
	c, err := scanCard(db.queryRow(ctx,
		`SELECT `+cardColumns+` FROM cards
		 WHERE issue_id = ? AND channel_id = ? AND kind = 'message' AND alert = 1 AND posted_at >= ?
		 ORDER BY posted_at, ts LIMIT 1`, issueID, channelID, since.UnixMilli()))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Card{}, fmt.Errorf("store: first alert card %s in %s: %w", issueID, channelID, err)
	}
	return c, nil
}

// Inbox jobs.
const (
	JobAlert = "alert" // an alert to route
	JobSync  = "sync"  // an issue change to show on its cards
)

// States of inbox and outbox items.
const (
	ItemPending = "pending"
	ItemDone    = "done"
	ItemFailed  = "failed"  // gave up; Error says why
	ItemDropped = "dropped" // outbox only: nothing to post after all
)

// InboxItem is received work waiting to be routed.
type InboxItem struct {
	ID         int64
	DeliveryID string // "" for none: the item is never taken for a redelivery
	Job        string // JobAlert or JobSync
	Payload    []byte // JSON
	State      string
	Attempts   int
	Error      string
	CreatedAt  time.Time // zero means now when enqueueing
}

// OutboxItem is a message waiting to be posted to one channel.
type OutboxItem struct {
	ID        int64
	Key       string // unique: routing the same thing twice adds nothing
	ChannelID string // an id or a #name
	IssueID   string
	Issue     []byte // the issue as JSON, as last known
	Payload   []byte // JSON; "{}" when nil
	State     string
	Attempts  int
	Error     string
	PostedTS  string
	CreatedAt time.Time
}

// idList is a JSON array parameter for `IN (SELECT value FROM json_each(?))`,
// which keeps clear of SQLite's limit on bound parameters.
func idList(ids []int64) (string, error) {
	if ids == nil {
		ids = []int64{}
	}
	b, err := json.Marshal(ids)
	return string(b), err
}

// EnqueueInbox stores an item as pending and due at its CreatedAt. It
// returns false, storing nothing, when an item with the same DeliveryID
// exists (in any state).
func (db *DB) EnqueueInbox(ctx context.Context, it InboxItem) (bool, error) {
	op := fmt.Sprintf("store: enqueue %s %q", it.Job, it.DeliveryID)
	if !json.Valid(it.Payload) {
		return false, fmt.Errorf("%s: payload is not JSON", op)
	}
	at := it.CreatedAt
	if at.IsZero() {
		at = db.Now()
	}
	var delivery any
	if it.DeliveryID != "" {
		delivery = it.DeliveryID
	}
	ms := at.UnixMilli()
	res, err := db.exec(ctx,
		`INSERT INTO alert_inbox (delivery_id, job, payload, next_at, created_at, updated_at)
		 VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (delivery_id) DO NOTHING`,
		delivery, it.Job, string(it.Payload), ms, ms, ms)
	if err != nil {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("%s: rows affected: %w", op, err)
	}
	return n == 1, nil
}

const inboxColumns = `id, coalesce(delivery_id, ''), job, payload, state, attempts, error, created_at`

func scanInbox(r rowScanner) (InboxItem, error) {
	var it InboxItem
	var payload string
	var created int64
	if err := r.Scan(&it.ID, &it.DeliveryID, &it.Job, &payload, &it.State, &it.Attempts, &it.Error, &created); err != nil {
		return InboxItem{}, err
	}
	it.Payload = []byte(payload)
	it.CreatedAt = time.UnixMilli(created).UTC()
	return it, nil
}

// querier runs a query: the DB (prepared statements) or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryAll runs q and scans every row with scan.
func queryAll[T any](ctx context.Context, db querier, scan func(rowScanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var list []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
	}
	return list, rows.Err()
}

// DueInbox returns up to limit pending inbox items due at now, oldest first.
func (db *DB) DueInbox(ctx context.Context, now time.Time, limit int) ([]InboxItem, error) {
	list, err := queryAll(ctx, prepared{db}, scanInbox,
		`SELECT `+inboxColumns+` FROM alert_inbox WHERE state = 'pending' AND next_at <= ?
		 ORDER BY id LIMIT ?`, now.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("store: due inbox: %w", err)
	}
	return list, nil
}

// InboxItems lists the inbox items in a state, oldest first.
func (db *DB) InboxItems(ctx context.Context, state string) ([]InboxItem, error) {
	list, err := queryAll(ctx, prepared{db}, scanInbox,
		`SELECT `+inboxColumns+` FROM alert_inbox WHERE state = ? ORDER BY id`, state)
	if err != nil {
		return nil, fmt.Errorf("store: inbox items %s: %w", state, err)
	}
	return list, nil
}

// RetryInbox counts a failed attempt at a pending inbox item and makes it
// due again at next.
func (db *DB) RetryInbox(ctx context.Context, id int64, next time.Time, reason string) error {
	if _, err := db.exec(ctx,
		`UPDATE alert_inbox SET attempts = attempts + 1, next_at = ?, error = ?, updated_at = ?
		 WHERE id = ? AND state = 'pending'`,
		next.UnixMilli(), reason, db.Now().UnixMilli(), id); err != nil {
		return fmt.Errorf("store: retry inbox %d: %w", id, err)
	}
	return nil
}

// CloseInbox ends a pending inbox item as done or failed, with a reason
// (for failed, the error; for done, why nothing was routed, or "").
func (db *DB) CloseInbox(ctx context.Context, id int64, state, reason string) error {
	if state != ItemDone && state != ItemFailed {
		return fmt.Errorf("store: close inbox %d: state %q is neither done nor failed", id, state)
	}
	if _, err := db.exec(ctx,
		`UPDATE alert_inbox SET state = ?, error = ?, updated_at = ? WHERE id = ? AND state = 'pending'`,
		state, reason, db.Now().UnixMilli(), id); err != nil {
		return fmt.Errorf("store: close inbox %d: %w", id, err)
	}
	return nil
}

// RouteInbox adds the outbox items and marks the inbox item done, in one
// transaction, so an alert is either still in the inbox or queued for
// every channel it goes to. Items whose key is already in the outbox are
// skipped. It returns how many were added. A zero CreatedAt means now.
func (db *DB) RouteInbox(ctx context.Context, inboxID int64, items []OutboxItem) (int, error) {
	op := fmt.Sprintf("store: route inbox %d", inboxID)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	defer tx.Rollback()
	now := tx.Now().UnixMilli()
	added := 0
	for _, it := range items {
		if it.Key == "" || it.ChannelID == "" || it.IssueID == "" {
			return 0, fmt.Errorf("%s: outbox item needs a key, channel and issue id", op)
		}
		payload := it.Payload
		if payload == nil {
			payload = []byte("{}")
		}
		if !json.Valid(it.Issue) || !json.Valid(payload) {
			return 0, fmt.Errorf("%s: outbox item %s: issue or payload is not JSON", op, it.Key)
		}
		at := now
		if !it.CreatedAt.IsZero() {
			at = it.CreatedAt.UnixMilli()
		}
		res, err := tx.ExecContext(ctx,
			`INSERT INTO alert_outbox (key, channel_id, issue_id, issue, payload, next_at, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`,
			it.Key, it.ChannelID, it.IssueID, string(it.Issue), string(payload), at, at, now)
		if err != nil {
			return 0, fmt.Errorf("%s: outbox item %s: %w", op, it.Key, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return 0, fmt.Errorf("%s: rows affected: %w", op, err)
		} else if n == 1 {
			added++
		}
	}
	if _, err := tx.ExecContext(ctx,
		`UPDATE alert_inbox SET state = 'done', updated_at = ? WHERE id = ?`, now, inboxID); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("%s: commit: %w", op, err)
	}
	return added, nil
}

const outboxColumns = `id, key, channel_id, issue_id, issue, payload, state, attempts, error, posted_ts, created_at`

func scanOutbox(r rowScanner) (OutboxItem, error) {
	var it OutboxItem
	var issue, payload string
	var created int64
	if err := r.Scan(&it.ID, &it.Key, &it.ChannelID, &it.IssueID, &issue, &payload, &it.State,
		&it.Attempts, &it.Error, &it.PostedTS, &created); err != nil {
		return OutboxItem{}, err
	}
	it.Issue, it.Payload = []byte(issue), []byte(payload)
	it.CreatedAt = time.UnixMilli(created).UTC()
	return it, nil
}

// DueOutbox returns up to limit pending outbox items due at now, oldest
// first.
func (db *DB) DueOutbox(ctx context.Context, now time.Time, limit int) ([]OutboxItem, error) {
	list, err := queryAll(ctx, prepared{db}, scanOutbox,
		`SELECT `+outboxColumns+` FROM alert_outbox WHERE state = 'pending' AND next_at <= ?
		 ORDER BY id LIMIT ?`, now.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("store: due outbox: %w", err)
	}
	return list, nil
}

// OutboxItems lists the outbox items in a state, oldest first.
func (db *DB) OutboxItems(ctx context.Context, state string) ([]OutboxItem, error) {
	list, err := queryAll(ctx, prepared{db}, scanOutbox,
		`SELECT `+outboxColumns+` FROM alert_outbox WHERE state = ? ORDER BY id`, state)
	if err != nil {
		return nil, fmt.Errorf("store: outbox items %s: %w", state, err)
	}
	return list, nil
}

// RetryOutbox counts a failed attempt at pending outbox items and makes
// them due again at next.
func (db *DB) RetryOutbox(ctx context.Context, ids []int64, next time.Time, reason string) error {
	list, err := idList(ids)
	if err != nil {
		return fmt.Errorf("store: retry outbox: %w", err)
	}
	if _, err := db.exec(ctx,
		`UPDATE alert_outbox SET attempts = attempts + 1, next_at = ?, error = ?, updated_at = ?
		 WHERE id IN (SELECT value FROM json_each(?)) AND state = 'pending'`,
		next.UnixMilli(), reason, db.Now().UnixMilli(), list); err != nil {
		return fmt.Errorf("store: retry outbox %v: %w", ids, err)
	}
	return nil
}

// CloseOutbox ends pending outbox items as failed or dropped, with the
// reason.
func (db *DB) CloseOutbox(ctx context.Context, ids []int64, state, reason string) error {
	if state != ItemFailed && state != ItemDropped {
		return fmt.Errorf("store: close outbox: state %q is neither failed nor dropped", state)
	}
	list, err := idList(ids)
	if err != nil {
		return fmt.Errorf("store: close outbox: %w", err)
	}
	if _, err := db.exec(ctx,
		`UPDATE alert_outbox SET state = ?, error = ?, updated_at = ?
		 WHERE id IN (SELECT value FROM json_each(?)) AND state = 'pending'`,
		state, reason, db.Now().UnixMilli(), list); err != nil {
		return fmt.Errorf("store: close outbox %v: %w", ids, err)
	}
	return nil
}

// DeliverOutbox marks outbox items done, posted as the message postedTS,
// and records the cards that message carries, in one transaction: after a
// restart an item is either pending or has its card.
func (db *DB) DeliverOutbox(ctx context.Context, ids []int64, postedTS string, cards []Card) error {
	op := fmt.Sprintf("store: deliver outbox %v", ids)
	list, err := idList(ids)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx,
		`UPDATE alert_outbox SET state = 'done', posted_ts = ?, error = '', updated_at = ?
		 WHERE id IN (SELECT value FROM json_each(?)) AND state = 'pending'`,
		postedTS, tx.Now().UnixMilli(), list); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	for _, c := range cards {
		if err := recordCard(ctx, tx, c, tx.Now()); err != nil {
			return fmt.Errorf("%s: card %s/%s: %w", op, c.ChannelID, c.TS, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", op, err)
	}
	return nil
}

// RefreshOutboxIssue replaces the issue JSON of the issue's pending outbox
// items, so a message not yet posted shows the issue as it is now. It
// returns how many items it changed.
func (db *DB) RefreshOutboxIssue(ctx context.Context, issueID string, issue []byte) (int64, error) {
	op := fmt.Sprintf("store: refresh outbox issue %s", issueID)
	if !json.Valid(issue) {
		return 0, fmt.Errorf("%s: issue is not JSON", op)
	}
	res, err := db.exec(ctx,
		`UPDATE alert_outbox SET issue = ? WHERE issue_id = ? AND state = 'pending'`, string(issue), issueID)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("%s: rows affected: %w", op, err)
	}
	return n, nil
}

// NextAlertDue returns the earliest time after after at which a pending
// inbox or outbox item falls due, and false when none will.
func (db *DB) NextAlertDue(ctx context.Context, after time.Time) (time.Time, bool, error) {
	var next sql.NullInt64
	ms := after.UnixMilli()
	if err := db.queryRow(ctx,
		`SELECT min(n) FROM (
			SELECT min(next_at) AS n FROM alert_inbox WHERE state = 'pending' AND next_at > ?1
			UNION ALL
			SELECT min(next_at) FROM alert_outbox WHERE state = 'pending' AND next_at > ?1)`, ms).Scan(&next); err != nil {
		return time.Time{}, false, fmt.Errorf("store: next alert due: %w", err)
	}
	if !next.Valid {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(next.Int64).UTC(), true, nil
}

// OutboxDepth counts the pending inbox and outbox items: alerts and changes
// received and not yet in Slack.
func (db *DB) OutboxDepth(ctx context.Context) (int, error) {
	var n int
	if err := db.queryRow(ctx,
		`SELECT (SELECT count(*) FROM alert_inbox WHERE state = 'pending')
		      + (SELECT count(*) FROM alert_outbox WHERE state = 'pending')`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: outbox depth: %w", err)
	}
	return n, nil
}

// PurgeAlerts deletes finished inbox and outbox items last changed before
// finishedBefore, and cards posted before cardsBefore, in batches (see
// purgeBatches). It returns how many rows it deleted. Pending items are
// never deleted.
func (db *DB) PurgeAlerts(ctx context.Context, finishedBefore, cardsBefore time.Time) (int64, error) {
	var total int64
	for _, st := range []struct {
		q   string
		arg int64
	}{
		{`DELETE FROM alert_inbox WHERE id IN (
			SELECT id FROM alert_inbox WHERE state <> 'pending' AND updated_at < ?2 LIMIT ?1)`, finishedBefore.UnixMilli()},
		{`DELETE FROM alert_outbox WHERE id IN (
			SELECT id FROM alert_outbox WHERE state <> 'pending' AND updated_at < ?2 LIMIT ?1)`, finishedBefore.UnixMilli()},
		{`DELETE FROM cards WHERE (channel_id, ts, unfurl_url) IN (
			SELECT channel_id, ts, unfurl_url FROM cards WHERE posted_at < ?2 LIMIT ?1)`, cardsBefore.UnixMilli()},
	} {
		n, err := db.purgeBatches(ctx, st.q, st.arg)
		total += n
		if err != nil {
			return total, fmt.Errorf("store: purge alerts: %w", err)
		}
	}
	return total, nil
}

// RememberChannelName records the channel id Slack answered for a channel
// named by name, replacing an older answer.
func (db *DB) RememberChannelName(ctx context.Context, name, channelID string) error {
	if name == "" || channelID == "" {
		return fmt.Errorf("store: remember channel name %q: name and id are required", name)
	}
	if _, err := db.exec(ctx,
		`INSERT INTO slack_channel_names (name, channel_id, updated_at) VALUES (?, ?, ?)
		 ON CONFLICT (name) DO UPDATE SET channel_id = excluded.channel_id, updated_at = excluded.updated_at`,
		name, channelID, db.Now().UnixMilli()); err != nil {
		return fmt.Errorf("store: remember channel name %q: %w", name, err)
	}
	return nil
}

// ChannelNames returns every remembered channel name with its id.
func (db *DB) ChannelNames(ctx context.Context) (map[string]string, error) {
	rows, err := db.query(ctx, `SELECT name, channel_id FROM slack_channel_names`)
	if err != nil {
		return nil, fmt.Errorf("store: channel names: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, id string
		if err := rows.Scan(&name, &id); err != nil {
			return nil, fmt.Errorf("store: channel names: %w", err)
		}
		out[name] = id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: channel names: %w", err)
	}
	return out, nil
}

// SetCardFooter changes the footer a recorded card is redrawn with (after
// someone acted on it, "Resolved by …"). A card never recorded is left
// alone; the answer says whether one was changed.
func (db *DB) SetCardFooter(ctx context.Context, channelID, ts, unfurlURL, footer string) (bool, error) {
	res, err := db.exec(ctx, `UPDATE cards SET footer = ? WHERE channel_id = ? AND ts = ? AND unfurl_url = ?`,
		footer, channelID, ts, unfurlURL)
	if err != nil {
		return false, fmt.Errorf("store: set card footer %s/%s: %w", channelID, ts, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: set card footer %s/%s: %w", channelID, ts, err)
	}
	return n > 0, nil
}
