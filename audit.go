package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"sentrybot/config"
	"sentrybot/store"
)

// runAudit prints the audit log: every attempted change, allowed or denied.
func runAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", config.DefaultPath(func(p string) error { _, err := os.Stat(p); return err }), "configuration file (YAML)")
	since := fs.Duration("since", 24*time.Hour, "how far back to look (e.g. 1h, 24h, 168h); 0 for everything")
	issue := fs.String("issue", "", "only entries for this issue id")
	user := fs.String("user", "", "only entries by this Slack user id")
	limit := fs.Int("limit", store.DefaultAuditLimit, "at most this many entries (the newest)")
	asJSON := fs.Bool("json", false, "one JSON object per line")
	if err := fs.Parse(args); err != nil {
		return usageError(err)
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Errorf("audit: unexpected argument %q", fs.Arg(0)))
	}
	if *since < 0 || *limit <= 0 {
		return usageError(fmt.Errorf("audit: --since must be 0 or more and --limit more than 0"))
	}
	cfg, err := config.Load(*path, getenv)
	if err != nil {
		return usageError(err)
	}
	// Reading the audit log must not create a database where there was none.
	if _, err := os.Stat(cfg.Store.Path); err != nil {
		return fmt.Errorf("audit: no database at %s (store.path / SENTRYBOT_DB): %w", cfg.Store.Path, err)
	}
	db, err := store.Open(ctx, cfg.Store.Path)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer db.Close()

	f := store.AuditFilter{IssueID: *issue, UserID: *user, Limit: *limit}
	if *since > 0 {
		f.Since = time.Now().Add(-*since)
	}
	entries, err := db.Audit(ctx, f)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if *asJSON {
		return writeAuditJSON(stdout, entries)
	}
	return writeAuditTable(stdout, entries)
}

// auditRecord is the stable JSON form of an entry, for scripts.
type auditRecord struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	TeamID    string    `json:"team_id"`
	UserID    string    `json:"user_id"`
	ChannelID string    `json:"channel_id,omitempty"`
	MemberID  string    `json:"sentry_member_id,omitempty"`
	Action    string    `json:"action"`
	IssueID   string    `json:"issue_id,omitempty"`
	Decision  string    `json:"decision"`
	Reason    string    `json:"reason"`
	Outcome   string    `json:"outcome,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

func writeAuditJSON(w io.Writer, entries []store.AuditEntry) error {
	enc := json.NewEncoder(w)
	for _, e := range entries {
		if err := enc.Encode(auditRecord{ID: e.ID, At: e.At.UTC(), TeamID: e.TeamID, UserID: e.UserID, ChannelID: e.ChannelID,
			MemberID: e.SentryMemberID, Action: e.Action, IssueID: e.IssueID, Decision: e.Decision, Reason: e.Reason,
			Outcome: e.Outcome, Detail: e.Detail}); err != nil {
			return fmt.Errorf("audit: writing JSON: %w", err)
		}
	}
	return nil
}

func writeAuditTable(w io.Writer, entries []store.AuditEntry) error {
	if len(entries) == 0 {
		_, err := fmt.Fprintln(w, "no audit entries match")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME (UTC)\tUSER\tCHANNEL\tACTION\tISSUE\tDECISION\tREASON\tOUTCOME\tDETAIL")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.At.UTC().Format("2006-01-02 15:04:05"),
			e.UserID, dash(e.ChannelID), e.Action, dash(e.IssueID), e.Decision, e.Reason, dash(oneLine(e.Outcome)), dash(e.Detail))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
