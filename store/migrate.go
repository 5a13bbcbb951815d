package store

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"time"
)

// migrationName is NNNN_words.sql; the number orders the files and is the
// version recorded in schema_migrations.
var migrationName = regexp.MustCompile(`^([0-9]+)_[a-z0-9_]+\.sql$`)

type migration struct {
	version int64
	name    string
}

// migrate applies, in version order, each migration in fsys not yet recorded
// in schema_migrations, one transaction per file, so a file that fails
// leaves no trace of itself.
func migrate(ctx context.Context, db *sql.DB, fsys fs.FS, now func() time.Time) error {
	list, err := readMigrations(fsys)
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT,
		applied_at TEXT
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}

	// A database migrated by a newer build has tables this build does not
	// know how to keep consistent; refuse it rather than guess.
	var newest sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if n := len(list); newest.Valid && (n == 0 || newest.Int64 > list[n-1].version) {
		return fmt.Errorf("database schema version %d is newer than this build knows", newest.Int64)
	}

	for _, m := range list {
		if err := applyMigration(ctx, db, fsys, m, now); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

func readMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var list []migration
	seen := map[int64]string{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		sub := migrationName.FindStringSubmatch(e.Name())
		if sub == nil {
			// A misnamed file would otherwise be skipped without a word.
			return nil, fmt.Errorf("migration file %s: name must look like 0001_words.sql", e.Name())
		}
		v, err := strconv.ParseInt(sub[1], 10, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration file %s: bad version number", e.Name())
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migration files %s and %s share version %d", other, e.Name(), v)
		}
		seen[v] = e.Name()
		list = append(list, migration{version: v, name: e.Name()})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].version < list[j].version })
	return list, nil
}

func applyMigration(ctx context.Context, db *sql.DB, fsys fs.FS, m migration, now func() time.Time) error {
	body, err := fs.ReadFile(fsys, m.name)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()

	// Checked inside the write transaction so that two processes opening
	// the same new file cannot both apply a migration.
	var applied int
	if err := tx.QueryRowContext(ctx,
		`SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&applied); err != nil {
		return fmt.Errorf("check applied: %w", err)
	}
	if applied > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, now().UTC().Format(time.RFC3339Nano)); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
