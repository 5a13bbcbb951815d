package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sentrybot/store"
)

func TestAuditCommand(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	for _, e := range []store.AuditEntry{
		{At: old, TeamID: "T0001", UserID: "U0OLD", Action: "resolve", IssueID: "1", Decision: "allow", Reason: "allowed_responder", Outcome: "ok"},
		{TeamID: "T0001", UserID: "U0ALICE", ChannelID: "C0BACKEND", SentryMemberID: "11", Action: "resolve", IssueID: "4321",
			Decision: "allow", Reason: "allowed_responder", Outcome: "ok", Detail: "status=resolved"},
		{TeamID: "T0001", UserID: "U0BOB", ChannelID: "C0BACKEND", Action: "archive", IssueID: "4322", Decision: "deny", Reason: "not_linked"},
	} {
		if _, err := db.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	env := map[string]string{"SLACK_APP_TOKEN": testAppToken, "SLACK_BOT_TOKEN": testBotToken, "SENTRY_ORG": "acme",
		"SENTRY_AUTH_TOKEN": testSentryToken, "SENTRYBOT_DB": path}
	audit := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"sentrybot", "audit"}, args...), func(k string) string { return env[k] }, &out, &bytes.Buffer{})
		return out.String(), err
	}

	out, err := audit("--json")
	if err != nil {
		t.Fatal(err)
	}
	var recs []auditRecord
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r auditRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 2 || recs[0].UserID != "U0ALICE" || recs[0].MemberID != "11" || recs[0].Detail != "status=resolved" ||
		recs[1].Decision != "deny" || recs[1].Reason != "not_linked" {
		t.Fatalf("default (24h) audit = %+v", recs)
	}

	out, err = audit("--since", "0", "--issue", "1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "U0OLD") || strings.Contains(out, "U0ALICE") || !strings.HasPrefix(out, "TIME (UTC)") {
		t.Fatalf("--since 0 --issue 1 table:\n%s", out)
	}

	if out, _ = audit("--issue", "none"); !strings.Contains(out, "no audit entries match") {
		t.Fatalf("empty result: %q", out)
	}

	env["SENTRYBOT_DB"] = filepath.Join(t.TempDir(), "missing.db")
	if _, err := audit(); err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "no database") {
		t.Fatalf("missing database: err = %v", err)
	}
	if _, err := audit("--since", "-1h"); exitCode(err) != 2 {
		t.Fatalf("negative --since: err = %v, want a usage error", err)
	}
}
