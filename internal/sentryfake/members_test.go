package sentryfake

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"sentrybot/sentry"
)

func memberIDs(ms []sentry.Member) []string {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return ids
}

func TestMembers_PaginationAndOrder(t *testing.T) {
	s, c := newFake(t, Options{PageSize: 2})
	for _, id := range []string{"10", "9", "100", "11"} {
		s.AddMember(NewMember(id, "u"+id, id+"@example.com", "User "+id, ""))
	}
	s.AddPendingInvite("50", "invitee@example.com")

	members, err := c.Members(context.Background(), "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := memberIDs(members), []string{"9", "10", "11", "50", "100"}; !slices.Equal(got, want) {
		t.Fatalf("ids %v, want %v (by id, across pages)", got, want)
	}
	if n := s.Count(http.MethodGet, "/api/0/organizations/acme/members/"); n != 3 {
		t.Fatalf("%d requests for 5 members in pages of 2", n)
	}
	invite := members[3]
	if invite.User != nil || !invite.Pending || invite.Email != "invitee@example.com" {
		t.Fatalf("invitation %+v", invite)
	}
	if m := members[0]; m.User == nil || m.User.ID != "u9" || m.Role != "member" || m.Name != "User 9" {
		t.Fatalf("member %+v", m)
	}
}

func TestMembers_LinkHeader(t *testing.T) {
	s, _ := newFake(t, Options{PageSize: 2})
	for _, id := range []string{"1", "2", "3"} {
		s.AddMember(NewMember(id, "u"+id, id+"@example.com", "", ""))
	}
	resp, body := get(t, s, "/api/0/organizations/acme/members/", s.Token())
	base := s.URL() + "/api/0/organizations/acme/members/?"
	want := `<` + base + `&cursor=2:-1:1>; rel="previous"; results="false"; cursor="2:-1:1", ` +
		`<` + base + `&cursor=2:1:0>; rel="next"; results="true"; cursor="2:1:0"`
	if got := resp.Header.Get("Link"); got != want {
		t.Fatalf("Link\n got %s\nwant %s", got, want)
	}
	var page []map[string]any
	if err := json.Unmarshal(body, &page); err != nil || len(page) != 2 {
		t.Fatalf("first page: %v %s", err, body)
	}

	resp, body = get(t, s, "/api/0/organizations/acme/members/?query=email%3A3%40example.com&cursor=2:1:0", s.Token())
	if !strings.Contains(resp.Header.Get("Link"), `rel="next"; results="false"; cursor="2:2:0"`) ||
		!strings.Contains(resp.Header.Get("Link"), "?query=email%3A3%40example.com&cursor=2:0:1") {
		t.Fatalf("second page Link %s", resp.Header.Get("Link"))
	}
	if string(body) != "[]" {
		t.Fatalf("one match is on the first page; second page %s", body)
	}

	resp, _ = get(t, s, "/api/0/organizations/acme/members/?per_page=1", s.Token())
	if !strings.Contains(resp.Header.Get("Link"), `cursor="1:1:0"`) {
		t.Fatalf("per_page ignored: %s", resp.Header.Get("Link"))
	}
	for _, q := range []string{"per_page=101", "per_page=x", "cursor=bogus", "cursor=2:-3:0"} {
		if resp, body := get(t, s, "/api/0/organizations/acme/members/?"+q, s.Token()); resp.StatusCode != 400 {
			t.Errorf("%s: %d %s", q, resp.StatusCode, body)
		}
	}
}

func TestMembers_Query(t *testing.T) {
	s, c := newFake(t, Options{})
	s.AddMember(NewMember("1", "11", "jane@example.com", "Jane Roe", "owner"))
	s.AddMember(NewMember("2", "12", "john@example.com", "John Doe", ""))
	// The account email can differ from the one the membership was made with.
	s.AddMember(sentry.Member{ID: "3", Email: "old@example.com", Name: "Max", User: &sentry.User{ID: "13", Name: "Max", Email: "max@corp.example"}})
	s.AddPendingInvite("4", "pending@example.com")

	tests := []struct {
		query string
		want  []string
	}{
		{"email:jane@example.com", []string{"1"}},
		{"email:JANE@EXAMPLE.COM", []string{"1"}},
		{"email:max@corp.example", []string{"3"}},
		{"email:old@example.com", []string{"3"}},
		{"email:pending@example.com", []string{"4"}},
		{"email:nobody@example.com", []string{}},
		{"doe", []string{"2"}},
		{"example.com", []string{"1", "2", "3", "4"}},
		{"user.id:12", []string{"2"}},
		{"role:owner", []string{"1"}},
		{"isInvited:true", []string{"4"}},
		{"isInvited:false", []string{"1", "2", "3"}},
		{"email:jane@example.com role:member", []string{}},
		{"unknownkey:x", []string{}},
	}
	for _, tt := range tests {
		members, err := c.Members(context.Background(), "acme", tt.query)
		if err != nil {
			t.Fatal(err)
		}
		if got := memberIDs(members); !slices.Equal(got, tt.want) {
			t.Errorf("Members(%q) = %v, want %v", tt.query, got, tt.want)
		}
	}
}

func TestAddMember(t *testing.T) {
	s, c := newFake(t, Options{})
	u := &sentry.User{ID: "5", Name: "Ann", Email: "ann@example.com"}
	first := s.AddMember(sentry.Member{Email: "ann@example.com", Name: "Ann", User: u})
	if first.ID != "1" || first.Role != "member" {
		t.Fatalf("defaults: %+v", first)
	}
	u.ID = "changed" // the fake keeps its own copy
	s.AddMember(sentry.Member{ID: "1", Email: "ann@example.com", Name: "Ann Updated", User: &sentry.User{ID: "5"}})
	members, err := c.Members(context.Background(), "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 1 || members[0].Name != "Ann Updated" || members[0].User.ID != "5" {
		t.Fatalf("members %+v", members)
	}
}

func TestTeams(t *testing.T) {
	s, c := newFake(t, Options{PageSize: 2})
	s.AddTeam(sentry.Team{ID: "3", Slug: "web", Name: "Web"})
	s.AddTeam(sentry.Team{Name: "Backend Core", IsMember: true})
	s.AddTeam(sentry.Team{ID: "9", Slug: "android"})

	teams, err := c.Teams(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	want := []sentry.Team{
		{ID: "9", Slug: "android", Name: "android"},
		{ID: "4", Slug: "backend-core", Name: "Backend Core", IsMember: true},
		{ID: "3", Slug: "web", Name: "Web"},
	}
	if !slices.Equal(teams, want) {
		t.Fatalf("teams %+v, want %+v (by slug, across pages)", teams, want)
	}
	reqs := s.Requests()
	if last := reqs[len(reqs)-1]; last.Query.Get("detailed") != "0" || last.Query.Get("cursor") != "2:1:0" {
		t.Fatalf("last request %+v", last)
	}

	_, body := get(t, s, "/api/0/organizations/acme/teams/?detailed=0&per_page=100", s.Token())
	if strings.Contains(string(body), `"projects"`) {
		t.Errorf("detailed=0 must leave out projects: %s", body)
	}
	_, body = get(t, s, "/api/0/organizations/acme/teams/?per_page=100", s.Token())
	if !strings.Contains(string(body), `"projects":[]`) {
		t.Errorf("detailed teams lack projects: %s", body)
	}
	for q, want := range map[string]string{"query=core": `"slug":"backend-core"`, "query=slug:web": `"slug":"web"`, "query=id:9": `"slug":"android"`} {
		_, body := get(t, s, "/api/0/organizations/acme/teams/?"+q, s.Token())
		var page []map[string]any
		if err := json.Unmarshal(body, &page); err != nil || len(page) != 1 || !strings.Contains(string(body), want) {
			t.Errorf("%s: %s", q, body)
		}
	}
	if resp, _ := get(t, s, "/api/0/organizations/acme/teams/?query=id:x", s.Token()); resp.StatusCode != 400 {
		t.Errorf("bad id: %d", resp.StatusCode)
	}
	if _, err := c.Teams(context.Background(), "other"); !errors.Is(err, sentry.ErrNotFound) {
		t.Errorf("other org: %v", err)
	}
}
