package sentryfake

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"sentrybot/sentry"
)

// put sends a raw PUT so tests can send bodies the client would refuse.
func put(t *testing.T, s *Server, path, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token())
	req.Header.Set("Content-Type", "application/json")
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func detailOf(t *testing.T, err error) string {
	t.Helper()
	var e *sentry.Error
	if !errors.As(err, &e) {
		t.Fatalf("want *sentry.Error, got %v", err)
	}
	return e.Detail
}

func substatusOf(is sentry.Issue) string {
	if is.Substatus == nil {
		return "<nil>"
	}
	return *is.Substatus
}

func statusDetailsOf(t *testing.T, is sentry.Issue) map[string]any {
	t.Helper()
	var m map[string]any
	if len(is.StatusDetails) == 0 {
		return map[string]any{}
	}
	if err := json.Unmarshal(is.StatusDetails, &m); err != nil {
		t.Fatalf("statusDetails %s: %v", is.StatusDetails, err)
	}
	return m
}

func TestUpdate_StatusRules(t *testing.T) {
	ctx := context.Background()
	hoursAgo := func(h int) *time.Time { t := time.Now().Add(-time.Duration(h) * time.Hour); return &t }
	tests := []struct {
		name      string
		before    func(*sentry.Issue)
		u         sentry.IssueUpdate
		status    string
		substatus string
		details   []string // keys statusDetails must have, exactly
	}{
		{"Resolve", nil, sentry.Resolve(), "resolved", "<nil>", nil},
		{"ArchiveUntilEscalating", nil, sentry.ArchiveUntilEscalating(), "ignored", "archived_until_escalating", nil},
		{"ArchiveForever", nil, sentry.ArchiveForever(), "ignored", "archived_forever", nil},
		{"ArchiveFor", nil, sentry.ArchiveFor(2 * time.Hour), "ignored", "archived_until_condition_met", []string{"actor", "ignoreUntil"}},
		{"ArchiveUntilCount", nil, sentry.ArchiveUntilCount(50), "ignored", "archived_until_condition_met", []string{"actor", "ignoreCount"}},
		{"IgnoredWithoutSubstatusIsForever", nil, sentry.IssueUpdate{Status: "ignored"}, "ignored", "archived_forever", nil},
		{"IgnoredWithConditionInfersConditionMet", nil,
			sentry.IssueUpdate{Status: "ignored", StatusDetails: &sentry.StatusDetails{IgnoreUserCount: 10, IgnoreUserWindow: 60}},
			"ignored", "archived_until_condition_met", []string{"actor", "ignoreUserCount", "ignoreUserWindow"}},
		{"UnresolveResolvedIsRegressed", func(is *sentry.Issue) { is.Status, is.Substatus = "resolved", nil },
			sentry.Unresolve(), "unresolved", "regressed", nil},
		{"UnresolveRecentArchiveIsNew", func(is *sentry.Issue) {
			is.Status, is.Substatus, is.FirstSeen = "ignored", ptr("archived_forever"), hoursAgo(30)
		}, sentry.Unresolve(), "unresolved", "new", nil},
		{"UnresolveOldArchiveIsOngoing", func(is *sentry.Issue) {
			is.Status, is.Substatus, is.FirstSeen = "ignored", ptr("archived_forever"), hoursAgo(24*30)
		}, sentry.Unresolve(), "unresolved", "ongoing", nil},
		{"UnresolveUnresolvedKeepsSubstatus", func(is *sentry.Issue) { is.Substatus = ptr("escalating") },
			sentry.Unresolve(), "unresolved", "escalating", nil},
		{"RearchiveKeepsSubstatus", func(is *sentry.Issue) { is.Status, is.Substatus = "ignored", ptr("archived_forever") },
			sentry.ArchiveUntilEscalating(), "ignored", "archived_forever", nil},
	}
	s, c := newFake(t, Options{})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := NewIssue("", "", "ValueError: "+tt.name)
			is.ID = string(rune('A' + i))
			if tt.before != nil {
				tt.before(&is)
			}
			stored := s.AddIssue(is)
			if err := c.UpdateIssue(ctx, "acme", stored.ShortID, tt.u); err != nil {
				t.Fatal(err)
			}
			got, err := c.Issue(ctx, "acme", stored.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.status || substatusOf(*got) != tt.substatus {
				t.Fatalf("status %s/%s, want %s/%s", got.Status, substatusOf(*got), tt.status, tt.substatus)
			}
			details := statusDetailsOf(t, *got)
			if len(details) != len(tt.details) {
				t.Fatalf("statusDetails %v, want keys %v", details, tt.details)
			}
			for _, k := range tt.details {
				if _, ok := details[k]; !ok {
					t.Errorf("statusDetails lacks %s: %v", k, details)
				}
			}
		})
	}

	t.Run("IgnoreUntilIsTheDuration", func(t *testing.T) {
		stored := s.AddIssue(NewIssue("dur", "DUR-1", "x"))
		if err := c.UpdateIssue(ctx, "acme", stored.ID, sentry.ArchiveFor(90*time.Minute)); err != nil {
			t.Fatal(err)
		}
		got, _ := s.Issue("dur")
		until, err := time.Parse(time.RFC3339, statusDetailsOf(t, got)["ignoreUntil"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Until(until); d < 88*time.Minute || d > 91*time.Minute {
			t.Fatalf("ignoreUntil in %v, want about 90 minutes", d)
		}
	})
}

func TestUpdate_Releases(t *testing.T) {
	ctx := context.Background()
	s, c := newFake(t, Options{})
	s.AddIssue(NewIssue("1", "BACKEND-1", "KeyError: 'id'"))
	s.AddIssue(NewIssue("2", "WEB-2", "TypeError: x"))

	for _, u := range []sentry.IssueUpdate{sentry.ResolveInNextRelease(), sentry.ResolveInCurrentRelease()} {
		err := c.UpdateIssue(ctx, "acme", "1", u)
		if !sentry.IsNoReleaseData(err) {
			t.Fatalf("%+v without releases: %v, want the no-release-data error", u.StatusDetails, err)
		}
	}
	if got, _ := s.Issue("1"); got.Status != "unresolved" {
		t.Fatalf("a rejected update changed the issue: %s", got.Status)
	}
	// The error names the field the way Sentry's serializer nests it.
	err := c.UpdateIssue(ctx, "acme", "1", sentry.ResolveInNextRelease())
	if d := detailOf(t, err); d != "statusDetails.inNextRelease: No release data present in the system to form a basis for 'Next Release'" {
		t.Fatalf("detail %q", d)
	}

	s.AddRelease("web", "web@1.0") // another project's release does not count
	if err := c.UpdateIssue(ctx, "acme", "1", sentry.ResolveInNextRelease()); !sentry.IsNoReleaseData(err) {
		t.Fatalf("release of another project accepted: %v", err)
	}

	s.AddRelease("backend", "backend@2.3.0")
	s.AddRelease("backend", "backend@2.4.0")
	if err := c.UpdateIssue(ctx, "acme", "1", sentry.ResolveInNextRelease()); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Issue("1")
	d := statusDetailsOf(t, got)
	if got.Status != "resolved" || got.Substatus != nil || d["inNextRelease"] != true || d["actor"] == nil {
		t.Fatalf("resolved in next release: %s %v %v", got.Status, got.Substatus, d)
	}

	if err := c.UpdateIssue(ctx, "acme", "1", sentry.ResolveInCurrentRelease()); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Issue("1")
	if d := statusDetailsOf(t, got); d["inRelease"] != "backend@2.4.0" {
		t.Fatalf(`"latest" should resolve to the newest release, got %v`, d)
	}

	err = c.UpdateIssue(ctx, "acme", "1", sentry.IssueUpdate{Status: "resolved", StatusDetails: &sentry.StatusDetails{InRelease: "backend@9.9"}})
	if d := detailOf(t, err); d != "statusDetails.inRelease: Unable to find a release with the given version." {
		t.Fatalf("unknown version: %q", d)
	}
	if err := c.UpdateIssue(ctx, "acme", "1", sentry.IssueUpdate{Status: "resolved", StatusDetails: &sentry.StatusDetails{InRelease: "backend@2.3.0"}}); err != nil {
		t.Fatal(err)
	}

	// resolvedInNextRelease, a status the schema allows, needs no release.
	resp, body := put(t, s, "/api/0/organizations/acme/issues/2/", `{"status": "resolvedInNextRelease"}`)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"inNextRelease":true`) {
		t.Fatalf("resolvedInNextRelease: %d %s", resp.StatusCode, body)
	}
}

func TestUpdate_Assign(t *testing.T) {
	ctx := context.Background()
	s, c := newFake(t, Options{})
	s.AddIssue(NewIssue("1", "BACKEND-1", "KeyError: 'id'"))
	jane := s.AddMember(NewMember("100", "7", "jane@example.com", "Jane Roe", ""))
	noName := s.AddMember(NewMember("101", "8", "nameless@example.com", "", "admin"))
	invite := s.AddPendingInvite("102", "new@example.com")
	team := s.AddTeam(sentry.Team{Name: "Backend Team"})

	assigned := func() *sentry.Assignee {
		t.Helper()
		is, err := c.Issue(ctx, "acme", "1")
		if err != nil {
			t.Fatal(err)
		}
		return is.AssignedTo
	}

	actor, ok := jane.Actor()
	if !ok || actor != "user:7" {
		t.Fatalf("actor %q", actor)
	}
	if err := c.UpdateIssue(ctx, "acme", "1", sentry.AssignTo(actor)); err != nil {
		t.Fatal(err)
	}
	if a := assigned(); a == nil || *a != (sentry.Assignee{Type: "user", ID: "7", Name: "Jane Roe", Email: "jane@example.com"}) {
		t.Fatalf("assignee %+v", a)
	}

	actor, _ = noName.Actor()
	if err := c.UpdateIssue(ctx, "acme", "1", sentry.AssignTo(actor)); err != nil {
		t.Fatal(err)
	}
	if a := assigned(); a == nil || a.Name != "nameless@example.com" {
		t.Fatalf("a user without a name shows the email: %+v", a)
	}

	if err := c.UpdateIssue(ctx, "acme", "1", sentry.AssignTo(team.Actor())); err != nil {
		t.Fatal(err)
	}
	if a := assigned(); a == nil || *a != (sentry.Assignee{Type: "team", ID: team.ID, Name: "backend-team"}) {
		t.Fatalf("team assignee %+v", a)
	}

	if err := c.UpdateIssue(ctx, "acme", "1", sentry.Unassign()); err != nil {
		t.Fatal(err)
	}
	if a := assigned(); a != nil {
		t.Fatalf("still assigned to %+v", a)
	}

	// Sentry also takes a bare user id, a username or an email.
	for _, v := range []string{"7", "jane@example.com", "JANE@example.com"} {
		resp, body := put(t, s, "/api/0/organizations/acme/issues/1/", `{"assignedTo": "`+v+`"}`)
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"id":"7"`) {
			t.Errorf("assignedTo %q: %d %s", v, resp.StatusCode, body)
		}
	}
	if err := c.UpdateIssue(ctx, "acme", "1", sentry.Unassign()); err != nil {
		t.Fatal(err)
	}

	rejected := []struct{ actor, detail string }{
		{"user:100", "assignedTo: ActorType.USER does not exist"}, // the member id, not the user id
		{"user:999", "assignedTo: ActorType.USER does not exist"},
		{"team:999", "assignedTo: ActorType.TEAM does not exist"},
	}
	for _, r := range rejected {
		err := c.UpdateIssue(ctx, "acme", "1", sentry.AssignTo(r.actor))
		if d := detailOf(t, err); d != r.detail || kindOf(t, err) != sentry.KindInvalid {
			t.Errorf("AssignTo(%s): %q, want %q", r.actor, d, r.detail)
		}
	}
	for _, v := range []string{"user:abc", "nobody", invite.Email} {
		resp, body := put(t, s, "/api/0/organizations/acme/issues/1/", `{"assignedTo": "`+v+`"}`)
		if resp.StatusCode != 400 || !strings.Contains(string(body), "Could not parse actor") {
			t.Errorf("assignedTo %q: %d %s", v, resp.StatusCode, body)
		}
	}
	if _, ok := invite.Actor(); ok {
		t.Error("an invitation has no user to assign")
	}
	if a := assigned(); a != nil {
		t.Fatalf("rejected updates assigned %+v", a)
	}
}

func TestUpdate_SchemaRejects(t *testing.T) {
	s, _ := newFake(t, Options{})
	s.AddIssue(NewIssue("1", "BACKEND-1", "KeyError: 'id'"))
	tests := []struct{ body, want string }{
		{`{"status": "archived"}`, `$.status: value "archived" is not one of`},
		{`{"status": "ignored", "statusDetails": {"ignoreCount": 5, "ignoreWindow": 20000}}`, "$.statusDetails.ignoreWindow: 20000 is above the maximum 10080"},
		{`{"status": "ignored", "statusDetails": {"ignoreUserCount": 5, "ignoreUserWindow": 10081}}`, "ignoreUserWindow: 10081 is above the maximum"},
		{`{"status": 1}`, "$.status: want string, got integer"},
		{`{"assignedTo": 7}`, "$.assignedTo: want string, got integer"},
		{`{"statusDetails": {"ignoreCount": "5"}}`, "$.statusDetails.ignoreCount: want integer, got string"},
		{`{"statusDetails": {"ignoreDuration": 1.5}}`, "$.statusDetails.ignoreDuration: want integer, got number"},
		{`{"statusDetails": {"inNextRelease": "yes"}}`, "$.statusDetails.inNextRelease: want boolean"},
		{`{"substatus": "archived"}`, `$.substatus: value "archived" is not one of`},
		{`{"priority": "urgent"}`, `$.priority: value "urgent"`},
		{`{"hasSeen": "true"}`, "$.hasSeen: want boolean"},
		{`[{"status": "resolved"}]`, "Invalid data. Expected a dictionary, but got list."},
		{`{"status": `, "JSON parse error"},
		{`{"status": "ignored", "substatus": "ongoing"}`, `substatus "ongoing" does not go with status "ignored"`},
		{`{"status": "unresolved", "substatus": "archived_forever"}`, `does not go with status "unresolved"`},
		{`{"discard": true}`, "You do not have permission to discard events"},
		{`{"status": "resolved", "statusDetails": {"inCommit": {"commit": "abc", "repository": "acme/api"}}}`, "Unable to find the given repository."},
	}
	for _, tt := range tests {
		resp, body := put(t, s, "/api/0/organizations/acme/issues/1/", tt.body)
		text := strings.ReplaceAll(string(body), `\"`, `"`) // compare messages, not their JSON escaping
		if resp.StatusCode != 400 || !strings.Contains(text, tt.want) {
			t.Errorf("PUT %s: %d %s, want 400 containing %s", tt.body, resp.StatusCode, body, tt.want)
		}
	}
	if is, _ := s.Issue("1"); is.Status != "unresolved" || substatusOf(is) != "ongoing" {
		t.Fatalf("rejected bodies changed the issue: %s/%s", is.Status, substatusOf(is))
	}

	// Fields the fake does not act on, and an empty body, are accepted.
	for _, body := range []string{`{"hasSeen": true, "isBookmarked": true, "unknownField": 1}`, ``, `{}`, `{"substatus": null}`} {
		if resp, b := put(t, s, "/api/0/organizations/acme/issues/1/", body); resp.StatusCode != 200 {
			t.Errorf("PUT %q: %d %s", body, resp.StatusCode, b)
		}
	}
}

func TestUpdate_Response(t *testing.T) {
	s, _ := newFake(t, Options{})
	s.AddIssue(NewIssue("1", "BACKEND-1", "KeyError: 'id'"))
	resp, body := put(t, s, "/api/0/organizations/acme/issues/BACKEND-1/", `{"status": "resolved", "priority": "low"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	// The whole issue as the base serializer has it: no stats or activity.
	if m["id"] != "1" || m["status"] != "resolved" || m["substatus"] != nil || m["priority"] != "low" {
		t.Fatalf("body %s", body)
	}
	if sd, ok := m["statusDetails"].(map[string]any); !ok || len(sd) != 0 {
		t.Fatalf("statusDetails %v, want {}", m["statusDetails"])
	}
	for _, k := range []string{"stats", "activity", "seenBy", "firstRelease", "tags"} {
		if _, ok := m[k]; ok {
			t.Errorf("update answer has detail-only field %s", k)
		}
	}
	if s.Count(http.MethodPut, "/api/0/organizations/acme/issues/BACKEND-1/") != 1 {
		t.Fatal("PUT not recorded")
	}
	if got := string(s.Requests()[0].Body); got != `{"status": "resolved", "priority": "low"}` {
		t.Fatalf("recorded body %q", got)
	}
}

func TestUpdate_NotFoundMergedAndOtherOrg(t *testing.T) {
	ctx := context.Background()
	s, c := newFake(t, Options{})
	s.AddIssue(NewIssue("1", "API-1", "a"))
	s.AddIssue(NewIssue("2", "API-2", "a"))
	s.MergeIssue("1", "2")

	err := c.UpdateIssue(ctx, "acme", "API-1", sentry.Resolve())
	var e *sentry.Error
	if !errors.As(err, &e) || e.Kind != sentry.KindBadResponse || e.StatusCode != http.StatusFound || !strings.Contains(e.Detail, "/issues/2/") {
		t.Fatalf("merged: %v", err)
	}
	if is, _ := s.Issue("2"); is.Status != "unresolved" {
		t.Fatal("an update through a redirect must not be applied")
	}
	if err := c.UpdateIssue(ctx, "acme", "999", sentry.Resolve()); !errors.Is(err, sentry.ErrNotFound) {
		t.Fatalf("unknown issue: %v", err)
	}
	if err := c.UpdateIssue(ctx, "other", "2", sentry.Resolve()); !errors.Is(err, sentry.ErrNotFound) {
		t.Fatalf("other org: %v", err)
	}
	s.Fail("2", http.StatusTooManyRequests, 1)
	if err := c.UpdateIssue(ctx, "acme", "API-2", sentry.Resolve()); !errors.Is(err, sentry.ErrRateLimited) {
		t.Fatalf("injected failure: %v", err)
	}
}

func TestUpdate_Discard(t *testing.T) {
	s, _ := newFake(t, Options{Scopes: append(DefaultScopes(), "event:admin")})
	s.AddIssue(NewIssue("1", "BACKEND-1", "x"))
	if resp, body := put(t, s, "/api/0/organizations/acme/issues/1/", `{"discard": true, "status": "resolved"}`); resp.StatusCode != 400 ||
		!strings.Contains(string(body), "Other attributes cannot be updated when discarding") {
		t.Fatalf("discard with more: %d %s", resp.StatusCode, body)
	}
	if resp, _ := put(t, s, "/api/0/organizations/acme/issues/1/", `{"discard": true}`); resp.StatusCode != 204 {
		t.Fatalf("discard: %d", resp.StatusCode)
	}
	if _, ok := s.Issue("1"); ok {
		t.Fatal("discarded issue still there")
	}
}

// TestUpdate_Concurrent runs updates and reads in parallel; with -race it
// checks the fake's locking.
func TestUpdate_Concurrent(t *testing.T) {
	ctx := context.Background()
	s, c := newFake(t, Options{})
	s.AddRelease("backend", "backend@1")
	m := s.AddMember(NewMember("1", "11", "a@example.com", "A", ""))
	actor, _ := m.Actor()
	for i := range 4 {
		s.AddIssue(NewIssue(string(rune('1'+i)), "", "x"))
	}
	updates := []sentry.IssueUpdate{sentry.Resolve(), sentry.ResolveInNextRelease(), sentry.ArchiveForever(),
		sentry.Unresolve(), sentry.AssignTo(actor), sentry.Unassign(), sentry.ArchiveFor(time.Hour)}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 14 {
				id := string(rune('1' + (g+i)%4))
				if err := c.UpdateIssue(ctx, "acme", id, updates[(g*3+i)%len(updates)]); err != nil {
					errs <- err
				}
				if _, err := c.SearchIssues(ctx, "acme", sentry.IssueQuery{Query: "is:unresolved"}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	puts := 0
	for _, r := range s.Requests() {
		if r.Method == http.MethodPut {
			puts++
		}
	}
	if puts != 8*14 {
		t.Fatalf("%d PUTs recorded, want %d", puts, 8*14)
	}
}
