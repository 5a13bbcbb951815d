package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestAppendAudit(t *testing.T) {
	ctx := context.Background()

	t.Run("AllFieldsRoundTrip", func(t *testing.T) {
		db := MustOpenDB(t)
		clk := newClock(db)
		e := AuditEntry{
			TeamID: "T1", UserID: "U1", ChannelID: "C1", SentryMemberID: "m-1",
			Action: "resolve", IssueID: "42", Decision: "allow", Reason: "allowed_responder",
			Outcome: "ok", Detail: "status=resolved",
		}
		id, err := db.AppendAudit(ctx, e)
		if err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
		got, err := db.Audit(ctx, AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		e.ID, e.At = id, clk.Now()
		if len(got) != 1 || got[0] != e {
			t.Errorf("Audit = %+v\nwant [%+v]", got, e)
		}
	})

	t.Run("ExplicitAt", func(t *testing.T) {
		db := MustOpenDB(t)
		newClock(db)
		at := time.Date(2024, 6, 1, 0, 0, 0, 123_000_000, time.UTC)
		if _, err := db.AppendAudit(ctx, AuditEntry{At: at, Action: "archive", Decision: "deny"}); err != nil {
			t.Fatal(err)
		}
		got, err := db.Audit(ctx, AuditFilter{})
		if err != nil || len(got) != 1 || !got[0].At.Equal(at) || got[0].At.Location() != time.UTC {
			t.Errorf("Audit = %+v, %v; want one entry at %v UTC", got, err, at)
		}
	})

	t.Run("IDsIncrease", func(t *testing.T) {
		db := MustOpenDB(t)
		var last int64
		for i := range 5 {
			id, err := db.AppendAudit(ctx, AuditEntry{Action: "resolve", Decision: "deny"})
			if err != nil {
				t.Fatal(err)
			}
			if id <= last {
				t.Errorf("entry %d got id %d after %d", i, id, last)
			}
			last = id
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		db := MustOpenDB(t)
		for _, e := range []AuditEntry{
			{Decision: "allow"},
			{Action: "resolve"},
			{Action: "resolve", Decision: "maybe"},
			{Action: "resolve", Decision: "Allow"},
		} {
			if _, err := db.AppendAudit(ctx, e); err == nil || !strings.HasPrefix(err.Error(), "store: append audit") {
				t.Errorf("AppendAudit(%+v) error = %v, want a store: append audit error", e, err)
			}
		}
		if n := countRows(t, db, "audit_log"); n != 0 {
			t.Errorf("audit_log has %d rows after rejected appends", n)
		}
	})
}

func TestAuditAppendOnly(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	id, err := db.AppendAudit(ctx, AuditEntry{UserID: "U1", Action: "resolve", IssueID: "1", Decision: "deny", Reason: "viewer_role"})
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`UPDATE audit_log SET decision = 'allow' WHERE id = ?`,
		`UPDATE audit_log SET reason = '' WHERE id = ?`,
		`DELETE FROM audit_log WHERE id = ?`,
		`DELETE FROM audit_log WHERE id <> ? OR 1`,
		`INSERT OR REPLACE INTO audit_log (id, at, action, decision) VALUES (?, 0, 'x', 'allow')`,
		`REPLACE INTO audit_log (id, at, action, decision) VALUES (?, 0, 'x', 'allow')`,
		`INSERT INTO audit_log (id, at, action, decision) VALUES (?, 0, 'x', 'allow') ON CONFLICT (id) DO UPDATE SET decision = 'allow'`,
	} {
		_, err := db.db.ExecContext(ctx, stmt, id)
		if err == nil || !strings.Contains(err.Error(), "audit log is append-only") {
			t.Errorf("%s: error = %v, want the append-only refusal", stmt, err)
		}
	}
	// The replace guard relies on no entry having the id a BEFORE trigger
	// sees for a new row.
	if _, err := db.db.ExecContext(ctx, `INSERT INTO audit_log (id, at, action, decision) VALUES (-1, 0, 'x', 'deny')`); err == nil {
		t.Error("insert with id -1 succeeded, want the CHECK to refuse it")
	}
	got, err := db.Audit(ctx, AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != id || got[0].Decision != "deny" || got[0].Reason != "viewer_role" {
		t.Errorf("entry changed: %+v", got)
	}
}

func TestAudit(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	clk := newClock(db)
	start := clk.Now()

	// Ten entries a minute apart: users alternate U0/U1, issues cycle 0..2.
	for i := range 10 {
		if _, err := db.AppendAudit(ctx, AuditEntry{
			UserID: fmt.Sprintf("U%d", i%2), IssueID: fmt.Sprint(i % 3),
			Action: "resolve", Decision: "allow", Detail: fmt.Sprint(i),
		}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
	}
	// Two in the same millisecond keep insertion order.
	for _, d := range []string{"10", "11"} {
		if _, err := db.AppendAudit(ctx, AuditEntry{UserID: "U9", IssueID: "9", Action: "assign", Decision: "deny", Detail: d}); err != nil {
			t.Fatal(err)
		}
	}

	details := func(list []AuditEntry) string {
		var s []string
		for _, e := range list {
			s = append(s, e.Detail)
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		name string
		f    AuditFilter
		want string
	}{
		{"All", AuditFilter{}, "0,1,2,3,4,5,6,7,8,9,10,11"},
		{"SinceInclusive", AuditFilter{Since: start.Add(7 * time.Minute)}, "7,8,9,10,11"},
		{"SinceBetween", AuditFilter{Since: start.Add(7*time.Minute + time.Second)}, "8,9,10,11"},
		{"SinceFuture", AuditFilter{Since: start.Add(time.Hour)}, ""},
		{"Issue", AuditFilter{IssueID: "1"}, "1,4,7"},
		{"User", AuditFilter{UserID: "U1"}, "1,3,5,7,9"},
		{"IssueAndUser", AuditFilter{IssueID: "0", UserID: "U1"}, "3,9"},
		{"AllFilters", AuditFilter{Since: start.Add(4 * time.Minute), IssueID: "0", UserID: "U0"}, "6"},
		{"LimitKeepsNewest", AuditFilter{Limit: 3}, "9,10,11"},
		{"LimitWithFilter", AuditFilter{UserID: "U0", Limit: 2}, "6,8"},
		{"NegativeLimitIsDefault", AuditFilter{Limit: -1}, "0,1,2,3,4,5,6,7,8,9,10,11"},
		{"SameMillisecond", AuditFilter{IssueID: "9"}, "10,11"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.Audit(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if d := details(got); d != tc.want {
				t.Errorf("Audit(%+v) details = %q, want %q", tc.f, d, tc.want)
			}
		})
	}

	t.Run("DefaultLimit", func(t *testing.T) {
		db := MustOpenDB(t)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		for i := range DefaultAuditLimit + 5 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log (at, action, decision, detail) VALUES (?, 'resolve', 'allow', ?)`,
				int64(i), fmt.Sprint(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		got, err := db.Audit(ctx, AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != DefaultAuditLimit || got[0].Detail != "5" || got[len(got)-1].Detail != fmt.Sprint(DefaultAuditLimit+4) {
			t.Errorf("Audit with no limit returned %d entries, %s..%s; want the newest %d", len(got),
				got[0].Detail, got[len(got)-1].Detail, DefaultAuditLimit)
		}
	})
}

func TestAuthzSchema(t *testing.T) {
	db := MustOpenDB(t)
	s := schema(t, db)
	for _, want := range []string{
		"table identities:", "index identities_member:", "index identities_sentry_user:",
		"table role_overrides:", "table audit_log:",
		"index audit_log_at:", "index audit_log_issue_id:", "index audit_log_user_id:",
		"trigger audit_log_no_update:", "trigger audit_log_no_delete:", "trigger audit_log_no_replace:",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("schema lacks %q:\n%s", want, s)
		}
	}
}
