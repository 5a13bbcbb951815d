package sentryfake

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"sentrybot/internal/openapicheck"
	"sentrybot/sentry"
)

const (
	issuePath = "/api/0/organizations/{organization_id_or_slug}/issues/{issue_id}/"
	orgPath   = "/api/0/organizations/{organization_id_or_slug}/"
)

// schemaFor returns one schema of testdata/openapi-subset.json (see the
// README there for its source), keyed "<METHOD> <path> <status|request>".
func schemaFor(t *testing.T, key string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/openapi-subset.json")
	if err != nil {
		t.Fatal(err)
	}
	var subset map[string]json.RawMessage
	if err := json.Unmarshal(b, &subset); err != nil {
		t.Fatal(err)
	}
	s, ok := subset[key]
	if !ok {
		t.Fatalf("no schema %q in the subset", key)
	}
	return s
}

// TestContract_IssueBodies holds the fake's issue bodies to Sentry's schema,
// for issues in the states sentrybot meets, nullable fields null included.
func TestContract_IssueBodies(t *testing.T) {
	schema := schemaFor(t, "GET "+issuePath+" 200")
	s, _ := newFake(t, Options{})

	resolvedAt := time.Date(2026, 7, 30, 8, 0, 0, 0, time.UTC)
	untilEscalating := sentry.SubstatusArchivedUntilEscalating
	issues := map[string]func(*sentry.Issue){
		"Realistic": func(*sentry.Issue) {},
		"NullsEverywhere": func(is *sentry.Issue) {
			is.Culprit, is.Substatus, is.Priority, is.Platform = nil, nil, nil, nil
			is.AssignedTo, is.FirstSeen, is.LastSeen = nil, nil, nil
			is.FirstRelease, is.LastRelease = nil, nil
		},
		"AssignedUser": func(is *sentry.Issue) {
			is.AssignedTo = &sentry.Assignee{Type: "user", ID: "12", Name: "Jane Roe", Email: "jane@example.com"}
		},
		"AssignedTeamNoEmail": func(is *sentry.Issue) {
			is.AssignedTo = &sentry.Assignee{Type: "team", ID: "3", Name: "backend"}
		},
		"ResolvedInRelease": func(is *sentry.Issue) {
			is.Status, is.Substatus = sentry.StatusResolved, nil
			is.StatusDetails = json.RawMessage(`{"inRelease": "backend@2.4.0"}`)
			is.LastRelease = &sentry.Release{Version: "backend@2.4.0", DateReleased: &resolvedAt}
		},
		"ArchivedUntilEscalating": func(is *sentry.Issue) {
			is.Status, is.Substatus = sentry.StatusIgnored, &untilEscalating
		},
		"ProjectWithoutPlatform": func(is *sentry.Issue) {
			is.Project.Platform = ""
		},
		"WarningWith30dStats": func(is *sentry.Issue) {
			is.Level = "warning"
			is.Stats.Month = []sentry.StatPoint{{Time: 1785542400, Count: 3}}
		},
	}
	n := 0
	for name, change := range issues {
		n++
		is := NewIssue("", "CONTRACT-"+name, "ValueError: "+name)
		change(&is)
		stored := s.AddIssue(is)
		t.Run(name, func(t *testing.T) {
			resp, body := get(t, s, "/api/0/organizations/acme/issues/"+stored.ID+"/", s.Token())
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if problems := openapicheck.ValidateJSON(schema, body); problems != nil {
				t.Fatalf("body does not match Sentry's schema:\n%s\nbody: %s", strings.Join(problems, "\n"), body)
			}
		})
	}
	t.Run("Minimal", func(t *testing.T) {
		stored := s.AddIssue(sentry.Issue{})
		_, body := get(t, s, "/api/0/organizations/acme/issues/"+stored.ID+"/", s.Token())
		if problems := openapicheck.ValidateJSON(schema, body); problems != nil {
			t.Fatalf("minimal issue body:\n%s", strings.Join(problems, "\n"))
		}
	})
	t.Run("NullableFieldsAreNull", func(t *testing.T) {
		stored, _ := s.Issue("CONTRACT-NullsEverywhere")
		_, body := get(t, s, "/api/0/organizations/acme/issues/"+stored.ID+"/", s.Token())
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"culprit", "substatus", "priority", "platform", "assignedTo", "firstSeen", "lastSeen", "firstRelease", "lastRelease"} {
			if v, ok := m[k]; !ok || v != nil {
				t.Errorf("%s = %v (present %v), want null", k, v, ok)
			}
		}
	})
}

// TestContract_CheckerCatchesDrift makes sure the contract test would notice
// a fake that drifts from the schema, not just pass everything.
func TestContract_CheckerCatchesDrift(t *testing.T) {
	schema := schemaFor(t, "GET "+issuePath+" 200")
	body := issueBody(ptr(NewIssue("1", "BACKEND-1", "boom")))
	body["count"] = 42
	delete(body, "seenBy")
	body["assignedTo"] = map[string]any{"type": "robot", "id": "1", "name": "x"}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	problems := strings.Join(openapicheck.ValidateJSON(schema, b), "\n")
	for _, want := range []string{"$.count: want string, got integer", `missing required property "seenBy"`, `$.assignedTo.type: value "robot"`} {
		if !strings.Contains(problems, want) {
			t.Errorf("drift %q not reported; problems:\n%s", want, problems)
		}
	}
}

func TestContract_EmbeddedExamplesMatchSchema(t *testing.T) {
	if p := openapicheck.ValidateJSON(schemaFor(t, "GET "+issuePath+" 200"), issueTemplate); p != nil {
		t.Errorf("issue example: %v", p)
	}
	if p := openapicheck.ValidateJSON(schemaFor(t, "GET "+orgPath+" 200"), organizationTemplate); p != nil {
		t.Errorf("organization example: %v", p)
	}
}

func TestContract_Organization(t *testing.T) {
	s, _ := newFake(t, Options{Org: "initech"})
	resp, body := get(t, s, "/api/0/organizations/initech/", s.Token())
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if p := openapicheck.ValidateJSON(schemaFor(t, "GET "+orgPath+" 200"), body); p != nil {
		t.Fatalf("organization body:\n%s", strings.Join(p, "\n"))
	}
}

func ptr[T any](v T) *T { return &v }

const (
	listPath    = "/api/0/organizations/{organization_id_or_slug}/issues/"
	shortIDPath = "/api/0/organizations/{organization_id_or_slug}/shortids/{issue_id}/"
	membersPath = "/api/0/organizations/{organization_id_or_slug}/members/"
	teamsPath   = "/api/0/organizations/{organization_id_or_slug}/teams/"
)

func mustValid(t *testing.T, what string, schema, body []byte) {
	t.Helper()
	if p := openapicheck.ValidateJSON(schema, body); p != nil {
		t.Errorf("%s does not match Sentry's schema:\n%s\nbody: %s", what, strings.Join(p, "\n"), body)
	}
}

func TestContract_NewExamplesMatchSchema(t *testing.T) {
	mustValid(t, "short id example", schemaFor(t, "GET "+shortIDPath+" 200"), shortIDTemplate)
	mustValid(t, "issue list example", schemaFor(t, "GET "+listPath+" 200"), issueListTemplate)
	mustValid(t, "members example", schemaFor(t, "GET "+membersPath+" 200"), membersTemplate)
	mustValid(t, "teams example", schemaFor(t, "GET "+teamsPath+" 200"), teamsTemplate)
}

// TestContract_UpdateConstructors holds every body the client's update
// constructors send to the PUT request schema, and shows the check would
// catch bodies Sentry rejects.
func TestContract_UpdateConstructors(t *testing.T) {
	schema := schemaFor(t, "PUT "+issuePath+" request")
	updates := map[string]sentry.IssueUpdate{
		"Resolve":                 sentry.Resolve(),
		"ResolveInNextRelease":    sentry.ResolveInNextRelease(),
		"ResolveInCurrentRelease": sentry.ResolveInCurrentRelease(),
		"Unresolve":               sentry.Unresolve(),
		"ArchiveUntilEscalating":  sentry.ArchiveUntilEscalating(),
		"ArchiveForever":          sentry.ArchiveForever(),
		"ArchiveFor":              sentry.ArchiveFor(24 * time.Hour),
		"ArchiveUntilCount":       sentry.ArchiveUntilCount(10),
		"AssignTo":                sentry.AssignTo("user:1"),
		"Unassign":                sentry.Unassign(),
		"AllConditions": {Status: "ignored", StatusDetails: &sentry.StatusDetails{IgnoreCount: 5, IgnoreWindow: sentry.MaxIgnoreWindow,
			IgnoreUserCount: 3, IgnoreUserWindow: sentry.MaxIgnoreWindow, IgnoreDuration: 60}},
	}
	for name, u := range updates {
		if err := u.Valid(); err != nil && name != "AllConditions" {
			t.Errorf("%s: %v", name, err)
		}
		b, err := json.Marshal(u)
		if err != nil {
			t.Fatal(err)
		}
		if p := openapicheck.ValidatePatchJSON(schema, b); p != nil {
			t.Errorf("%s sends %s, which Sentry's schema rejects:\n%s", name, b, strings.Join(p, "\n"))
		}
	}
	for _, bad := range []string{`{"status":"archived"}`, `{"statusDetails":{"ignoreWindow":10081}}`, `{"assignedTo":null}`} {
		if openapicheck.ValidatePatchJSON(schema, []byte(bad)) == nil {
			t.Errorf("%s passed the schema check", bad)
		}
	}
}

// TestContract_UpdateResponses holds the fake's PUT answers to the schema,
// in the states an update can leave an issue in.
func TestContract_UpdateResponses(t *testing.T) {
	schema := schemaFor(t, "PUT "+issuePath+" 200")
	s, _ := newFake(t, Options{})
	s.AddRelease("backend", "backend@1.0")
	m := s.AddMember(NewMember("1", "7", "jane@example.com", "Jane", ""))
	team := s.AddTeam(sentry.Team{Slug: "core"})
	actor, _ := m.Actor()
	bodies := []string{
		`{"status":"resolved"}`,
		`{"status":"resolved","statusDetails":{"inNextRelease":true}}`,
		`{"status":"resolved","statusDetails":{"inRelease":"latest"}}`,
		`{"status":"unresolved"}`,
		`{"status":"ignored","substatus":"archived_until_escalating"}`,
		`{"status":"unresolved"}`,
		`{"status":"ignored","statusDetails":{"ignoreDuration":30,"ignoreCount":5,"ignoreWindow":60,"ignoreUserCount":2,"ignoreUserWindow":60}}`,
		`{"assignedTo":"` + actor + `"}`,
		`{"assignedTo":"` + team.Actor() + `"}`,
		`{"assignedTo":""}`,
		`{"priority":"low"}`,
	}
	s.AddIssue(NewIssue("1", "BACKEND-1", "ValueError: x"))
	nulls := NewIssue("2", "BACKEND-2", "ValueError: y")
	nulls.Culprit, nulls.Priority, nulls.Platform, nulls.FirstSeen, nulls.LastSeen = nil, nil, nil, nil, nil
	nulls.Project.Platform = ""
	s.AddIssue(nulls)
	for _, id := range []string{"1", "2"} {
		for _, body := range bodies {
			resp, got := put(t, s, "/api/0/organizations/acme/issues/"+id+"/", body)
			if resp.StatusCode != 200 {
				t.Fatalf("PUT %s: %d %s", body, resp.StatusCode, got)
			}
			mustValid(t, "answer to "+body, schema, got)
		}
	}
}

func TestContract_Lists(t *testing.T) {
	s, _ := newFake(t, Options{})
	s.AddMember(NewMember("1", "7", "jane@example.com", "Jane", "owner"))
	s.AddMember(NewMember("2", "8", "noname@example.com", "", ""))
	s.AddPendingInvite("3", "invitee@example.com")
	s.AddTeam(sentry.Team{Name: "Backend", IsMember: true})

	is := NewIssue("1", "BACKEND-1", "ValueError: x")
	is.AssignedTo = &sentry.Assignee{Type: "user", ID: "7", Name: "Jane", Email: "jane@example.com"}
	s.AddIssue(is)
	nulls := NewIssue("2", "WEB-2", "TypeError: y")
	nulls.Culprit, nulls.Substatus, nulls.Priority, nulls.Platform = nil, nil, nil, nil
	nulls.FirstSeen, nulls.LastSeen, nulls.Status = nil, nil, sentry.StatusResolved
	nulls.Project.Platform = ""
	s.AddIssue(nulls)
	s.AddIssue(sentry.Issue{Title: "minimal"})

	checks := []struct{ key, path string }{
		{"GET " + membersPath + " 200", "/api/0/organizations/acme/members/"},
		{"GET " + teamsPath + " 200", "/api/0/organizations/acme/teams/"},
		{"GET " + teamsPath + " 200", "/api/0/organizations/acme/teams/?detailed=0"},
		{"GET " + listPath + " 200", "/api/0/organizations/acme/issues/?query="},
		{"GET " + shortIDPath + " 200", "/api/0/organizations/acme/shortids/BACKEND-1/"},
		{"GET " + shortIDPath + " 200", "/api/0/organizations/acme/shortids/WEB-2/"},
	}
	for _, ch := range checks {
		resp, body := get(t, s, ch.path, s.Token())
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", ch.path, resp.StatusCode, body)
		}
		mustValid(t, ch.path, schemaFor(t, ch.key), body)
		if strings.HasSuffix(ch.path, "?query=") && strings.Count(string(body), `"shortId"`) != 3 {
			t.Errorf("list should hold all 3 issues: %s", body)
		}
	}
}
