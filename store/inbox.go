package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// PendingEnvelope is a Socket Mode envelope that was recorded and
// acknowledged but whose work has not been finished.
type PendingEnvelope struct {
	Key        string    // the unit of work, e.g. "event:Ev0LINK0001"
	EnvelopeID string    // Slack's envelope_id
	Kind       string    // what the work is, for logs: "link_shared", "command", "action"
	Envelope   []byte    // the raw Socket Mode message, as it arrived
	Attempts   int       // how many times the work was handed to a worker
	ArrivedAt  time.Time // when it was admitted, UTC
}

// AdmitEnvelope records an envelope before it is acknowledged. It returns
// true when the envelope is new; false when an envelope with the same key or
// the same envelope id was admitted before and is still pending, or is done
// and not yet ttl old: a redelivery. A row admitted counts as one attempt.
//
// It is one statement on the open pool, so of any number of concurrent
// callers with the same key exactly one gets true, and the caller pays for
// one write and nothing else before its ack.
func (db *DB) AdmitEnvelope(ctx context.Context, key, envelopeID, kind string, envelope []byte, ttl time.Duration) (bool, error) {
	switch {
	case key == "":
		return false, errors.New("store: admit envelope: empty key")
	case envelopeID == "":
		return false, fmt.Errorf("store: admit envelope %s: empty envelope id", key)
	case len(envelope) == 0:
		return false, fmt.Errorf("store: admit envelope %s: empty envelope", key)
	case ttl < time.Millisecond:
		// Expiries are whole milliseconds; a shorter ttl would round to a
		// row already expired.
		return false, fmt.Errorf("store: admit envelope %s: ttl %v is under 1ms", key, ttl)
	}
	now := db.Now()
	res, err := db.admitExec(ctx, admitSQL,
		key, envelopeID, kind, envelope, now.UnixMilli(), now.Add(ttl).UnixMilli())
	if err != nil {
		return false, fmt.Errorf("store: admit envelope %s: %w", key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: admit envelope %s: rows affected: %w", key, err)
	}
	return n == 1, nil
}

// admitSQL records an envelope unless its key or envelope id is live.
// The write lock is taken before the NOT EXISTS test runs, so the test and
// the insert are one step. A live row with either the key or the envelope
// id makes the SELECT empty and nothing is written; REPLACE only ever
// removes expired rows that share the key or the id.
const admitSQL = `INSERT OR REPLACE INTO envelope_inbox (key, envelope_id, kind, envelope, attempts, arrived_at, expires_at)
	SELECT ?1, ?2, ?3, ?4, 1, ?5, ?6
	WHERE NOT EXISTS (
		SELECT 1 FROM envelope_inbox
		WHERE (key = ?1 OR envelope_id = ?2) AND (done_at IS NULL OR expires_at > ?5))`

// FinishEnvelope marks the work of key done, whatever its outcome, and drops
// the raw envelope: it carries response_urls and what users typed, which
// need not outlive the work. The row stays, so redeliveries are still
// recognised, until PurgeEnvelopes removes it. Finishing an unknown or an
// already finished key does nothing.
func (db *DB) FinishEnvelope(ctx context.Context, key string) error {
	if _, err := db.exec(ctx,
		`UPDATE envelope_inbox SET done_at = ?, envelope = NULL WHERE key = ? AND done_at IS NULL`,
		db.Now().UnixMilli(), key); err != nil {
		return fmt.Errorf("store: finish envelope %s: %w", key, err)
	}
	return nil
}

// RetryEnvelope counts one more attempt at the pending work of key. It
// returns an error wrapping ErrNotFound when key is not pending.
func (db *DB) RetryEnvelope(ctx context.Context, key string) error {
	res, err := db.exec(ctx,
		`UPDATE envelope_inbox SET attempts = attempts + 1 WHERE key = ? AND done_at IS NULL`, key)
	if err != nil {
		return fmt.Errorf("store: retry envelope %s: %w", key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: retry envelope %s: rows affected: %w", key, err)
	}
	if n == 0 {
		return fmt.Errorf("store: retry envelope %s: %w", key, ErrNotFound)
	}
	return nil
}

// PendingEnvelopes returns the envelopes whose work is not done, oldest
// arrival first.
func (db *DB) PendingEnvelopes(ctx context.Context) ([]PendingEnvelope, error) {
	rows, err := db.query(ctx,
		`SELECT key, envelope_id, kind, envelope, attempts, arrived_at
		 FROM envelope_inbox WHERE done_at IS NULL ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("store: pending envelopes: %w", err)
	}
	defer rows.Close()
	var list []PendingEnvelope
	for rows.Next() {
		var p PendingEnvelope
		var arrived int64
		if err := rows.Scan(&p.Key, &p.EnvelopeID, &p.Kind, &p.Envelope, &p.Attempts, &arrived); err != nil {
			return nil, fmt.Errorf("store: pending envelopes: %w", err)
		}
		p.ArrivedAt = time.UnixMilli(arrived).UTC()
		list = append(list, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: pending envelopes: %w", err)
	}
	return list, nil
}

// PurgeEnvelopes deletes done envelopes whose ttl has passed, in batches
// (see purgeBatches), and returns how many it deleted. Pending envelopes
// are never deleted.
func (db *DB) PurgeEnvelopes(ctx context.Context) (int64, error) {
	n, err := db.purgeBatches(ctx,
		`DELETE FROM envelope_inbox WHERE seq IN (
			SELECT seq FROM envelope_inbox WHERE done_at IS NOT NULL AND expires_at <= ?2 LIMIT ?1)`,
		db.Now().UnixMilli())
	if err != nil {
		return n, fmt.Errorf("store: purge envelopes: %w", err)
	}
	return n, nil
}

// admitExec runs one write on the intake connection. When another
// connection holds the write lock it tries again after a short pause,
// growing from 50µs to 1ms, for up to busyTimeout: writes here last tens
// of microseconds, so the lock is usually free again long before SQLite's
// own busy handler (which sleeps 1, 2, 5, 10… ms) would look.
func (db *DB) admitExec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	stmt, err := db.intakeStmts.get(ctx, db.intake, query)
	if err != nil {
		return nil, err
	}
	const busyTimeout = 5 * time.Second
	deadline := time.Now().Add(busyTimeout)
	pause := 50 * time.Microsecond
	for {
		res, err := stmt.ExecContext(ctx, args...)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return res, err
		}
		if err := pauseFor(ctx, pause); err != nil {
			return nil, err
		}
		pause = min(pause*2, time.Millisecond)
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY (another connection
// holds the lock).
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}
