package authz

import (
	"fmt"
	"strings"
	"testing"

	"sentrybot/store"
)

// roleSource is a way of arriving at a role.
type roleSource struct {
	name string
	set  func(*Facts)
	// want is the role when the member is linked and active.
	want Role
	// fromOrgRole: the role comes from Sentry, so it holds only while the
	// member is linked and active; otherwise the subject is a viewer.
	fromOrgRole bool
}

func orgRole(role string) func(*Facts) {
	return func(f *Facts) { f.Identity.OrgRole = role }
}

var roleSources = []roleSource{
	{"ConfiguredAdmin", func(f *Facts) { f.ConfiguredAdmin = true; f.Identity.OrgRole = "billing" }, RoleAdmin, false},
	{"WorkspaceAdmin", func(f *Facts) { f.WorkspaceAdmin = true }, RoleAdmin, false},
	{"OverrideAdmin", func(f *Facts) { f.Override = RoleAdmin; f.Identity.OrgRole = "billing" }, RoleAdmin, false},
	{"OverrideResponder", func(f *Facts) { f.Override = RoleResponder; f.Identity.OrgRole = "billing" }, RoleResponder, false},
	// The override wins over an org role that would give more.
	{"OverrideViewer", func(f *Facts) { f.Override = RoleViewer; f.Identity.OrgRole = "owner" }, RoleViewer, false},
	{"OverrideUnknown", func(f *Facts) { f.Override = "superuser"; f.Identity.OrgRole = "owner" }, RoleViewer, false},
	{"OrgMember", orgRole("member"), RoleResponder, true},
	{"OrgAdmin", orgRole("admin"), RoleResponder, true},
	{"OrgManager", orgRole("manager"), RoleResponder, true},
	{"OrgOwner", orgRole("owner"), RoleResponder, true},
	{"OrgBilling", orgRole("billing"), RoleViewer, true},
	{"OrgEmpty", orgRole(""), RoleViewer, true},
	{"OrgWeird", orgRole("superuser"), RoleViewer, true},
	{"OrgWrongCase", orgRole("Owner"), RoleViewer, true},
	{"Nothing", func(*Facts) {}, RoleViewer, false},
}

type linkState struct {
	name string
	set  func(*Facts)
}

var linkStates = []linkState{
	{"Unlinked", func(f *Facts) {}},
	{"LinkedActive", func(f *Facts) { f.Linked, f.MemberActive = true, true }},
	{"LinkedMemberGone", func(f *Facts) { f.Linked = true }},
	{"LinkedCheckFailed", func(f *Facts) { f.Linked, f.MemberCheckFailed = true, true }},
}

// expect states the policy in terms of the test's own inputs.
func expect(src roleSource, state string, teamOK, orgOK bool, a Action) (Role, bool, Reason) {
	role := src.want
	if src.fromOrgRole && state != "LinkedActive" {
		role = RoleViewer
	}
	if src.name == "Nothing" {
		role = RoleViewer
	}
	switch {
	case !teamOK:
		return role, false, ReasonWrongTeam
	case !orgOK:
		return role, false, ReasonWrongOrg
	}
	granted := ReasonAllowedResponder
	if role == RoleAdmin {
		granted = ReasonAllowedAdmin
	}
	membership := map[string]Reason{
		"Unlinked":          ReasonNotLinked,
		"LinkedMemberGone":  ReasonMemberGone,
		"LinkedCheckFailed": ReasonSentryUnreachable,
	}
	switch a {
	case ActionAdminRole, ActionAdminAudit, ActionAdminSubscriptions:
		if role == RoleAdmin {
			return role, true, ReasonAllowedAdmin
		}
		return role, false, ReasonAdminOnly
	case ActionResolve, ActionUnresolve, ActionArchive, ActionUnarchive, ActionAssign, ActionUnassign:
		if r, bad := membership[state]; bad {
			return role, false, r
		}
		if role == RoleViewer {
			return role, false, ReasonViewerRole
		}
		return role, true, granted
	case ActionSubscribe:
		if role != RoleViewer {
			return role, true, granted
		}
		if r, bad := membership[state]; bad {
			return role, false, r
		}
		return role, false, ReasonViewerRole
	}
	return role, false, ReasonUnknownAction
}

func TestDecideTable(t *testing.T) {
	if len(Actions()) != 10 {
		t.Fatalf("Actions() has %d actions; update this test's expectations", len(Actions()))
	}
	n := 0
	for _, src := range roleSources {
		for _, st := range linkStates {
			for _, teamOK := range []bool{true, false} {
				for _, orgOK := range []bool{true, false} {
					for _, a := range Actions() {
						f := Facts{TeamAllowed: teamOK, OrgAllowed: orgOK, AdminIDs: []string{"UADMIN1"}}
						f.Identity = store.Identity{TeamID: "T1", SlackUserID: "U1", MemberID: "m-1"}
						src.set(&f)
						st.set(&f)
						wantRole, wantAllow, wantReason := expect(src, st.name, teamOK, orgOK, a)
						d := Decide(f, a, Resource{IssueID: "1"})
						name := fmt.Sprintf("%s/%s/team=%v/org=%v/%s", src.name, st.name, teamOK, orgOK, a)
						if d.Allow != wantAllow || d.Reason != wantReason || d.Role != wantRole {
							t.Errorf("%s: Decide = allow=%v reason=%s role=%s; want allow=%v reason=%s role=%s",
								name, d.Allow, d.Reason, d.Role, wantAllow, wantReason, wantRole)
						}
						if !d.Allow && d.Message == "" {
							t.Errorf("%s: denied without a message", name)
						}
						if d.Allow && d.Message != "" {
							t.Errorf("%s: allowed with message %q", name, d.Message)
						}
						if got := RoleFor(f); got != wantRole {
							t.Errorf("%s: RoleFor = %s, want %s", name, got, wantRole)
						}
						n++
					}
				}
			}
		}
	}
	if want := len(roleSources) * len(linkStates) * 4 * 10; n != want {
		t.Errorf("checked %d combinations, want %d", n, want)
	}
}

// TestDecideAllFacts runs every combination of facts and checks the
// properties that must hold whatever the policy details.
func TestDecideAllFacts(t *testing.T) {
	overrides := []Role{"", RoleViewer, RoleResponder, RoleAdmin, "root"}
	orgRoles := []string{"", "member", "admin", "manager", "owner", "billing", "superuser"}
	acts := append(Actions(), "", "delete", "RESOLVE", "admin", "admin.everything")
	reasons := map[Reason]bool{
		ReasonAllowedResponder: true, ReasonAllowedAdmin: true, ReasonNotLinked: true, ReasonViewerRole: true,
		ReasonAdminOnly: true, ReasonWrongTeam: true, ReasonWrongOrg: true, ReasonMemberGone: true,
		ReasonUnknownAction: true, ReasonSentryUnreachable: true,
	}
	n := 0
	for bits := range 1 << 7 {
		for _, ov := range overrides {
			for _, or := range orgRoles {
				f := Facts{
					Linked: bits&1 != 0, MemberActive: bits&2 != 0, MemberCheckFailed: bits&4 != 0,
					ConfiguredAdmin: bits&8 != 0, WorkspaceAdmin: bits&16 != 0,
					TeamAllowed: bits&32 != 0, OrgAllowed: bits&64 != 0,
					Override: ov, Identity: store.Identity{OrgRole: or},
				}
				role := RoleFor(f)
				for _, a := range acts {
					d := Decide(f, a, Resource{})
					n++
					where := fmt.Sprintf("facts %+v action %q", f, a)
					if d.Role != role {
						t.Fatalf("%s: Decision.Role = %s, RoleFor = %s", where, d.Role, role)
					}
					if !reasons[d.Reason] {
						t.Fatalf("%s: unknown reason %q", where, d.Reason)
					}
					if d.Allow != strings.HasPrefix(string(d.Reason), "allowed_") {
						t.Fatalf("%s: allow=%v with reason %s", where, d.Allow, d.Reason)
					}
					if !d.Allow && strings.TrimSpace(d.Message) == "" {
						t.Fatalf("%s: denied (%s) without a message", where, d.Reason)
					}
					if !d.Allow {
						continue
					}
					if !f.TeamAllowed || !f.OrgAllowed {
						t.Fatalf("%s: allowed outside the served workspace or organization", where)
					}
					if !a.Known() {
						t.Fatalf("%s: unknown action allowed", where)
					}
					if a.ChangesSentry() && (!f.Linked || !f.MemberActive || f.MemberCheckFailed) {
						t.Fatalf("%s: change allowed without a current, active linked member", where)
					}
					if role == RoleViewer {
						t.Fatalf("%s: viewer allowed", where)
					}
					if a.AdminOnly() && role != RoleAdmin {
						t.Fatalf("%s: admin action allowed to %s", where, role)
					}
					if want := map[Role]Reason{RoleAdmin: ReasonAllowedAdmin, RoleResponder: ReasonAllowedResponder}[role]; d.Reason != want {
						t.Fatalf("%s: reason %s, want %s", where, d.Reason, want)
					}
				}
			}
		}
	}
	if n < 40000 {
		t.Errorf("only %d decisions checked", n)
	}
}

func TestDecideUnknownAction(t *testing.T) {
	// Facts that would allow anything known.
	f := Facts{Linked: true, MemberActive: true, ConfiguredAdmin: true, TeamAllowed: true, OrgAllowed: true}
	for _, a := range []Action{"", "delete", "Resolve", "resolve ", "admin.*", "admin"} {
		d := Decide(f, a, Resource{IssueID: "1"})
		if d.Allow || d.Reason != ReasonUnknownAction || d.Message == "" {
			t.Errorf("Decide(%q) = %+v, want deny unknown_action with a message", a, d)
		}
	}
}

func TestRoleFor(t *testing.T) {
	active := func(orgRole string) Facts {
		return Facts{Linked: true, MemberActive: true, Identity: store.Identity{OrgRole: orgRole}}
	}
	with := func(f Facts, mut func(*Facts)) Facts { mut(&f); return f }
	for _, tc := range []struct {
		name string
		f    Facts
		want Role
	}{
		{"ZeroFacts", Facts{}, RoleViewer},
		{"Member", active("member"), RoleResponder},
		{"Admin", active("admin"), RoleResponder},
		{"Manager", active("manager"), RoleResponder},
		{"Owner", active("owner"), RoleResponder},
		{"Billing", active("billing"), RoleViewer},
		{"Unknown", active("custom-role"), RoleViewer},
		{"Empty", active(""), RoleViewer},
		{"OwnerButGone", with(active("owner"), func(f *Facts) { f.MemberActive = false }), RoleViewer},
		{"OwnerButCheckFailed", with(active("owner"), func(f *Facts) { f.MemberCheckFailed = true }), RoleViewer},
		{"OwnerButUnlinked", with(active("owner"), func(f *Facts) { f.Linked = false }), RoleViewer},
		{"ConfiguredAdminUnlinked", Facts{ConfiguredAdmin: true}, RoleAdmin},
		{"WorkspaceAdminUnlinked", Facts{WorkspaceAdmin: true}, RoleAdmin},
		{"ConfiguredAdminBeatsViewerOverride", Facts{ConfiguredAdmin: true, Override: RoleViewer}, RoleAdmin},
		{"WorkspaceAdminBeatsViewerOverride", Facts{WorkspaceAdmin: true, Override: RoleViewer}, RoleAdmin},
		{"OverrideAdmin", Facts{Override: RoleAdmin}, RoleAdmin},
		{"OverrideResponderUnlinked", Facts{Override: RoleResponder}, RoleResponder},
		{"OverrideResponderBeatsBilling", with(active("billing"), func(f *Facts) { f.Override = RoleResponder }), RoleResponder},
		{"OverrideViewerBeatsOwner", with(active("owner"), func(f *Facts) { f.Override = RoleViewer }), RoleViewer},
		{"OverrideUnknownIsViewer", with(active("owner"), func(f *Facts) { f.Override = "root" }), RoleViewer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := RoleFor(tc.f); got != tc.want {
				t.Errorf("RoleFor(%+v) = %s, want %s", tc.f, got, tc.want)
			}
		})
	}
}

func TestDecideMessages(t *testing.T) {
	ok := Facts{TeamAllowed: true, OrgAllowed: true}
	linked := ok
	linked.Linked, linked.MemberActive = true, true
	linked.Identity.OrgRole = "billing"
	with := func(f Facts, mut func(*Facts)) Facts { mut(&f); return f }

	for _, tc := range []struct {
		name string
		f    Facts
		a    Action
		want string
	}{
		{"NotLinked", ok, ActionResolve,
			"You haven't linked your Slack account to Sentry yet. Run `/sentry link` to link it, then try again."},
		{"ViewerNoAdmins", linked, ActionResolve,
			"Your sentrybot role is *viewer*, which can't resolve issues. Ask a Slack workspace admin to give you the responder role."},
		{"ViewerTwoAdmins", with(linked, func(f *Facts) { f.AdminIDs = []string{"U1AAA", "U2BBB"} }), ActionArchive,
			"Your sentrybot role is *viewer*, which can't archive issues. Ask a sentrybot admin (<@U1AAA>, <@U2BBB> or a Slack workspace admin) to give you the responder role."},
		{"ViewerAdminsCappedDedupedSanitized", with(linked, func(f *Facts) {
			f.AdminIDs = []string{"U1", "U01", "U01", "<!channel>", "u02lower", "U02", "W03", "U04", "U05", "U06"}
		}), ActionUnresolve,
			"Your sentrybot role is *viewer*, which can't reopen issues. Ask a sentrybot admin (<@U01>, <@U02>, <@W03>, <@U04>, <@U05> or a Slack workspace admin) to give you the responder role."},
		{"ViewerSubscribe", linked, ActionSubscribe,
			"Your sentrybot role is *viewer*, which can't subscribe channels to alerts. Ask a Slack workspace admin to give you the responder role."},
		{"AdminOnlyRole", linked, ActionAdminRole, "Only sentrybot admins can change sentrybot roles. The admins are the Slack workspace admins."},
		{"AdminOnlyAuditNamesAdmins", with(linked, func(f *Facts) { f.AdminIDs = []string{"U1AAA", "<!here>"} }), ActionAdminAudit,
			"Only sentrybot admins can read the audit log. The admins are <@U1AAA> and the Slack workspace admins."},
		{"AdminOnlySubscriptions", linked, ActionAdminSubscriptions, "Only sentrybot admins can manage alert subscriptions. The admins are the Slack workspace admins."},
		{"MemberGone", with(linked, func(f *Facts) { f.MemberActive = false }), ActionAssign,
			"Your linked Sentry member no longer exists or hasn't accepted the invite. Run `/sentry link` again."},
		{"Unreachable", with(linked, func(f *Facts) { f.MemberActive, f.MemberCheckFailed = false, true }), ActionUnassign,
			"Couldn't reach Sentry to check your membership; try again in a minute."},
		{"WrongTeam", with(linked, func(f *Facts) { f.TeamAllowed = false }), ActionResolve,
			"sentrybot isn't set up for this workspace."},
		{"WrongOrg", with(linked, func(f *Facts) { f.OrgAllowed = false }), ActionResolve,
			"sentrybot isn't set up for this organization."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.f, tc.a, Resource{IssueID: "1"})
			if d.Allow || d.Message != tc.want {
				t.Errorf("Decide: allow=%v message\n %q\nwant\n %q", d.Allow, d.Message, tc.want)
			}
		})
	}
}

func TestParseRole(t *testing.T) {
	for in, want := range map[string]Role{"admin": RoleAdmin, " Responder ": RoleResponder, "VIEWER": RoleViewer} {
		if got, ok := ParseRole(in); !ok || got != want {
			t.Errorf("ParseRole(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "default", "owner", "root"} {
		if _, ok := ParseRole(in); ok {
			t.Errorf("ParseRole(%q) accepted", in)
		}
	}
}
