package authz

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"sentrybot/internal/testkit"
	"sentrybot/store"
)

// MemberLookupMock is a MemberLookup made of a function.
type MemberLookupMock struct {
	MemberFn func(ctx context.Context, org, memberID string) (MemberInfo, error)
}

func (m *MemberLookupMock) Member(ctx context.Context, org, memberID string) (MemberInfo, error) {
	return m.MemberFn(ctx, org, memberID)
}

var _ MemberLookup = (*MemberLookupMock)(nil)

// SlackUsersMock is a SlackUsers made of a function.
type SlackUsersMock struct {
	IsWorkspaceAdminFn func(ctx context.Context, teamID, userID string) (bool, error)
}

func (m *SlackUsersMock) IsWorkspaceAdmin(ctx context.Context, teamID, userID string) (bool, error) {
	return m.IsWorkspaceAdminFn(ctx, teamID, userID)
}

var _ SlackUsers = (*SlackUsersMock)(nil)

// fakeSentry holds organization members and counts lookups.
type fakeSentry struct {
	mu      sync.Mutex
	members map[string]MemberInfo
	down    bool
	calls   int
	orgs    map[string]int
}

func newFakeSentry(members ...MemberInfo) *fakeSentry {
	s := &fakeSentry{members: map[string]MemberInfo{}, orgs: map[string]int{}}
	for _, m := range members {
		s.members[m.ID] = m
	}
	return s
}

func (s *fakeSentry) set(fn func(s *fakeSentry)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s)
}

func (s *fakeSentry) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *fakeSentry) mock() *MemberLookupMock {
	return &MemberLookupMock{MemberFn: func(ctx context.Context, org, memberID string) (MemberInfo, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.calls++
		s.orgs[org]++
		if s.down {
			return MemberInfo{}, errors.New("sentry: get member: unreachable: connection refused")
		}
		m, ok := s.members[memberID]
		if !ok {
			// Adapters wrap the sentinel in their own error.
			return MemberInfo{}, fmt.Errorf("sentry: get member: not found (404): %w", ErrMemberNotFound)
		}
		return m, nil
	}}
}

// fakeSlack answers workspace-admin questions from a set and counts them.
type fakeSlack struct {
	mu     sync.Mutex
	admins map[string]bool
	err    error
	calls  int
}

func (s *fakeSlack) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *fakeSlack) mock() *SlackUsersMock {
	return &SlackUsersMock{IsWorkspaceAdminFn: func(ctx context.Context, teamID, userID string) (bool, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.calls++
		if s.err != nil {
			return false, s.err
		}
		return s.admins[teamID+"/"+userID], nil
	}}
}

type fixture struct {
	db     *store.DB
	clk    *testkit.Clock
	sentry *fakeSentry
	slack  *fakeSlack
	authz  *Authorizer
}

func openDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "sentrybot.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newFixture(t *testing.T, o Options, members ...MemberInfo) *fixture {
	t.Helper()
	fx := &fixture{
		db:     openDB(t),
		clk:    testkit.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)),
		sentry: newFakeSentry(members...),
		slack:  &fakeSlack{admins: map[string]bool{}},
	}
	fx.db.Now = fx.clk.Now
	if o.Org == "" {
		o.Org = "acme"
	}
	if o.TeamID == "" {
		o.TeamID = "T1"
	}
	o.Now = fx.clk.Now
	fx.authz = New(fx.db, fx.sentry.mock(), fx.slack.mock(), zerolog.New(zerolog.NewTestWriter(t)), o)
	return fx
}

func (fx *fixture) link(t *testing.T, slackUser, memberID, sentryUser, orgRole string) {
	t.Helper()
	if err := fx.db.LinkIdentity(context.Background(), store.Identity{
		TeamID: "T1", SlackUserID: slackUser, MemberID: memberID, SentryUserID: sentryUser,
		Email: slackUser + "@example.com", OrgRole: orgRole, Method: "email", LinkedBy: slackUser,
	}); err != nil {
		t.Fatalf("link %s: %v", slackUser, err)
	}
}

func (fx *fixture) authorize(t *testing.T, user string, a Action) (Decision, Facts) {
	t.Helper()
	d, f, err := fx.authz.Authorize(context.Background(), Subject{TeamID: "T1", UserID: user, ChannelID: "C1"}, a,
		Resource{IssueID: "42", Org: "acme"})
	if err != nil {
		t.Fatalf("Authorize(%s, %s): %v", user, a, err)
	}
	return d, f
}

func (fx *fixture) role(t *testing.T, user string) (Role, Facts) {
	t.Helper()
	r, f, err := fx.authz.Role(context.Background(), Subject{TeamID: "T1", UserID: user})
	if err != nil {
		t.Fatalf("Role(%s): %v", user, err)
	}
	return r, f
}

func wantDecision(t *testing.T, d Decision, allow bool, reason Reason) {
	t.Helper()
	if d.Allow != allow || d.Reason != reason {
		t.Errorf("decision = allow=%v reason=%s (%q); want allow=%v reason=%s", d.Allow, d.Reason, d.Message, allow, reason)
	}
}

var alice = MemberInfo{ID: "m-1", UserID: "u-1", Email: "alice@example.com", OrgRole: "member"}

func TestAuthorizer_MemberCache(t *testing.T) {
	fx := newFixture(t, Options{MemberTTL: time.Minute}, alice)
	fx.link(t, "U1", "m-1", "u-1", "member")

	if r, _ := fx.role(t, "U1"); r != RoleResponder {
		t.Fatalf("Role = %s, want responder", r)
	}
	if n := fx.sentry.Calls(); n != 1 {
		t.Fatalf("lookups after first Role = %d, want 1", n)
	}
	fx.clk.Advance(30 * time.Second)
	fx.role(t, "U1")
	d, _ := fx.authorize(t, "U1", ActionResolve)
	wantDecision(t, d, true, ReasonAllowedResponder)
	if n := fx.sentry.Calls(); n != 1 {
		t.Errorf("lookups within the TTL = %d, want still 1", n)
	}

	// Past the TTL a change refetches, and the fresh answer is reused.
	fx.clk.Advance(31 * time.Second)
	d, _ = fx.authorize(t, "U1", ActionArchive)
	wantDecision(t, d, true, ReasonAllowedResponder)
	fx.authorize(t, "U1", ActionAssign)
	if n := fx.sentry.Calls(); n != 2 {
		t.Errorf("lookups after the TTL = %d, want 2", n)
	}
	// So does a read-only question.
	fx.clk.Advance(time.Minute)
	fx.role(t, "U1")
	if n := fx.sentry.Calls(); n != 3 {
		t.Errorf("lookups after the TTL for Role = %d, want 3", n)
	}
	if fx.sentry.orgs["acme"] != 3 || len(fx.sentry.orgs) != 1 {
		t.Errorf("lookups by org = %v, want all in acme", fx.sentry.orgs)
	}

	// An unlinked user costs no lookup.
	d, _ = fx.authorize(t, "U2", ActionResolve)
	wantDecision(t, d, false, ReasonNotLinked)
	if n := fx.sentry.Calls(); n != 3 {
		t.Errorf("lookups after an unlinked user's request = %d, want 3", n)
	}
}

func TestAuthorizer_SentryUnreachable(t *testing.T) {
	t.Run("NoCache", func(t *testing.T) {
		fx := newFixture(t, Options{}, alice)
		fx.link(t, "U1", "m-1", "u-1", "owner")
		fx.sentry.set(func(s *fakeSentry) { s.down = true })
		for _, a := range []Action{ActionResolve, ActionUnresolve, ActionArchive, ActionUnarchive, ActionAssign, ActionUnassign} {
			d, f := fx.authorize(t, "U1", a)
			wantDecision(t, d, false, ReasonSentryUnreachable)
			if !f.MemberCheckFailed || f.MemberActive {
				t.Errorf("%s: facts MemberCheckFailed=%v MemberActive=%v, want true false", a, f.MemberCheckFailed, f.MemberActive)
			}
		}
		// Nothing in the cache: Role fails closed too.
		if r, f := fx.role(t, "U1"); r != RoleViewer || !f.MemberCheckFailed {
			t.Errorf("Role = %s, MemberCheckFailed=%v; want viewer, true", r, f.MemberCheckFailed)
		}
		// A failure is not cached: once Sentry is back the next request asks.
		fx.sentry.set(func(s *fakeSentry) { s.down = false })
		d, _ := fx.authorize(t, "U1", ActionResolve)
		wantDecision(t, d, true, ReasonAllowedResponder)
	})

	t.Run("StaleCache", func(t *testing.T) {
		fx := newFixture(t, Options{MemberTTL: time.Minute}, alice)
		fx.link(t, "U1", "m-1", "u-1", "member")
		d, _ := fx.authorize(t, "U1", ActionResolve)
		wantDecision(t, d, true, ReasonAllowedResponder)
		fx.sentry.set(func(s *fakeSentry) { s.down = true })
		fx.clk.Advance(2 * time.Minute)

		// A change needs current facts and fails closed.
		d, f := fx.authorize(t, "U1", ActionResolve)
		wantDecision(t, d, false, ReasonSentryUnreachable)
		if !f.MemberCheckFailed {
			t.Error("MemberCheckFailed = false on a stale cache with Sentry down")
		}
		// A read-only question makes do with the last answer.
		if r, f := fx.role(t, "U1"); r != RoleResponder || f.MemberCheckFailed {
			t.Errorf("Role = %s, MemberCheckFailed=%v; want responder from the stale cache", r, f.MemberCheckFailed)
		}
		d, _ = fx.authorize(t, "U1", ActionSubscribe)
		wantDecision(t, d, true, ReasonAllowedResponder)
	})

	t.Run("NoMemberLookup", func(t *testing.T) {
		db := openDB(t)
		if err := db.LinkIdentity(context.Background(), store.Identity{TeamID: "T1", SlackUserID: "U1", MemberID: "m-1", OrgRole: "owner", Method: "email"}); err != nil {
			t.Fatal(err)
		}
		a := New(db, nil, nil, zerolog.Nop(), Options{Org: "acme", TeamID: "T1", Admins: []string{"U1"}})
		d, f, err := a.Authorize(context.Background(), Subject{TeamID: "T1", UserID: "U1"}, ActionResolve, Resource{IssueID: "1"})
		if err != nil || d.Allow || d.Reason != ReasonSentryUnreachable || !f.MemberCheckFailed {
			t.Errorf("Authorize with no member lookup = %+v, %v; want deny sentry_unreachable", d, err)
		}
		// Local admin work needs no Sentry.
		d, _, err = a.Authorize(context.Background(), Subject{TeamID: "T1", UserID: "U1"}, ActionAdminAudit, Resource{})
		if err != nil || !d.Allow {
			t.Errorf("admin.audit for a configured admin = %+v, %v; want allowed", d, err)
		}
	})
}

func TestAuthorizer_OrgRoleChange(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, Options{MemberTTL: time.Minute}, alice)
	fx.link(t, "U1", "m-1", "u-1", "member")
	d, _ := fx.authorize(t, "U1", ActionResolve)
	wantDecision(t, d, true, ReasonAllowedResponder)

	// Demoted to billing in Sentry.
	fx.sentry.set(func(s *fakeSentry) { m := s.members["m-1"]; m.OrgRole = "billing"; s.members["m-1"] = m })
	fx.clk.Advance(time.Minute)
	d, f := fx.authorize(t, "U1", ActionResolve)
	wantDecision(t, d, false, ReasonViewerRole)
	if f.Identity.OrgRole != "billing" {
		t.Errorf("facts OrgRole = %q, want billing", f.Identity.OrgRole)
	}
	if id, err := fx.db.Identity(ctx, "T1", "U1"); err != nil || id.OrgRole != "billing" {
		t.Errorf("stored OrgRole = %q, %v; want billing", id.OrgRole, err)
	}

	// Promoted to owner.
	fx.sentry.set(func(s *fakeSentry) { m := s.members["m-1"]; m.OrgRole = "owner"; s.members["m-1"] = m })
	fx.clk.Advance(time.Minute)
	d, _ = fx.authorize(t, "U1", ActionResolve)
	wantDecision(t, d, true, ReasonAllowedResponder)
	id, err := fx.db.Identity(ctx, "T1", "U1")
	if err != nil || id.OrgRole != "owner" {
		t.Errorf("stored OrgRole = %q, %v; want owner", id.OrgRole, err)
	}
	if id.MemberID != "m-1" || id.SentryUserID != "u-1" || id.Method != "email" || id.LinkedBy != "U1" {
		t.Errorf("refresh changed more than the role: %+v", id)
	}
}

func TestAuthorizer_MemberGone(t *testing.T) {
	for _, tc := range []struct {
		name   string
		member *MemberInfo // nil: Sentry says 404
	}{
		{"Deleted", nil},
		{"Pending", &MemberInfo{ID: "m-1", Email: "alice@example.com", OrgRole: "member", Pending: true}},
		{"OtherUser", &MemberInfo{ID: "m-1", UserID: "u-999", OrgRole: "owner"}},
		{"OtherMemberID", &MemberInfo{ID: "m-2", UserID: "u-1", OrgRole: "owner"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, Options{})
			if tc.member != nil {
				fx.sentry.set(func(s *fakeSentry) { s.members["m-1"] = *tc.member })
			}
			fx.link(t, "U1", "m-1", "u-1", "owner")
			d, f := fx.authorize(t, "U1", ActionAssign)
			wantDecision(t, d, false, ReasonMemberGone)
			if f.MemberActive || f.MemberCheckFailed {
				t.Errorf("facts MemberActive=%v MemberCheckFailed=%v, want false false", f.MemberActive, f.MemberCheckFailed)
			}
			if d.Role != RoleViewer {
				t.Errorf("role = %s, want viewer for a member who is gone", d.Role)
			}
			// The negative answer is cached like a positive one.
			fx.authorize(t, "U1", ActionAssign)
			if n := fx.sentry.Calls(); n != 1 {
				t.Errorf("lookups = %d, want 1", n)
			}
			// The stored role is not touched by an inactive member's data.
			if id, _ := fx.db.Identity(context.Background(), "T1", "U1"); id.OrgRole != "owner" {
				t.Errorf("stored OrgRole = %q, want owner kept", id.OrgRole)
			}
		})
	}
}

func TestAuthorizer_InviteAccepted(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, Options{MemberTTL: time.Minute},
		MemberInfo{ID: "m-1", Email: "alice@example.com", OrgRole: "member", Pending: true})
	fx.link(t, "U1", "m-1", "", "member")
	d, _ := fx.authorize(t, "U1", ActionResolve)
	wantDecision(t, d, false, ReasonMemberGone)

	fx.sentry.set(func(s *fakeSentry) { s.members["m-1"] = alice })
	fx.clk.Advance(time.Minute)
	d, f := fx.authorize(t, "U1", ActionResolve)
	wantDecision(t, d, true, ReasonAllowedResponder)
	if f.Identity.SentryUserID != "u-1" {
		t.Errorf("facts SentryUserID = %q, want u-1", f.Identity.SentryUserID)
	}
	id, err := fx.db.IdentityBySentryUser(ctx, "u-1")
	if err != nil || id.SlackUserID != "U1" {
		t.Errorf("IdentityBySentryUser after acceptance = %+v, %v; want U1", id, err)
	}
}

func TestAuthorizer_Overrides(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, Options{},
		MemberInfo{ID: "m-1", UserID: "u-1", OrgRole: "owner"},
		MemberInfo{ID: "m-2", UserID: "u-2", OrgRole: "billing"})
	fx.link(t, "U1", "m-1", "u-1", "owner")
	fx.link(t, "U2", "m-2", "u-2", "billing")

	d, _ := fx.authorize(t, "U2", ActionResolve)
	wantDecision(t, d, false, ReasonViewerRole)

	for _, o := range []struct{ user, role string }{{"U1", "viewer"}, {"U2", "responder"}} {
		if err := fx.db.SetRoleOverride(ctx, "T1", o.user, o.role, "UADMIN"); err != nil {
			t.Fatal(err)
		}
	}
	d, f := fx.authorize(t, "U1", ActionResolve)
	wantDecision(t, d, false, ReasonViewerRole)
	if f.Override != RoleViewer || d.Role != RoleViewer {
		t.Errorf("owner with viewer override: Override=%s Role=%s", f.Override, d.Role)
	}
	d, _ = fx.authorize(t, "U2", ActionResolve)
	wantDecision(t, d, true, ReasonAllowedResponder)
	d, _ = fx.authorize(t, "U2", ActionAdminRole)
	wantDecision(t, d, false, ReasonAdminOnly)

	if err := fx.db.SetRoleOverride(ctx, "T1", "U2", "admin", "UADMIN"); err != nil {
		t.Fatal(err)
	}
	d, _ = fx.authorize(t, "U2", ActionAdminRole)
	wantDecision(t, d, true, ReasonAllowedAdmin)
	if n := fx.slack.Calls(); n != 2 {
		// U1 and U2 were asked about once each; an admin override needs no asking.
		t.Errorf("slack lookups = %d, want 2", n)
	}
	// Removing the override restores the org role.
	if err := fx.db.SetRoleOverride(ctx, "T1", "U1", "default", "UADMIN"); err != nil {
		t.Fatal(err)
	}
	d, _ = fx.authorize(t, "U1", ActionResolve)
	wantDecision(t, d, true, ReasonAllowedResponder)
}

func TestAuthorizer_Admins(t *testing.T) {
	t.Run("Configured", func(t *testing.T) {
		fx := newFixture(t, Options{Admins: []string{" UADMIN ", "", "UADMIN", "UOTHER"}})
		if got := fx.authz.Admins(); strings.Join(got, ",") != "UADMIN,UOTHER" {
			t.Errorf("Admins() = %q, want [UADMIN UOTHER]", got)
		}
		fx.authz.Admins()[0] = "UEVIL" // a copy
		if got := fx.authz.Admins(); got[0] != "UADMIN" {
			t.Errorf("Admins() shares its slice: %q", got)
		}

		d, f := fx.authorize(t, "UADMIN", ActionAdminAudit)
		wantDecision(t, d, true, ReasonAllowedAdmin)
		if !f.ConfiguredAdmin || strings.Join(f.AdminIDs, ",") != "UADMIN,UOTHER" {
			t.Errorf("facts ConfiguredAdmin=%v AdminIDs=%v", f.ConfiguredAdmin, f.AdminIDs)
		}
		if n := fx.slack.Calls(); n != 0 {
			t.Errorf("slack asked %d times about a configured admin", n)
		}
		// Admins change Sentry only as linked members.
		d, _ = fx.authorize(t, "UADMIN", ActionResolve)
		wantDecision(t, d, false, ReasonNotLinked)
		if r, _ := fx.role(t, "UADMIN"); r != RoleAdmin {
			t.Errorf("Role = %s, want admin", r)
		}

		// A viewer is told whom to ask.
		d, _ = fx.authorize(t, "U9", ActionSubscribe)
		wantDecision(t, d, false, ReasonNotLinked)
		fx.sentry.set(func(s *fakeSentry) { s.members["m-9"] = MemberInfo{ID: "m-9", UserID: "u-9", OrgRole: "billing"} })
		fx.link(t, "U9", "m-9", "u-9", "billing")
		d, _ = fx.authorize(t, "U9", ActionResolve)
		wantDecision(t, d, false, ReasonViewerRole)
		if !strings.Contains(d.Message, "(<@UADMIN>, <@UOTHER> or a Slack workspace admin)") {
			t.Errorf("viewer message %q does not name the admins", d.Message)
		}
	})

	t.Run("Workspace", func(t *testing.T) {
		fx := newFixture(t, Options{AdminTTL: 5 * time.Minute})
		fx.slack.admins["T1/UOWNER"] = true

		d, f := fx.authorize(t, "UOWNER", ActionAdminRole)
		wantDecision(t, d, true, ReasonAllowedAdmin)
		if !f.WorkspaceAdmin || f.ConfiguredAdmin {
			t.Errorf("facts WorkspaceAdmin=%v ConfiguredAdmin=%v, want true false", f.WorkspaceAdmin, f.ConfiguredAdmin)
		}
		d, _ = fx.authorize(t, "UPLEB", ActionAdminRole)
		wantDecision(t, d, false, ReasonAdminOnly)
		if !strings.HasPrefix(d.Message, "Only sentrybot admins can") {
			t.Errorf("admin-only message = %q", d.Message)
		}

		// Cached for AdminTTL, both ways.
		fx.authorize(t, "UOWNER", ActionAdminAudit)
		fx.authorize(t, "UPLEB", ActionAdminAudit)
		if n := fx.slack.Calls(); n != 2 {
			t.Errorf("slack lookups within the TTL = %d, want 2", n)
		}
		fx.slack.mu.Lock()
		delete(fx.slack.admins, "T1/UOWNER")
		fx.slack.mu.Unlock()
		fx.clk.Advance(5 * time.Minute)
		d, _ = fx.authorize(t, "UOWNER", ActionAdminAudit)
		wantDecision(t, d, false, ReasonAdminOnly)
		if n := fx.slack.Calls(); n != 3 {
			t.Errorf("slack lookups after the TTL = %d, want 3", n)
		}
	})

	t.Run("SlackError", func(t *testing.T) {
		fx := newFixture(t, Options{})
		fx.slack.admins["T1/UOWNER"] = true
		fx.slack.err = errors.New("slack: ratelimited")
		d, f := fx.authorize(t, "UOWNER", ActionAdminRole)
		wantDecision(t, d, false, ReasonAdminOnly)
		if f.WorkspaceAdmin {
			t.Error("WorkspaceAdmin = true although Slack failed")
		}
		// Errors are not cached.
		fx.slack.mu.Lock()
		fx.slack.err = nil
		fx.slack.mu.Unlock()
		d, _ = fx.authorize(t, "UOWNER", ActionAdminRole)
		wantDecision(t, d, true, ReasonAllowedAdmin)
	})
}

func TestAuthorizer_WrongTeam(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, Options{TeamID: "T1", Admins: []string{"UADMIN"}}, alice)
	fx.link(t, "U1", "m-1", "u-1", "owner")
	fx.slack.admins["T2/U1"] = true

	for _, s := range []Subject{{TeamID: "T2", UserID: "UADMIN"}, {TeamID: "T2", UserID: "U1"}, {UserID: "U1"}} {
		for _, a := range Actions() {
			d, f, err := fx.authz.Authorize(ctx, s, a, Resource{IssueID: "42"})
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow || d.Reason != ReasonWrongTeam || f.TeamAllowed {
				t.Errorf("%+v %s: decision %+v, want deny wrong_team", s, a, d)
			}
			if f.Linked || f.ConfiguredAdmin {
				t.Errorf("%+v %s: facts gathered for a foreign team: %+v", s, a, f)
			}
		}
		if r, _, err := fx.authz.Role(ctx, s); err != nil || r != RoleViewer {
			t.Errorf("Role(%+v) = %s, %v; want viewer", s, r, err)
		}
	}
	if fx.sentry.Calls() != 0 || fx.slack.Calls() != 0 {
		t.Errorf("a foreign team caused %d Sentry and %d Slack lookups, want none", fx.sentry.Calls(), fx.slack.Calls())
	}
	if err := fx.authz.Link(ctx, Subject{TeamID: "T2", UserID: "U5"}, store.Identity{MemberID: "m-5", Method: "email"}); err == nil {
		t.Error("Link from a foreign team succeeded")
	}

	t.Run("AnyTeamWhenUnset", func(t *testing.T) {
		db := openDB(t)
		a := New(db, nil, nil, zerolog.Nop(), Options{Org: "acme", Admins: []string{"UADMIN"}})
		d, f, err := a.Authorize(ctx, Subject{TeamID: "T7", UserID: "UADMIN"}, ActionAdminAudit, Resource{})
		if err != nil || !d.Allow || !f.TeamAllowed {
			t.Errorf("with no TeamID option: %+v, %v; want allowed", d, err)
		}
		// The team is still required and recorded.
		d, _, _ = a.Authorize(ctx, Subject{UserID: "UADMIN"}, ActionAdminAudit, Resource{})
		if d.Allow || d.Reason != ReasonWrongTeam {
			t.Errorf("empty team id: %+v, want deny wrong_team", d)
		}
	})
}

func TestAuthorizer_WrongOrg(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, Options{Org: "acme"}, alice)
	fx.link(t, "U1", "m-1", "u-1", "owner")
	s := Subject{TeamID: "T1", UserID: "U1"}
	d, _, err := fx.authz.Authorize(ctx, s, ActionResolve, Resource{IssueID: "42", Org: "evil"})
	if err != nil || d.Allow || d.Reason != ReasonWrongOrg {
		t.Errorf("other org: %+v, %v; want deny wrong_org", d, err)
	}
	if fx.sentry.Calls() != 0 {
		t.Errorf("a foreign org caused %d Sentry lookups", fx.sentry.Calls())
	}
	for _, org := range []string{"acme", "ACME", ""} {
		d, _, err := fx.authz.Authorize(ctx, s, ActionResolve, Resource{IssueID: "42", Org: org})
		if err != nil || !d.Allow {
			t.Errorf("org %q: %+v, %v; want allowed", org, d, err)
		}
	}
}

func TestAuthorizer_UnknownAction(t *testing.T) {
	fx := newFixture(t, Options{Admins: []string{"UADMIN"}}, alice)
	fx.link(t, "UADMIN", "m-1", "u-1", "owner")
	d, _ := fx.authorize(t, "UADMIN", "delete")
	wantDecision(t, d, false, ReasonUnknownAction)
	if fx.sentry.Calls() != 0 || fx.slack.Calls() != 0 {
		t.Error("an unknown action caused lookups")
	}
}

func TestAuthorizer_StoreError(t *testing.T) {
	fx := newFixture(t, Options{}, alice)
	fx.db.Close()
	d, _, err := fx.authz.Authorize(context.Background(), Subject{TeamID: "T1", UserID: "U1"}, ActionResolve, Resource{IssueID: "1"})
	if err == nil || !strings.HasPrefix(err.Error(), "authz: authorize resolve for T1/U1") {
		t.Errorf("error = %v, want one naming the request", err)
	}
	if d.Allow || d.Reason != ReasonInternal || d.Message == "" {
		t.Errorf("decision = %+v, want deny internal_error with a message", d)
	}
	if _, _, err := fx.authz.Role(context.Background(), Subject{TeamID: "T1", UserID: "U1"}); err == nil {
		t.Error("Role on a closed store succeeded")
	}
	if _, _, err := fx.authz.Authorize(context.Background(), Subject{TeamID: "T1"}, ActionResolve, Resource{}); err == nil {
		t.Error("Authorize with no user id succeeded")
	}
}

func TestAuthorizer_Record(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, Options{}, alice)
	fx.link(t, "U1", "m-1", "u-1", "member")
	s1 := Subject{TeamID: "T1", UserID: "U1", ChannelID: "C1"}
	s2 := Subject{TeamID: "T1", UserID: "U2", ChannelID: "C2"}
	r := Resource{IssueID: "42", Org: "acme", ProjectSlug: "web"}

	d, f, err := fx.authz.Authorize(ctx, s1, ActionResolve, r)
	if err != nil || !d.Allow {
		t.Fatalf("Authorize = %+v, %v", d, err)
	}
	if err := fx.authz.Record(ctx, s1, ActionResolve, r, d, f, Outcome(nil), "status=resolved"); err != nil {
		t.Fatalf("Record: %v", err)
	}
	fx.clk.Advance(time.Second)
	if err := fx.authz.Record(ctx, s1, ActionAssign, r, Decision{Allow: true, Reason: ReasonAllowedResponder}, f,
		Outcome(errors.New("sentry: update issue: forbidden (403)")), "assignedTo=user:u-1"); err != nil {
		t.Fatal(err)
	}
	fx.clk.Advance(time.Second)
	d2, f2, err := fx.authz.Authorize(ctx, s2, ActionArchive, r)
	if err != nil || d2.Allow {
		t.Fatalf("Authorize unlinked = %+v, %v", d2, err)
	}
	if err := fx.authz.Record(ctx, s2, ActionArchive, r, d2, f2, "", "status=ignored"); err != nil {
		t.Fatal(err)
	}

	got, err := fx.db.Audit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	want := []store.AuditEntry{
		{At: start, TeamID: "T1", UserID: "U1", ChannelID: "C1", SentryMemberID: "m-1", Action: "resolve", IssueID: "42",
			Decision: "allow", Reason: "allowed_responder", Outcome: "ok", Detail: "status=resolved"},
		{At: start.Add(time.Second), TeamID: "T1", UserID: "U1", ChannelID: "C1", SentryMemberID: "m-1", Action: "assign", IssueID: "42",
			Decision: "allow", Reason: "allowed_responder", Outcome: "error: sentry: update issue: forbidden (403)", Detail: "assignedTo=user:u-1"},
		{At: start.Add(2 * time.Second), TeamID: "T1", UserID: "U2", ChannelID: "C2", Action: "archive", IssueID: "42",
			Decision: "deny", Reason: "not_linked", Detail: "status=ignored"},
	}
	if len(got) != len(want) {
		t.Fatalf("audit has %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		want[i].ID = got[i].ID
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v\nwant %+v", i, got[i], want[i])
		}
	}

	// The log cannot be rewritten, even from outside the store.
	raw, err := sql.Open("sqlite", fx.db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, stmt := range []string{
		`UPDATE audit_log SET decision = 'allow' WHERE user_id = 'U2'`,
		`DELETE FROM audit_log`,
	} {
		if _, err := raw.ExecContext(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want the append-only refusal", stmt, err)
		}
	}
	if after, _ := fx.db.Audit(ctx, store.AuditFilter{}); len(after) != 3 || after[2].Decision != "deny" {
		t.Errorf("audit changed: %+v", after)
	}
}

func TestAuthorizer_LinkUnlink(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, Options{MemberTTL: time.Hour},
		MemberInfo{ID: "m-1", UserID: "u-1", OrgRole: "billing"},
		MemberInfo{ID: "m-2", UserID: "u-2", OrgRole: "owner"})
	s := Subject{TeamID: "T1", UserID: "U1"}
	if err := fx.authz.Link(ctx, s, store.Identity{MemberID: "m-1", SentryUserID: "u-1", OrgRole: "billing", Method: "email", LinkedBy: "U1"}); err != nil {
		t.Fatalf("Link: %v", err)
	}
	id, err := fx.db.Identity(ctx, "T1", "U1")
	if err != nil || id.MemberID != "m-1" || id.TeamID != "T1" || id.SlackUserID != "U1" {
		t.Fatalf("stored link = %+v, %v", id, err)
	}
	d, _ := fx.authorize(t, "U1", ActionResolve)
	wantDecision(t, d, false, ReasonViewerRole)

	// The billing member promoted and relinked: the cached answer for the
	// member is dropped so the new facts count at once.
	fx.sentry.set(func(s *fakeSentry) { m := s.members["m-1"]; m.OrgRole = "member"; s.members["m-1"] = m })
	if err := fx.authz.Link(ctx, s, store.Identity{MemberID: "m-1", SentryUserID: "u-1", OrgRole: "member", Method: "email"}); err != nil {
		t.Fatal(err)
	}
	d, _ = fx.authorize(t, "U1", ActionResolve)
	wantDecision(t, d, true, ReasonAllowedResponder)

	if err := fx.authz.Link(ctx, s, store.Identity{TeamID: "T9", MemberID: "m-2", Method: "email"}); err == nil {
		t.Error("Link with another team's identity succeeded")
	}
	err = fx.authz.Link(ctx, Subject{TeamID: "T1", UserID: "U2"}, store.Identity{MemberID: "m-1", Method: "email"})
	if !errors.Is(err, store.ErrMemberLinked) {
		t.Errorf("Link of a member linked to someone else: %v, want store.ErrMemberLinked", err)
	}

	removed, err := fx.authz.Unlink(ctx, s)
	if err != nil || !removed {
		t.Fatalf("Unlink = %v, %v", removed, err)
	}
	d, _ = fx.authorize(t, "U1", ActionResolve)
	wantDecision(t, d, false, ReasonNotLinked)
	if removed, err := fx.authz.Unlink(ctx, s); err != nil || removed {
		t.Errorf("second Unlink = %v, %v; want false, nil", removed, err)
	}
}

func TestAuthorizer_Concurrent(t *testing.T) {
	fx := newFixture(t, Options{Admins: []string{"U0"}},
		MemberInfo{ID: "m-0", UserID: "u-0", OrgRole: "owner"},
		MemberInfo{ID: "m-1", UserID: "u-1", OrgRole: "member"},
		MemberInfo{ID: "m-2", UserID: "u-2", OrgRole: "billing"})
	for i := range 3 {
		fx.link(t, fmt.Sprintf("U%d", i), fmt.Sprintf("m-%d", i), fmt.Sprintf("u-%d", i), "member")
	}
	var wg sync.WaitGroup
	for g := range 24 {
		wg.Go(func() {
			user := fmt.Sprintf("U%d", g%3)
			for range 10 {
				d, f, err := fx.authz.Authorize(context.Background(), Subject{TeamID: "T1", UserID: user}, ActionResolve, Resource{IssueID: "1"})
				if err != nil {
					t.Error(err)
					return
				}
				if want := user != "U2"; d.Allow != want {
					t.Errorf("%s: allow = %v, want %v", user, d.Allow, want)
				}
				if err := fx.authz.Record(context.Background(), Subject{TeamID: "T1", UserID: user}, ActionResolve, Resource{IssueID: "1"}, d, f, "", ""); err != nil {
					t.Error(err)
				}
				fx.clk.Advance(time.Second)
			}
		})
	}
	wg.Wait()
	got, err := fx.db.Audit(context.Background(), store.AuditFilter{})
	if err != nil || len(got) != 240 {
		t.Errorf("audit entries = %d, %v; want 240", len(got), err)
	}
}

// TestAuthorizer_RecordFallsBackToTheLog checks that an entry is stored even
// when the caller's context has ended, and, with the audit table taken away,
// that Record reports the failure and the entry, every field of it, is in
// the log.
func TestAuthorizer_RecordFallsBackToTheLog(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, Options{}, alice)
	fx.link(t, "U1", "m-1", "u-1", "member")
	var logs bytes.Buffer
	az := New(fx.db, fx.sentry.mock(), fx.slack.mock(), zerolog.New(&logs), Options{Org: "acme", TeamID: "T1", Now: fx.clk.Now})

	// A unit whose deadline passed still gets its entry stored.
	s0 := Subject{TeamID: "T1", UserID: "U1", ChannelID: "C0"}
	gone, stop := context.WithCancel(ctx)
	stop()
	if err := az.Record(gone, s0, ActionResolve, Resource{IssueID: "41"}, Decision{Allow: true, Reason: ReasonAllowedResponder}, Facts{}, Outcome(nil), ""); err != nil {
		t.Fatalf("Record with a cancelled context: %v", err)
	}
	if got, err := fx.db.Audit(ctx, store.AuditFilter{IssueID: "41"}); err != nil || len(got) != 1 {
		t.Fatalf("audit for 41 = %+v, %v; want the one entry", got, err)
	}

	raw, err := sql.Open("sqlite", fx.db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, `ALTER TABLE audit_log RENAME TO audit_log_away`); err != nil {
		t.Fatal(err)
	}

	s := Subject{TeamID: "T1", UserID: "U1", ChannelID: "C1"}
	r := Resource{IssueID: "42", Org: "acme"}
	d, f, err := az.Authorize(ctx, s, ActionResolve, r)
	if err != nil || !d.Allow {
		t.Fatalf("Authorize = %+v, %v", d, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel() // the unit's deadline passed: the entry is still owed
	err = az.Record(cancelled, s, ActionResolve, r, d, f, Outcome(nil), "status=resolved")
	if err == nil {
		t.Fatal("Record succeeded without an audit table")
	}

	var line map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(logs.Bytes()), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(l, &m) == nil && strings.Contains(fmt.Sprint(m["message"]), "audit entry could not be stored") {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no fallback log line in:\n%s", logs.String())
	}
	want := map[string]string{
		"level": "error", "team": "T1", "user": "U1", "channel": "C1", "sentry_member": "m-1",
		"action": "resolve", "issue": "42", "decision": "allow", "reason": "allowed_responder",
		"outcome": "ok", "detail": "status=resolved",
	}
	for k, v := range want {
		if got := fmt.Sprint(line[k]); got != v {
			t.Errorf("log field %s = %q, want %q", k, got, v)
		}
	}
}
