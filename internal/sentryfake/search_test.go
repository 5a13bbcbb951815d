package sentryfake

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"sentrybot/sentry"
)

func TestShortID(t *testing.T) {
	ctx := context.Background()
	s, c := newFake(t, Options{})
	s.AddIssue(NewIssue("101", "BACKEND-1A2", "ZeroDivisionError: division by zero"))
	s.AddIssue(NewIssue("102", "BACKEND-1A3", "x"))
	s.AddIssue(NewIssue("103", "BACKEND-1A4", "y"))
	s.MergeIssue("102", "103")

	for _, ref := range []string{"BACKEND-1A2", "backend-1a2", "101"} {
		is, err := c.ResolveShortID(ctx, "acme", ref)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if is.ID != "101" || is.ShortID != "BACKEND-1A2" || is.Title != "ZeroDivisionError: division by zero" || is.Project.Slug != "backend" {
			t.Fatalf("%s: %+v", ref, is)
		}
		if len(is.Stats.Day) != 0 {
			t.Errorf("the short-id answer has no stats, got %d points", len(is.Stats.Day))
		}
	}
	if is, err := c.ResolveShortID(ctx, "acme", "BACKEND-1A3"); err != nil || is.ID != "103" {
		t.Fatalf("merged short id: %v %+v", err, is)
	}
	if _, err := c.ResolveShortID(ctx, "acme", "BACKEND-ZZZ"); !errors.Is(err, sentry.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	resp, body := get(t, s, "/api/0/organizations/acme/shortids/BACKEND-1A2/", s.Token())
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"groupId":"101"`) || !strings.Contains(string(body), `"organizationSlug":"acme"`) ||
		!strings.Contains(string(body), `"projectSlug":"backend"`) {
		t.Fatalf("body %s", body)
	}
}

// searchFixture is an organization with issues in every state search cares about.
func searchFixture(t *testing.T) (*Server, *sentry.Client) {
	t.Helper()
	s, c := newFake(t, Options{User: &sentry.User{ID: "2", Name: "Bot", Email: "bot@example.com"}})
	s.AddMember(NewMember("1", "7", "jane@example.com", "Jane", ""))
	team := s.AddTeam(sentry.Team{ID: "5", Slug: "backend"})
	now := time.Now()
	add := func(id, shortID, title, level string, age time.Duration, count string, change func(*sentry.Issue)) {
		is := NewIssue(id, shortID, title)
		is.Level, is.Count = level, count
		last := now.Add(-age)
		is.LastSeen = &last
		if change != nil {
			change(&is)
		}
		s.AddIssue(is)
	}
	add("1", "BACKEND-1", "TimeoutError: upstream timed out", "error", time.Minute, "5", nil)
	add("2", "BACKEND-2", "KeyError: 'user'", "warning", time.Hour, "50", func(is *sentry.Issue) {
		is.AssignedTo = &sentry.Assignee{Type: "user", ID: "7", Name: "Jane", Email: "jane@example.com"}
	})
	add("3", "WEB-3", "TypeError: x is undefined", "error", 2*time.Hour, "500", func(is *sentry.Issue) {
		is.Project = sentry.Project{ID: "9", Name: "Web", Slug: "web"}
		is.AssignedTo = &sentry.Assignee{Type: "user", ID: "2", Name: "Bot"}
	})
	add("4", "BACKEND-4", "TimeoutError: db", "fatal", 3*time.Hour, "1", func(is *sentry.Issue) {
		is.Status, is.Substatus = "resolved", nil
	})
	add("5", "BACKEND-5", "Noise", "info", 4*time.Hour, "2", func(is *sentry.Issue) {
		is.Status, is.Substatus = "ignored", ptr("archived_forever")
		is.AssignedTo = &sentry.Assignee{Type: "team", ID: team.ID, Name: team.Slug}
	})
	add("6", "BACKEND-6", "Escalating thing", "error", 5*time.Hour, "3", func(is *sentry.Issue) { is.Substatus = ptr("escalating") })
	return s, c
}

func issueIDs(page *sentry.IssuePage) []string {
	ids := make([]string, len(page.Issues))
	for i, is := range page.Issues {
		ids[i] = is.ID
	}
	return ids
}

func TestSearch_Query(t *testing.T) {
	_, c := searchFixture(t)
	tests := []struct {
		q    sentry.IssueQuery
		want []string
	}{
		{sentry.IssueQuery{}, []string{"1", "2", "3", "4", "5", "6"}}, // an empty query is everything, newest first
		{sentry.IssueQuery{Query: "is:unresolved"}, []string{"1", "2", "3", "6"}},
		{sentry.IssueQuery{Query: "is:resolved"}, []string{"4"}},
		{sentry.IssueQuery{Query: "is:archived"}, []string{"5"}},
		{sentry.IssueQuery{Query: "is:ignored"}, []string{"5"}},
		{sentry.IssueQuery{Query: "is:escalating"}, []string{"6"}},
		{sentry.IssueQuery{Query: "is:[resolved, ignored]"}, []string{"4", "5"}},
		{sentry.IssueQuery{Query: "level:error"}, []string{"1", "3", "6"}},
		{sentry.IssueQuery{Query: "level:[warning,fatal]"}, []string{"2", "4"}},
		{sentry.IssueQuery{Query: "!level:error"}, []string{"2", "4", "5"}},
		{sentry.IssueQuery{Query: "assigned:me"}, []string{"3"}},
		{sentry.IssueQuery{Query: "assigned:bot@example.com"}, []string{"3"}},
		{sentry.IssueQuery{Query: "assigned:jane@example.com"}, []string{"2"}},
		{sentry.IssueQuery{Query: "assigned:#backend"}, []string{"5"}},
		{sentry.IssueQuery{Query: "assigned:nobody@example.com"}, []string{}},
		{sentry.IssueQuery{Query: "assigned:none"}, []string{"1", "4", "6"}},
		{sentry.IssueQuery{Query: "is:unassigned is:unresolved"}, []string{"1", "6"}},
		{sentry.IssueQuery{Query: "is:assigned"}, []string{"2", "3", "5"}},
		{sentry.IssueQuery{Query: "!assigned:me is:unresolved"}, []string{"1", "2", "6"}},
		{sentry.IssueQuery{Query: "timeout"}, []string{"1", "4"}},
		{sentry.IssueQuery{Query: `is:unresolved "timed out"`}, []string{"1"}},
		{sentry.IssueQuery{Query: "upstream timed"}, []string{"1"}},
		{sentry.IssueQuery{Query: "project:web"}, []string{"3"}},
		{sentry.IssueQuery{Projects: []string{"9"}}, []string{"3"}},
		{sentry.IssueQuery{Projects: []string{"web", "1"}}, []string{"1", "2", "3", "4", "5", "6"}},
		{sentry.IssueQuery{Projects: []string{"-1"}, Query: "is:resolved"}, []string{"4"}},
		{sentry.IssueQuery{Sort: "freq"}, []string{"3", "2", "1", "6", "5", "4"}},
		{sentry.IssueQuery{Sort: "trends"}, []string{"1", "2", "3", "4", "5", "6"}},
	}
	for _, tt := range tests {
		page, err := c.SearchIssues(context.Background(), "acme", tt.q)
		if err != nil {
			t.Errorf("%+v: %v", tt.q, err)
			continue
		}
		if got := issueIDs(page); !slices.Equal(got, tt.want) {
			t.Errorf("%+v: %v, want %v", tt.q, got, tt.want)
		}
		if page.NextCursor != "" {
			t.Errorf("%+v: cursor %q on a single page", tt.q, page.NextCursor)
		}
	}
}

func TestSearch_BadQueries(t *testing.T) {
	s, c := searchFixture(t)
	for q, want := range map[string]string{
		"browser:Chrome":     `Invalid search query: sentryfake does not support the key "browser"`,
		"is:bookmarked":      `Invalid value for "is" search`,
		"level:error foo:1 ": `the key "foo"`,
	} {
		_, err := c.SearchIssues(context.Background(), "acme", sentry.IssueQuery{Query: q})
		if d := detailOf(t, err); kindOf(t, err) != sentry.KindInvalid || !strings.Contains(d, want) {
			t.Errorf("%q: %v, want 400 with %q", q, err, want)
		}
	}
	for _, q := range []string{"sort=oldest", "cursor=x", "cursor=0:-5:0", "limit=ten"} {
		if resp, body := get(t, s, "/api/0/organizations/acme/issues/?"+q, s.Token()); resp.StatusCode != 400 {
			t.Errorf("%s: %d %s", q, resp.StatusCode, body)
		}
	}
}

func TestSearch_DefaultQueryIsUnresolved(t *testing.T) {
	s, _ := searchFixture(t)
	_, body := get(t, s, "/api/0/organizations/acme/issues/", s.Token())
	if strings.Contains(string(body), `"id":"4"`) || strings.Contains(string(body), `"id":"5"`) || !strings.Contains(string(body), `"id":"1"`) {
		t.Fatalf("without query= the list shows unresolved issues only: %s", body)
	}
}

func TestSearch_Pagination(t *testing.T) {
	s, c := searchFixture(t)
	var ids, cursors []string
	q := sentry.IssueQuery{Limit: 4}
	for range 5 {
		page, err := c.SearchIssues(context.Background(), "acme", q)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, issueIDs(page)...)
		if page.NextCursor == "" {
			break
		}
		cursors = append(cursors, page.NextCursor)
		q.Cursor = page.NextCursor
	}
	if want := []string{"1", "2", "3", "4", "5", "6"}; !slices.Equal(ids, want) {
		t.Fatalf("ids %v, want %v", ids, want)
	}
	if !slices.Equal(cursors, []string{"0:4:0"}) {
		t.Fatalf("cursors %v", cursors)
	}

	// The Link header as Sentry writes it: both links, query kept, cursor last.
	resp, _ := get(t, s, "/api/0/organizations/acme/issues/?query=is%3Aunresolved&limit=2&cursor=0:2:0", s.Token())
	base := s.URL() + "/api/0/organizations/acme/issues/?" + url.Values{"query": {"is:unresolved"}, "limit": {"2"}}.Encode()
	want := `<` + base + `&cursor=0:0:1>; rel="previous"; results="true"; cursor="0:0:1", ` +
		`<` + base + `&cursor=0:4:0>; rel="next"; results="false"; cursor="0:4:0"`
	if got := resp.Header.Get("Link"); got != want {
		t.Fatalf("Link\n got %s\nwant %s", got, want)
	}
}

func TestSearch_SeesUpdates(t *testing.T) {
	ctx := context.Background()
	_, c := searchFixture(t)
	if err := c.UpdateIssue(ctx, "acme", "BACKEND-1", sentry.Resolve()); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateIssue(ctx, "acme", "6", sentry.AssignTo("user:7")); err != nil {
		t.Fatal(err)
	}
	page, err := c.SearchIssues(ctx, "acme", sentry.IssueQuery{Query: "is:unresolved assigned:jane@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if got := issueIDs(page); !slices.Equal(got, []string{"2", "6"}) {
		t.Fatalf("ids %v", got)
	}
	if a := page.Issues[1].AssignedTo; a == nil || a.Email != "jane@example.com" {
		t.Fatalf("listed assignee %+v", a)
	}
}
