package store

import (
	"context"
	"database/sql"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"sentrybot/internal/testkit"
)

// MustOpenDB opens a fresh database file in a temporary directory and closes
// it when the test ends.
func MustOpenDB(tb testing.TB) *DB {
	tb.Helper()
	db, err := Open(context.Background(), filepath.Join(tb.TempDir(), "sentrybot.db"))
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return db
}

func newClock(db *DB) *testkit.Clock {
	c := testkit.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	db.Now = c.Now
	return c
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat: %v", err)
	}
	return fi.Mode().Perm()
}

func countRows(t *testing.T, db *DB, table string) int {
	t.Helper()
	var n int
	if err := db.db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func TestOpen(t *testing.T) {
	ctx := context.Background()

	t.Run("CreatesPrivateFiles", func(t *testing.T) {
		db := MustOpenDB(t)
		if got := mode(t, db.Path()); got != 0o600 {
			t.Errorf("database file mode = %v, want 0600", got)
		}
		// The WAL exists while the database is open and has been written.
		for _, suffix := range []string{"-wal", "-shm"} {
			if got := mode(t, db.Path()+suffix); got != 0o600 {
				t.Errorf("%s file mode = %v, want 0600", suffix, got)
			}
		}
	})

	t.Run("TightensExistingFile", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "loose.db")
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		// Empty WAL and shared-memory files are valid leftovers that SQLite
		// reuses. Its unix VFS already gives them the database file's mode,
		// and Open chmods them too; either way they must end up 0600.
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer db.Close()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			if got := mode(t, p); got != 0o600 {
				t.Errorf("%s: mode = %v, want 0600", filepath.Base(p), got)
			}
		}
	})

	t.Run("PathIsAbsolute", func(t *testing.T) {
		t.Chdir(t.TempDir())
		db, err := Open(ctx, "rel.db")
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer db.Close()
		if !filepath.IsAbs(db.Path()) || filepath.Base(db.Path()) != "rel.db" {
			t.Errorf("Path() = %q, want an absolute path ending in rel.db", db.Path())
		}
	})

	t.Run("PathWithQuestionMark", func(t *testing.T) {
		// A naive DSN would cut the path at '?'.
		path := filepath.Join(t.TempDir(), "odd?name #1.db")
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer db.Close()
		if _, err := os.Stat(path); err != nil {
			t.Errorf("database not at %q: %v", path, err)
		}
		if err := db.Writable(ctx); err != nil {
			t.Errorf("Writable: %v", err)
		}
	})

	t.Run("ReopenIsIdempotent", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sentrybot.db")
		embedded, err := fs.Glob(embeddedMigrations, "migrations/*.sql")
		if err != nil || len(embedded) < 2 {
			t.Fatalf("embedded migrations = %v, %v; want at least 0001 and 0002", embedded, err)
		}
		var firstApplied string
		for i := range 3 {
			db, err := Open(ctx, path)
			if err != nil {
				t.Fatalf("open #%d: %v", i+1, err)
			}
			if n := countRows(t, db, "schema_migrations"); n != len(embedded) {
				t.Errorf("open #%d: schema_migrations has %d rows, want %d", i+1, n, len(embedded))
			}
			var name, applied string
			if err := db.db.QueryRow(`SELECT name, applied_at FROM schema_migrations WHERE version = 1`).Scan(&name, &applied); err != nil {
				t.Fatalf("read migration row: %v", err)
			}
			if name != "0001_init.sql" {
				t.Errorf("name = %q, want 0001_init.sql", name)
			}
			if _, err := time.Parse(time.RFC3339Nano, applied); err != nil {
				t.Errorf("applied_at %q is not RFC 3339: %v", applied, err)
			}
			if i == 0 {
				firstApplied = applied
			} else if applied != firstApplied {
				t.Errorf("applied_at changed on reopen: %q then %q", firstApplied, applied)
			}
			if err := db.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
		}
	})

	t.Run("EveryConnectionConfigured", func(t *testing.T) {
		db := MustOpenDB(t)
		// Hold several connections at once so the pool must open new ones.
		const n = 4
		conns := make([]*sql.Conn, 0, n)
		for range n {
			c, err := db.db.Conn(ctx)
			if err != nil {
				t.Fatalf("conn: %v", err)
			}
			conns = append(conns, c)
		}
		for i, c := range conns {
			var journal string
			var fk, busy, sync int
			if err := c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&journal); err != nil {
				t.Fatal(err)
			}
			if err := c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
				t.Fatal(err)
			}
			if err := c.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
				t.Fatal(err)
			}
			if err := c.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
				t.Fatal(err)
			}
			if journal != "wal" || fk != 1 || busy != 5000 || sync != 1 {
				t.Errorf("conn %d: journal_mode=%q foreign_keys=%d busy_timeout=%d synchronous=%d, want wal 1 5000 1 (NORMAL)",
					i, journal, fk, busy, sync)
			}
		}
		for _, c := range conns {
			c.Close()
		}
	})

	t.Run("ForeignKeysEnforced", func(t *testing.T) {
		db := MustOpenDB(t)
		if _, err := db.db.Exec(`CREATE TABLE parent (id INTEGER PRIMARY KEY);
			CREATE TABLE child (parent_id INTEGER REFERENCES parent (id))`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.db.Exec(`INSERT INTO child VALUES (42)`); err == nil {
			t.Error("insert of a dangling reference succeeded, want a foreign key error")
		}
	})

	t.Run("RejectsMemory", func(t *testing.T) {
		for _, path := range []string{"", ":memory:"} {
			if db, err := Open(ctx, path); err == nil {
				db.Close()
				t.Errorf("Open(%q) succeeded, want an error", path)
			}
		}
	})

	t.Run("RejectsNewerSchema", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sentrybot.db")
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.db.Exec(`INSERT INTO schema_migrations VALUES (9999, '9999_future.sql', '')`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		db, err = Open(ctx, path)
		if err == nil {
			db.Close()
			t.Fatal("Open succeeded on a database from a newer build")
		}
		if !strings.Contains(err.Error(), "9999") {
			t.Errorf("error %q does not name the version", err)
		}
	})

	t.Run("CloseTwice", func(t *testing.T) {
		db := MustOpenDB(t)
		if err := db.Close(); err != nil {
			t.Fatalf("first close: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("second close: %v", err)
		}
	})
}

// schema lists the database's tables and indexes with their SQL.
func schema(t *testing.T, db *DB) string {
	t.Helper()
	rows, err := db.db.Query(`SELECT type, name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var typ, name, sql string
		if err := rows.Scan(&typ, &name, &sql); err != nil {
			t.Fatal(err)
		}
		b.WriteString(typ + " " + name + ": " + sql + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	good := fstest.MapFS{
		"0001_init.sql": {Data: []byte(`CREATE TABLE widgets (id INTEGER PRIMARY KEY);
			INSERT INTO widgets VALUES (1);`)},
	}

	t.Run("BrokenRollsBack", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sentrybot.db")
		db, err := openWith(ctx, path, good)
		if err != nil {
			t.Fatal(err)
		}
		before := schema(t, db)
		db.Close()

		broken := fstest.MapFS{
			"0001_init.sql": good["0001_init.sql"],
			// The first two statements succeed; the third fails, so only a
			// rollback keeps them out.
			"0002_gadgets.sql": {Data: []byte(`CREATE TABLE gadgets (id INTEGER PRIMARY KEY);
				INSERT INTO widgets VALUES (2);
				INSERT INTO no_such_table VALUES (1);`)},
		}
		db, err = openWith(ctx, path, broken)
		if err == nil {
			db.Close()
			t.Fatal("open with a broken migration succeeded")
		}
		if !strings.Contains(err.Error(), "0002_gadgets.sql") {
			t.Errorf("error %q does not name the file", err)
		}

		db, err = openWith(ctx, path, good)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if after := schema(t, db); after != before {
			t.Errorf("schema changed by a failed migration:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		if n := countRows(t, db, "widgets"); n != 1 {
			t.Errorf("widgets has %d rows, want 1", n)
		}
		if n := countRows(t, db, "schema_migrations"); n != 1 {
			t.Errorf("schema_migrations has %d rows, want 1", n)
		}
	})

	t.Run("BrokenFirstOnNewFile", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sentrybot.db")
		broken := fstest.MapFS{"0001_init.sql": {Data: []byte(`CREATE TABLE x (; `)}}
		db, err := openWith(ctx, path, broken)
		if err == nil {
			db.Close()
			t.Fatal("open with a broken migration succeeded")
		}
		if !strings.Contains(err.Error(), "0001_init.sql") {
			t.Errorf("error %q does not name the file", err)
		}
	})

	t.Run("NumericOrder", func(t *testing.T) {
		// Sorted as text, 10 would run before 2 and fail.
		fsys := fstest.MapFS{
			"10_use.sql":  {Data: []byte(`INSERT INTO things VALUES ('ten');`)},
			"2_make.sql":  {Data: []byte(`CREATE TABLE things (name TEXT);`)},
			"1_first.sql": {Data: []byte(`CREATE TABLE first (id INTEGER);`)},
		}
		db, err := openWith(ctx, filepath.Join(t.TempDir(), "x.db"), fsys)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer db.Close()
		var versions []int
		rows, err := db.db.Query(`SELECT version FROM schema_migrations ORDER BY rowid`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			versions = append(versions, v)
		}
		if len(versions) != 3 || versions[0] != 1 || versions[1] != 2 || versions[2] != 10 {
			t.Errorf("versions = %v, want [1 2 10]", versions)
		}
	})

	t.Run("BadNames", func(t *testing.T) {
		for name, fsys := range map[string]fstest.MapFS{
			"init.sql": {"init.sql": {Data: []byte(`SELECT 1;`)}},
			"duplicate": {
				"0001_a.sql": {Data: []byte(`SELECT 1;`)},
				"001_b.sql":  {Data: []byte(`SELECT 1;`)},
			},
		} {
			db, err := openWith(ctx, filepath.Join(t.TempDir(), "x.db"), fsys)
			if err == nil {
				db.Close()
				t.Errorf("%s: open succeeded, want an error", name)
			}
		}
	})

	t.Run("EmbeddedSchema", func(t *testing.T) {
		db := MustOpenDB(t)
		s := schema(t, db)
		for _, want := range []string{"table seen_keys:", "index seen_keys_expires_at:", "table health:", "table schema_migrations:"} {
			if !strings.Contains(s, want) {
				t.Errorf("schema lacks %q:\n%s", want, s)
			}
		}
	})
}

func TestWritable(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		db := MustOpenDB(t)
		clk := newClock(db)
		for range 2 {
			if err := db.Writable(ctx); err != nil {
				t.Fatalf("Writable: %v", err)
			}
			var got int64
			if err := db.db.QueryRow(`SELECT checked_at FROM health WHERE id = 1`).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if want := clk.Now().UnixMilli(); got != want {
				t.Errorf("checked_at = %d, want %d", got, want)
			}
			clk.Advance(time.Minute)
		}
		if n := countRows(t, db, "health"); n != 1 {
			t.Errorf("health has %d rows, want 1", n)
		}
	})

	t.Run("Closed", func(t *testing.T) {
		db := MustOpenDB(t)
		db.Close()
		err := db.Writable(ctx)
		if err == nil || !strings.HasPrefix(err.Error(), "store: writable") {
			t.Errorf("Writable on a closed DB = %v, want a store: writable error", err)
		}
	})

	t.Run("Locked", func(t *testing.T) {
		db := MustOpenDB(t)
		// Another process holding the write lock, as seen from this one.
		other, err := sql.Open("sqlite", db.Path())
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		lock, err := other.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Close()
		if _, err := lock.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			t.Fatal(err)
		}

		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := db.Writable(short); err == nil {
			t.Error("Writable succeeded while another connection holds the write lock")
		}
		if waited := time.Since(start); waited > 3*time.Second {
			t.Errorf("Writable waited %v; the context should have ended the wait", waited)
		}

		if _, err := lock.ExecContext(ctx, "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
		if err := db.Writable(ctx); err != nil {
			t.Errorf("Writable after the lock was released: %v", err)
		}
	})
}

func TestBeginTx(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	clk := newClock(db)

	t.Run("CommitAndNow", func(t *testing.T) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if !tx.Now().Equal(clk.Now()) || tx.Now().Location() != time.UTC {
			t.Errorf("tx.Now() = %v, want %v in UTC", tx.Now(), clk.Now())
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO seen_keys VALUES ('tx', 1)`); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, db, "seen_keys"); n != 1 {
			t.Errorf("seen_keys has %d rows after commit, want 1", n)
		}
	})

	t.Run("ReadOnly", func(t *testing.T) {
		tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		// A read-only transaction must not take the write lock.
		if err := db.Writable(ctx); err != nil {
			t.Errorf("Writable during a read-only transaction: %v", err)
		}
	})

	t.Run("Closed", func(t *testing.T) {
		db := MustOpenDB(t)
		db.Close()
		if _, err := db.BeginTx(ctx, nil); err == nil || !strings.HasPrefix(err.Error(), "store: begin") {
			t.Errorf("BeginTx on a closed DB = %v, want a store: begin error", err)
		}
	})
}
