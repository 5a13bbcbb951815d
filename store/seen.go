package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// MarkSeen records that the unit of work named by key (for example
// "event:Ev0LINK0001") was taken, until ttl from now. It returns true when
// the caller is the first to take it: the key was absent or its record had
// expired. It returns false while an earlier record is live.
//
// A single statement decides, so of any number of concurrent callers with
// the same key exactly one gets true.
func (db *DB) MarkSeen(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if key == "" {
		return false, errors.New("store: mark seen: empty key")
	}
	// Expiries are kept in whole milliseconds; a shorter ttl would round
	// to an already expired record.
	if ttl < time.Millisecond {
		return false, fmt.Errorf("store: mark seen %s: ttl %v is under 1ms", key, ttl)
	}
	now := db.Now()
	// The upsert only rewrites an expired record; a live one makes the
	// WHERE false, nothing changes and RowsAffected is 0.
	res, err := db.exec(ctx,
		`INSERT INTO seen_keys (key, expires_at) VALUES (?1, ?2)
		 ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at
		 WHERE seen_keys.expires_at <= ?3`,
		key, now.Add(ttl).UnixMilli(), now.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("store: mark seen %s: %w", key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: mark seen %s: rows affected: %w", key, err)
	}
	return n == 1, nil
}

// ForgetSeen removes key, so that a redelivery of work that could not even
// start is taken again. Forgetting an unknown key is not an error.
func (db *DB) ForgetSeen(ctx context.Context, key string) error {
	if _, err := db.exec(ctx, `DELETE FROM seen_keys WHERE key = ?`, key); err != nil {
		return fmt.Errorf("store: forget seen %s: %w", key, err)
	}
	return nil
}

// PurgeExpired deletes the seen keys whose expiry has passed and returns how
// many it deleted.
func (db *DB) PurgeExpired(ctx context.Context) (int64, error) {
	n, err := db.purgeBatches(ctx,
		`DELETE FROM seen_keys WHERE key IN (SELECT key FROM seen_keys WHERE expires_at <= ?2 LIMIT ?1)`,
		db.Now().UnixMilli())
	if err != nil {
		return n, fmt.Errorf("store: purge expired: %w", err)
	}
	return n, nil
}
