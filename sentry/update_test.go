package sentry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// updateConstructors are every IssueUpdate constructor with the exact body
// it must send. Only the fields that change go on the wire: Sentry applies
// whatever is present.
var updateConstructors = []struct {
	name string
	u    IssueUpdate
	body string
}{
	{"Resolve", Resolve(), `{"status":"resolved"}`},
	{"ResolveInNextRelease", ResolveInNextRelease(), `{"status":"resolved","statusDetails":{"inNextRelease":true}}`},
	{"ResolveInCurrentRelease", ResolveInCurrentRelease(), `{"status":"resolved","statusDetails":{"inRelease":"latest"}}`},
	{"Unresolve", Unresolve(), `{"status":"unresolved"}`},
	{"ArchiveUntilEscalating", ArchiveUntilEscalating(), `{"status":"ignored","substatus":"archived_until_escalating"}`},
	{"ArchiveForever", ArchiveForever(), `{"status":"ignored","substatus":"archived_forever"}`},
	{"ArchiveFor", ArchiveFor(90 * time.Minute), `{"status":"ignored","substatus":"archived_until_condition_met","statusDetails":{"ignoreDuration":90}}`},
	{"ArchiveForRoundsUp", ArchiveFor(61 * time.Second), `{"status":"ignored","substatus":"archived_until_condition_met","statusDetails":{"ignoreDuration":2}}`},
	{"ArchiveUntilCount", ArchiveUntilCount(100), `{"status":"ignored","substatus":"archived_until_condition_met","statusDetails":{"ignoreCount":100}}`},
	{"AssignToUser", AssignTo("user:42"), `{"assignedTo":"user:42"}`},
	{"AssignToTeam", AssignTo("team:9"), `{"assignedTo":"team:9"}`},
	{"Unassign", Unassign(), `{"assignedTo":""}`},
}

func TestUpdateIssue_SendsOnlySetFields(t *testing.T) {
	for _, tt := range updateConstructors {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var method, path, ctype, body string
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				method, path, ctype, body = r.Method, r.URL.Path, r.Header.Get("Content-Type"), string(b)
				mu.Unlock()
				w.Write(exampleIssue(t)) // Sentry answers the whole updated issue
			})
			if err := c.UpdateIssue(context.Background(), "acme", "BACKEND-1A2", tt.u); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if method != http.MethodPut || path != "/api/0/organizations/acme/issues/BACKEND-1A2/" {
				t.Errorf("request %s %s", method, path)
			}
			if ctype != "application/json" {
				t.Errorf("Content-Type %q", ctype)
			}
			if body != tt.body {
				t.Errorf("body\n got %s\nwant %s", body, tt.body)
			}
		})
	}
}

func TestIssueUpdate_Valid(t *testing.T) {
	for _, tt := range updateConstructors {
		if err := tt.u.Valid(); err != nil {
			t.Errorf("%s: constructor output rejected: %v", tt.name, err)
		}
	}
	str := func(s string) *string { return &s }
	bad := []struct {
		name string
		u    IssueUpdate
		want string
	}{
		{"Empty", IssueUpdate{}, "nothing to update"},
		{"ArchivedIsNotAStatus", IssueUpdate{Status: "archived"}, `unknown status "archived"`},
		{"SubstatusWithoutStatus", IssueUpdate{Substatus: SubstatusArchivedForever}, "need a status"},
		{"ResolvedWithSubstatus", IssueUpdate{Status: StatusResolved, Substatus: SubstatusOngoing}, "does not go with"},
		{"IgnoredWithOngoing", IssueUpdate{Status: StatusIgnored, Substatus: SubstatusOngoing}, "does not go with"},
		{"ReleaseOnIgnored", IssueUpdate{Status: StatusIgnored, StatusDetails: &StatusDetails{InNextRelease: true}}, "only to status resolved"},
		{"BothReleases", IssueUpdate{Status: StatusResolved, StatusDetails: &StatusDetails{InNextRelease: true, InRelease: "1.0"}}, "exclude each other"},
		{"ConditionOnResolved", IssueUpdate{Status: StatusResolved, StatusDetails: &StatusDetails{IgnoreCount: 3}}, "only to status ignored"},
		{"WindowTooLong", IssueUpdate{Status: StatusIgnored, StatusDetails: &StatusDetails{IgnoreCount: 3, IgnoreWindow: MaxIgnoreWindow + 1}}, "at most 10080"},
		{"WindowWithoutCount", IssueUpdate{Status: StatusIgnored, StatusDetails: &StatusDetails{IgnoreUserWindow: 60}}, "ignoreUserWindow needs ignoreUserCount"},
		{"Negative", IssueUpdate{Status: StatusIgnored, StatusDetails: &StatusDetails{IgnoreDuration: -5}}, "ignoreDuration must not be negative"},
		{"ArchiveForZero", ArchiveFor(0), "needs a positive"},
		{"ArchiveUntilZeroCount", ArchiveUntilCount(0), "needs a positive"},
		{"EscalatingWithCondition", IssueUpdate{Status: StatusIgnored, Substatus: SubstatusArchivedUntilEscalating, StatusDetails: &StatusDetails{IgnoreDuration: 5}}, "takes no archive condition"},
		{"MemberIDStyle", AssignTo("42"), "not user:<id> or team:<id>"},
		{"Email", AssignTo("jane@example.com"), "not user:<id> or team:<id>"},
		{"NotNumeric", AssignTo("user:jane"), "not user:<id> or team:<id>"},
		{"LeadingZero", AssignTo("team:09"), "not user:<id> or team:<id>"},
		{"Zero", IssueUpdate{AssignedTo: str("user:0")}, "not user:<id> or team:<id>"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.u.Valid()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Valid() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestUpdateIssue_RejectsBeforeSending(t *testing.T) {
	var calls atomic.Int32
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { calls.Add(1) })
	err := c.UpdateIssue(context.Background(), "acme", "1", AssignTo("42"))
	if e := asError(t, err); e.Kind != KindInvalid || e.Op != "update issue" || !strings.Contains(e.Detail, "user:<id>") {
		t.Fatalf("got %+v", e)
	}
	if err := c.UpdateIssue(context.Background(), "acme", "1/../2", Resolve()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad id: %v", err)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

// TestUpdateIssue_RedirectIsAnError: a merged issue answers 302; replaying
// the PUT as a GET would report success without changing anything.
func TestUpdateIssue_RedirectIsAnError(t *testing.T) {
	var gets atomic.Int32
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			gets.Add(1)
			w.Write(exampleIssue(t))
			return
		}
		http.Redirect(w, r, "/api/0/organizations/acme/issues/2/", http.StatusFound)
	})
	err := c.UpdateIssue(context.Background(), "acme", "1", Resolve())
	e := asError(t, err)
	if e.Kind != KindBadResponse || e.StatusCode != http.StatusFound || !strings.Contains(e.Detail, "/issues/2/") {
		t.Fatalf("got %+v", e)
	}
	if gets.Load() != 0 {
		t.Fatal("the redirected PUT was followed")
	}
}

func TestIsNoReleaseData(t *testing.T) {
	// The body as Sentry's serializer sends it.
	const body = `{"statusDetails": {"inNextRelease": ["No release data present in the system to form a basis for 'Next Release'"]}}`
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(body))
	})
	err := c.UpdateIssue(context.Background(), "acme", "1", ResolveInNextRelease())
	if !IsNoReleaseData(err) {
		t.Fatalf("IsNoReleaseData(%v) = false", err)
	}
	e := asError(t, err)
	if want := "statusDetails.inNextRelease: No release data present in the system to form a basis for 'Next Release'"; e.Detail != want {
		t.Errorf("detail %q, want %q", e.Detail, want)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Error("still an invalid-request error")
	}

	others := []error{
		nil,
		errors.New("No release data present"),
		&Error{StatusCode: 400, Kind: KindInvalid, Detail: "assignedTo: Could not parse actor."},
		&Error{StatusCode: 500, Kind: KindServer, Detail: "No release data present"},
	}
	for _, err := range others {
		if IsNoReleaseData(err) {
			t.Errorf("IsNoReleaseData(%v) = true", err)
		}
	}
	wrapped := errors.Join(errors.New("resolving"), &Error{StatusCode: 400, Kind: KindInvalid, Detail: "statusDetails.inRelease: No release data present in the system"})
	if !IsNoReleaseData(wrapped) {
		t.Error("wrapped error not recognised")
	}
}

func TestErrorDetail_NestedSerializerErrors(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"statusDetails": {"inCommit": {"repository": ["Unable to find the given repository."]}}, "assignedTo": ["Could not parse actor."]}`,
			"assignedTo: Could not parse actor.; statusDetails.inCommit.repository: Unable to find the given repository."},
		{`{"statusDetails": {"non_field_errors": ["Bad"]}}`, "statusDetails: Bad"},
		{`{"statusDetails": {}, "x": 5}`, ""},
	}
	for _, tt := range tests {
		if got := errorDetail([]byte(tt.body)); got != tt.want {
			t.Errorf("errorDetail(%s)\n got %q\nwant %q", tt.body, got, tt.want)
		}
	}
}

func TestParseActor(t *testing.T) {
	kind, id, ok := ParseActor("team:9")
	if !ok || kind != "team" || id != "9" {
		t.Fatalf("ParseActor(team:9) = %q %q %v", kind, id, ok)
	}
	for _, s := range []string{"", "user:", "user:-1", "user:1.5", "group:1", "user: 1", "USER:1", "user:99999999999999999999"} {
		if _, _, ok := ParseActor(s); ok {
			t.Errorf("ParseActor(%q) accepted", s)
		}
	}
}

func TestMember_Actor(t *testing.T) {
	var m Member
	if err := json.Unmarshal([]byte(`{"id": "57377908164", "email": "a@b.c", "name": "A", "role": "admin", "pending": false,
		"user": {"id": "280094367316", "name": "A", "email": "a@b.c", "username": "a"}}`), &m); err != nil {
		t.Fatal(err)
	}
	if actor, ok := m.Actor(); !ok || actor != "user:280094367316" {
		t.Fatalf("Actor() = %q %v, want the user id, not the member id", actor, ok)
	}
	if m.Role != "admin" {
		t.Fatalf("legacy role not read: %q", m.Role)
	}
	if _, ok := (Member{ID: "5", Pending: true}).Actor(); ok {
		t.Fatal("an invitation has no actor")
	}
	if a := (Team{ID: "9"}).Actor(); a != "team:9" {
		t.Fatalf("team actor %q", a)
	}
}
