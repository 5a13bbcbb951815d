package store

import (
	"context"
	"fmt"
	"time"
)

// Purges delete in batches. One DELETE of everything expired holds
// SQLite's write lock for as long as it runs, and after a day of steady
// traffic that is hundreds of thousands of rows: at 500 envelopes/s about
// half a second every purge in which no envelope can be recorded, and so
// none acknowledged. A batch of 256 holds the lock under a millisecond,
// and the pause after it lets waiting writers in before the next.
const (
	purgeBatch = 256
	purgePause = 5 * time.Millisecond
)

// purgeBatches runs query, a DELETE of at most ?1 rows (the batch size)
// whose other parameters are args, until a batch deletes fewer than a full
// batch or ctx ends. It returns how many rows it deleted.
func (db *DB) purgeBatches(ctx context.Context, query string, args ...any) (int64, error) {
	params := append([]any{purgeBatch}, args...)
	var total int64
	for {
		res, err := db.exec(ctx, query, params...)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("rows affected: %w", err)
		}
		total += n
		if n < purgeBatch {
			return total, nil
		}
		if err := pauseFor(ctx, purgePause); err != nil {
			return total, err
		}
	}
}

// pauseFor waits for d, or less if ctx ends first, which it then returns
// the error of.
func pauseFor(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
