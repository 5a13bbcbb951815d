package sentryfake

import (
	"context"
	"net/http"
	"testing"
	"time"

	"sentrybot/sentry"
)

// BenchmarkUpdateIssue measures one triage click end to end: the client
// encodes the update, the fake validates it against Sentry's schema,
// applies it and renders the updated issue, over loopback HTTP.
func BenchmarkUpdateIssue(b *testing.B) {
	s := New(Options{})
	defer s.Close()
	s.AddIssue(NewIssue("1", "BACKEND-1", "ValueError: x"))
	m := s.AddMember(NewMember("1", "7", "jane@example.com", "Jane", ""))
	actor, _ := m.Actor()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c, err := sentry.New(sentry.Config{BaseURL: s.URL(), Token: s.Token(), HTTPClient: &http.Client{Transport: tr, Timeout: 5 * time.Second}})
	if err != nil {
		b.Fatal(err)
	}
	updates := []sentry.IssueUpdate{sentry.ArchiveUntilEscalating(), sentry.Unresolve(), sentry.AssignTo(actor), sentry.Resolve()}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := c.UpdateIssue(ctx, "acme", "1", updates[i%len(updates)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
