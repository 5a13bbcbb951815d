// Package store is sentrybot's SQLite database: one file, opened through the
// pure-Go modernc.org/sqlite driver, with embedded migrations.
//
// Time convention: every instant the store compares or computes with
// (seen_keys.expires_at, health.checked_at, and columns later migrations add
// for the same purpose) is an INTEGER of unix milliseconds, UTC, so range
// tests are plain integer comparisons that an index can serve.
// schema_migrations.applied_at is the one exception: it is only read by
// people, so it is TEXT in RFC 3339 (nanoseconds, UTC).
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var embeddedMigrations embed.FS

// Every connection the pool opens runs these, because SQLite pragmas are per
// connection; setting them once after sql.Open would reach only one of them.
// Format of _pragma: modernc.org/sqlite driver documentation.
var connPragmas = []string{
	"busy_timeout(5000)",
	"foreign_keys(1)",
	"journal_mode(WAL)",
	"synchronous(NORMAL)",
}

// DB is the sentrybot database. Its methods are safe for concurrent use.
type DB struct {
	db   *sql.DB
	path string
	// intake is one connection kept for recording envelopes, the write an
	// ack waits on: it never queues behind workers for a pooled connection,
	// and it waits for SQLite's write lock in short steps of its own rather
	// than in the busy handler's millisecond sleeps (see admitExec).
	intake *sql.DB
	// intakeStmts and stmts hold prepared statements (see stmtCache).
	intakeStmts stmtCache
	stmts       stmtCache

	// Now is the clock behind every expiry and timestamp; tests replace it.
	// Set it before the DB is shared between goroutines.
	Now func() time.Time
}

// Open opens (creating if needed) the database file at path, checks the
// connection settings took effect and applies pending migrations.
func Open(ctx context.Context, path string) (*DB, error) {
	migrations, err := fs.Sub(embeddedMigrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	return openWith(ctx, path, migrations)
}

// openWith is Open with the migrations taken from the root of a given FS, so
// tests can supply broken ones.
func openWith(ctx context.Context, path string, migrations fs.FS) (*DB, error) {
	if path == "" || path == ":memory:" {
		// ":memory:" would give each pooled connection its own database.
		return nil, fmt.Errorf("store: open: a file path is required, got %q", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := createPrivate(abs); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}

	sqldb, err := sql.Open("sqlite", dsn(abs))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	// WAL lets readers run beside the one writer SQLite allows; writers that
	// collide wait inside SQLite under busy_timeout, which keeps a handful of
	// connections cheap. A separate one-connection writer pool measured no
	// faster under 32-way contention and would deadlock a caller that holds
	// a Tx and writes through DB. Idle connections are kept so the pool does
	// not reopen the file and rerun the pragmas under load.
	n := max(4, runtime.GOMAXPROCS(0))
	sqldb.SetMaxOpenConns(n)
	sqldb.SetMaxIdleConns(n)

	db := &DB{db: sqldb, path: abs, Now: time.Now}
	if err := db.init(ctx, migrations); err != nil {
		sqldb.Close()
		return nil, err
	}
	intake, err := sql.Open("sqlite", intakeDSN(abs))
	if err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("store: open %s: intake connection: %w", abs, err)
	}
	intake.SetMaxOpenConns(1)
	intake.SetMaxIdleConns(1)
	intake.SetConnMaxIdleTime(0)
	db.intake = intake
	return db, nil
}

func (db *DB) init(ctx context.Context, migrations fs.FS) error {
	if err := checkPragmas(ctx, db.db); err != nil {
		return fmt.Errorf("store: open %s: %w", db.path, err)
	}
	if err := migrate(ctx, db.db, migrations, db.Now); err != nil {
		return fmt.Errorf("store: open %s: %w", db.path, err)
	}
	// The WAL and shared-memory files exist now that something was written.
	// SQLite gives them the database file's mode, but tighten them anyway
	// rather than depend on that and on the umask.
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Chmod(db.path+suffix, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("store: open %s: restrict %s: %w", db.path, suffix, err)
		}
	}
	return nil
}

// dsn builds a file: URI so that a path holding '?' or '#' stays a path.
func dsn(abs string) string { return dsnWith(abs, connPragmas) }

// intakeDSN is the intake connection's: no busy handler (admitExec waits
// for the lock itself), and no automatic checkpoints, which would fall on
// an ack now and then; the pooled connections still checkpoint.
func intakeDSN(abs string) string {
	return dsnWith(abs, []string{"busy_timeout(0)", "foreign_keys(1)", "journal_mode(WAL)", "synchronous(NORMAL)", "wal_autocheckpoint(0)"})
}

func dsnWith(abs string, pragmas []string) string {
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	// Write transactions take the write lock at BEGIN. A deferred transaction
	// that reads first and writes later can fail with SQLITE_BUSY at once,
	// without waiting, when another writer got in between.
	q.Set("_txlock", "immediate")
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
	return "file:" + u.EscapedPath() + "?" + q.Encode()
}

// createPrivate makes sure the database file exists with mode 0600 before
// SQLite opens it: it holds tokens and the audit log, and SQLite would create
// it with 0644 minus the umask.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat database file: %w", err)
	}
	// An existing file readable by group or others (for instance one copied
	// in by hand) is tightened to 0600 rather than refused. Chmod also
	// undoes a umask that removed owner bits from a new file.
	if fi.Mode().Perm() != 0o600 {
		if err := f.Chmod(0o600); err != nil {
			return fmt.Errorf("restrict database file to 0600: %w", err)
		}
	}
	return nil
}

// checkPragmas confirms the DSN settings took: PRAGMA journal_mode=WAL
// reports the old mode instead of failing when WAL is unavailable, and a
// mistyped _pragma would leave foreign keys off without a word.
func checkPragmas(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal_mode: %w", err)
	}
	if mode != "wal" {
		return fmt.Errorf("journal_mode is %q, want \"wal\" (is the file on a filesystem without shared memory support?)", mode)
	}
	var fk int
	if err := db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return fmt.Errorf("read foreign_keys: %w", err)
	}
	if fk != 1 {
		return fmt.Errorf("foreign_keys is %d, want 1", fk)
	}
	return nil
}

// Close closes the database. Calling it again does nothing.
func (db *DB) Close() error {
	err := errors.Join(db.stmts.close(), db.db.Close())
	if db.intake != nil {
		err = errors.Join(err, db.intakeStmts.close(), db.intake.Close())
	}
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Path returns the absolute path of the database file.
func (db *DB) Path() string { return db.path }

// Writable reports whether the database accepts a write right now: it
// rewrites the single health row in a transaction and commits.
func (db *DB) Writable(ctx context.Context) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: writable: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO health (id, checked_at) VALUES (1, ?)
		 ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`,
		tx.Now().UnixMilli()); err != nil {
		return fmt.Errorf("store: writable: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: writable: commit: %w", err)
	}
	return nil
}

// Tx is a database transaction. It embeds *sql.Tx and adds the time the
// transaction began, so every row it writes carries the same timestamp.
type Tx struct {
	*sql.Tx
	now time.Time
}

// Now returns the DB clock's time when the transaction began, in UTC.
func (tx *Tx) Now() time.Time { return tx.now }

// BeginTx starts a transaction. Unless opts.ReadOnly is set it takes
// SQLite's write lock at once (BEGIN IMMEDIATE), so a write transaction
// either waits its turn at the start or fails there, never halfway through.
// Keep write transactions short: they hold up every other writer.
func (db *DB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*Tx, error) {
	tx, err := db.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("store: begin: %w", err)
	}
	return &Tx{Tx: tx, now: db.Now().UTC()}, nil
}
