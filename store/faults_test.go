package store

// Database faults as the bot meets them: another process holding SQLite's
// write lock, and a full disk. Each test checks that the store says what went
// wrong, that nothing it had is lost or corrupted, and that it works again
// once the fault is gone.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// onEveryConn runs stmt on every connection of db's pool. It holds as many
// connections as the pool may open, so every one is among them, and gives
// them back to the idle pool, which keeps them all: per-connection pragmas
// set here stay in force for every later statement.
func onEveryConn(t *testing.T, db *DB, stmt string) {
	t.Helper()
	ctx := context.Background()
	n := db.db.Stats().MaxOpenConnections
	conns := make([]*sql.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := db.db.Conn(ctx)
		if err != nil {
			t.Fatalf("taking a pooled connection: %v", err)
		}
		conns = append(conns, c)
		if _, err := c.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

// sqliteCode is the primary SQLite result code inside err, or 0.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return 0
	}
	return se.Code() & 0xff
}

// checkIntegrity runs PRAGMA integrity_check and fails unless it says ok.
func checkIntegrity(t *testing.T, db *sql.DB) {
	t.Helper()
	rows, err := db.Query(`PRAGMA integrity_check`)
	if err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatalf("integrity_check: %v", err)
		}
		got = append(got, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	if len(got) != 1 || got[0] != "ok" {
		t.Fatalf("integrity_check = %q, want ok", got)
	}
}

// writeLocker is another process's connection to the same file.
type writeLocker struct {
	t    *testing.T
	db   *sql.DB
	conn *sql.Conn
}

func newWriteLocker(t *testing.T, path string) *writeLocker {
	t.Helper()
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &writeLocker{t: t, db: other, conn: conn}
}

// lock takes the write lock and writes a row it never commits.
func (w *writeLocker) lock() {
	w.t.Helper()
	ctx := context.Background()
	if _, err := w.conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		w.t.Fatalf("BEGIN IMMEDIATE: %v", err)
	}
	if _, err := w.conn.ExecContext(ctx, `INSERT INTO seen_keys (key, expires_at) VALUES ('uncommitted', 1)`); err != nil {
		w.t.Fatalf("writing under the lock: %v", err)
	}
}

func (w *writeLocker) release() {
	w.t.Helper()
	if _, err := w.conn.ExecContext(context.Background(), `ROLLBACK`); err != nil {
		w.t.Fatalf("ROLLBACK: %v", err)
	}
}

func TestWriteLockHeldByAnotherProcess(t *testing.T) {
	ctx := context.Background()
	entry := func(issue string) AuditEntry {
		return AuditEntry{TeamID: "T1", UserID: "U1", Action: "resolve", IssueID: issue, Decision: "allow", Outcome: "ok"}
	}

	t.Run("ShortLockIsWaitedOut", func(t *testing.T) {
		t.Parallel()
		db := MustOpenDB(t)
		other := newWriteLocker(t, db.Path())
		other.lock()
		type result struct {
			first bool
			err   error
		}
		done := make(chan result, 1)
		go func() {
			first, err := db.MarkSeen(ctx, "event:Ev1", time.Hour)
			done <- result{first, err}
		}()
		// The write is now waiting on the lock, inside busy_timeout; it
		// would fail at once without one.
		time.Sleep(150 * time.Millisecond)
		other.release()
		if r := <-done; r.err != nil || !r.first {
			t.Fatalf("MarkSeen across a short lock = %v, %v; want it to wait and succeed", r.first, r.err)
		}
	})

	t.Run("LockPastBusyTimeout", func(t *testing.T) {
		t.Parallel()
		db := MustOpenDB(t)
		if _, err := db.AppendAudit(ctx, entry("1")); err != nil {
			t.Fatal(err)
		}
		if _, err := db.MarkSeen(ctx, "event:before", time.Hour); err != nil {
			t.Fatal(err)
		}
		// SQLite gives up the same way after 5 s as after 300 ms; the
		// shorter wait keeps the test quick. ShortLockIsWaitedOut covers
		// the configured timeout.
		onEveryConn(t, db, `PRAGMA busy_timeout = 300`)
		other := newWriteLocker(t, db.Path())
		other.lock()

		// Writers of every kind, at once, as the bot's workers would be.
		writes := map[string]func() error{
			"mark seen": func() error {
				_, err := db.MarkSeen(ctx, "event:during", time.Hour)
				return err
			},
			"append audit": func() error {
				_, err := db.AppendAudit(ctx, entry("2"))
				return err
			},
			"writable": func() error { return db.Writable(ctx) },
			"link identity": func() error {
				return db.LinkIdentity(ctx, Identity{TeamID: "T1", SlackUserID: "U1", MemberID: "9", Method: "email"})
			},
		}
		var mu sync.Mutex
		errs := map[string]error{}
		var wg sync.WaitGroup
		for name, write := range writes {
			wg.Go(func() {
				err := write()
				mu.Lock()
				errs[name] = err
				mu.Unlock()
			})
		}
		wg.Wait()
		for name, err := range errs {
			switch {
			case err == nil:
				t.Errorf("%s succeeded while another connection held the write lock", name)
			case sqliteCode(err) != sqlite3.SQLITE_BUSY || !strings.Contains(err.Error(), "database is locked"):
				t.Errorf("%s failed with %q (code %d), want SQLITE_BUSY saying the database is locked", name, err, sqliteCode(err))
			case !strings.HasPrefix(err.Error(), "store: "+name):
				t.Errorf("%s error %q does not say what was being done", name, err)
			}
		}

		// Readers are not held up by a writer under WAL, and see only
		// what was committed.
		es, err := db.Audit(ctx, AuditFilter{})
		if err != nil {
			t.Fatalf("reading the audit log under the lock: %v", err)
		}
		if len(es) != 1 || es[0].IssueID != "1" {
			t.Errorf("audit log under the lock = %+v, want the one committed entry", es)
		}
		if n := countRows(t, db, "seen_keys"); n != 1 {
			t.Errorf("seen_keys under the lock has %d rows, want the 1 committed", n)
		}

		other.release()
		// Nothing of the failed writes was kept: the key is new, the
		// audit log has no half entry.
		first, err := db.MarkSeen(ctx, "event:during", time.Hour)
		if err != nil || !first {
			t.Errorf("MarkSeen after the lock was released = %v, %v; want true, nil", first, err)
		}
		if _, err := db.AppendAudit(ctx, entry("2")); err != nil {
			t.Errorf("AppendAudit after the lock was released: %v", err)
		}
		if err := db.Writable(ctx); err != nil {
			t.Errorf("Writable after the lock was released: %v", err)
		}
		es, err = db.Audit(ctx, AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 2 || es[0].IssueID != "1" || es[1].IssueID != "2" {
			t.Errorf("audit log after the lock = %+v, want entries for issues 1 and 2", es)
		}
		checkIntegrity(t, db.db)
	})

	t.Run("LongReaderDoesNotBlockWrites", func(t *testing.T) {
		t.Parallel()
		db := MustOpenDB(t)
		other := newWriteLocker(t, db.Path())
		if _, err := other.conn.ExecContext(ctx, `BEGIN`); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := other.conn.QueryRowContext(ctx, `SELECT count(*) FROM audit_log`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		onEveryConn(t, db, `PRAGMA busy_timeout = 300`)
		if _, err := db.AppendAudit(ctx, entry("1")); err != nil {
			t.Errorf("AppendAudit while another connection reads: %v", err)
		}
		if _, err := db.MarkSeen(ctx, "event:Ev1", time.Hour); err != nil {
			t.Errorf("MarkSeen while another connection reads: %v", err)
		}
		if _, err := other.conn.ExecContext(ctx, `COMMIT`); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDiskFull(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	newClock(db)

	// What the database held before the disk filled up.
	alice := Identity{TeamID: "T1", SlackUserID: "U0ALICE", MemberID: "201", SentryUserID: "2001",
		Email: "alice@acme.test", OrgRole: "member", Method: "email"}
	if err := db.LinkIdentity(ctx, alice); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := db.AppendAudit(ctx, AuditEntry{UserID: alice.SlackUserID, Action: "resolve",
			IssueID: fmt.Sprint(100 + i), Decision: "allow", Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.MarkSeen(ctx, "event:before", time.Hour); err != nil {
		t.Fatal(err)
	}

	// The disk is full: SQLite may not grow the file by more than a few
	// pages. It answers SQLITE_FULL, as it does for ENOSPC.
	var pages int
	if err := db.db.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	onEveryConn(t, db, fmt.Sprintf("PRAGMA max_page_count = %d", pages+4))

	big := strings.Repeat("x", 3000)
	var fullErr error
	filled := 0
	for ; filled < 100; filled++ {
		if _, fullErr = db.AppendAudit(ctx, AuditEntry{UserID: alice.SlackUserID, Action: "archive",
			IssueID: fmt.Sprint(200 + filled), Decision: "allow", Outcome: "ok", Detail: big}); fullErr != nil {
			break
		}
	}
	if fullErr == nil {
		t.Fatal("100 large audit entries fit although the database may not grow")
	}
	if sqliteCode(fullErr) != sqlite3.SQLITE_FULL || !strings.Contains(fullErr.Error(), "database or disk is full") ||
		!strings.HasPrefix(fullErr.Error(), "store: append audit archive") {
		t.Errorf("error on a full disk = %q (code %d); want SQLITE_FULL saying the database or disk is full, and what was being done",
			fullErr, sqliteCode(fullErr))
	}
	// Other writes fail the same clear way; a large one cannot fit in the
	// free space of a page.
	_, err := db.MarkSeen(ctx, "event:"+big, time.Hour)
	if sqliteCode(err) != sqlite3.SQLITE_FULL || !strings.HasPrefix(err.Error(), "store: mark seen") {
		t.Errorf("MarkSeen on a full disk = %v, want a store: mark seen error with SQLITE_FULL", err)
	}
	err = db.LinkIdentity(ctx, Identity{TeamID: "T1", SlackUserID: "U0BOB", MemberID: "202", Email: big, Method: "email"})
	if sqliteCode(err) != sqlite3.SQLITE_FULL || !strings.HasPrefix(err.Error(), "store: link identity") {
		t.Errorf("LinkIdentity on a full disk = %v, want a store: link identity error with SQLITE_FULL", err)
	}
	// Reads still work.
	if _, err := db.Identity(ctx, "T1", alice.SlackUserID); err != nil {
		t.Errorf("reading an identity on a full disk: %v", err)
	}

	checkIntegrity(t, db.db)
	checkKept := func(when string, wantAudit int) {
		t.Helper()
		es, err := db.Audit(ctx, AuditFilter{})
		if err != nil {
			t.Fatalf("%s: reading the audit log: %v", when, err)
		}
		if len(es) != wantAudit {
			t.Fatalf("%s: %d audit entries, want %d", when, len(es), wantAudit)
		}
		for i, e := range es {
			want := fmt.Sprint(100 + i)
			if i >= 3 {
				want = fmt.Sprint(200 + i - 3)
			}
			if e.IssueID != want || e.Outcome != "ok" {
				t.Errorf("%s: audit entry %d is %+v, want issue %s ok", when, i, e, want)
			}
		}
		got, err := db.Identity(ctx, "T1", alice.SlackUserID)
		if err != nil || got.MemberID != alice.MemberID || got.SentryUserID != alice.SentryUserID {
			t.Errorf("%s: identity = %+v, %v; want alice's link unchanged", when, got, err)
		}
		if _, err := db.Identity(ctx, "T1", "U0BOB"); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: the link that did not fit exists: %v", when, err)
		}
		if first, err := db.MarkSeen(ctx, "event:before", time.Hour); err != nil || first {
			t.Errorf("%s: MarkSeen of the key seen before = %v, %v; want false, nil", when, first, err)
		}
	}
	checkKept("disk full", 3+filled)

	// Space comes back.
	onEveryConn(t, db, "PRAGMA max_page_count = 1073741823")
	if _, err := db.AppendAudit(ctx, AuditEntry{UserID: alice.SlackUserID, Action: "archive",
		IssueID: fmt.Sprint(200 + filled), Decision: "allow", Outcome: "ok", Detail: big}); err != nil {
		t.Fatalf("AppendAudit once space is back: %v", err)
	}
	if first, err := db.MarkSeen(ctx, "event:"+big, time.Hour); err != nil || !first {
		t.Errorf("MarkSeen of the key that did not fit = %v, %v; want true, nil", first, err)
	}
	checkKept("space back", 3+filled+1)
	checkIntegrity(t, db.db)

	// And the file reopens as it was, through the WAL.
	path := db.Path()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopening after a full disk: %v", err)
	}
	defer db.Close()
	checkIntegrity(t, db.db)
	if n := countRows(t, db, "audit_log"); n != 3+filled+1 {
		t.Errorf("reopened audit log has %d entries, want %d", n, 3+filled+1)
	}
}
