package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestIdentity(t *testing.T) {
	ctx := context.Background()
	alice := Identity{
		TeamID: "T1", SlackUserID: "U1",
		MemberID: "m-100", SentryUserID: "u-100", Email: "alice@example.com", OrgRole: "member",
		Method: "email", LinkedBy: "U1",
	}

	t.Run("LinkThenRead", func(t *testing.T) {
		db := MustOpenDB(t)
		clk := newClock(db)
		if err := db.LinkIdentity(ctx, alice); err != nil {
			t.Fatalf("LinkIdentity: %v", err)
		}
		got, err := db.Identity(ctx, "T1", "U1")
		if err != nil {
			t.Fatalf("Identity: %v", err)
		}
		want := alice
		want.LinkedAt = clk.Now()
		if got != want {
			t.Errorf("Identity = %+v\nwant %+v", got, want)
		}
		if got.LinkedAt.Location() != time.UTC {
			t.Errorf("LinkedAt location = %v, want UTC", got.LinkedAt.Location())
		}
		bySentry, err := db.IdentityBySentryUser(ctx, "u-100")
		if err != nil || bySentry != want {
			t.Errorf("IdentityBySentryUser = %+v, %v; want %+v", bySentry, err, want)
		}
	})

	t.Run("ExplicitLinkedAtKept", func(t *testing.T) {
		db := MustOpenDB(t)
		newClock(db)
		id := alice
		id.LinkedAt = time.Date(2024, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
		if err := db.LinkIdentity(ctx, id); err != nil {
			t.Fatal(err)
		}
		got, err := db.Identity(ctx, "T1", "U1")
		if err != nil || !got.LinkedAt.Equal(id.LinkedAt) {
			t.Errorf("LinkedAt = %v, %v; want %v", got.LinkedAt, err, id.LinkedAt)
		}
	})

	t.Run("Upsert", func(t *testing.T) {
		db := MustOpenDB(t)
		clk := newClock(db)
		if err := db.LinkIdentity(ctx, alice); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Hour)
		relinked := alice
		relinked.MemberID, relinked.SentryUserID, relinked.OrgRole, relinked.Method = "m-200", "u-200", "owner", "oauth"
		if err := db.LinkIdentity(ctx, relinked); err != nil {
			t.Fatalf("relink: %v", err)
		}
		got, err := db.Identity(ctx, "T1", "U1")
		if err != nil {
			t.Fatal(err)
		}
		relinked.LinkedAt = clk.Now()
		if got != relinked {
			t.Errorf("after relink Identity = %+v\nwant %+v", got, relinked)
		}
		if n := countRows(t, db, "identities"); n != 1 {
			t.Errorf("identities has %d rows, want 1", n)
		}
		// The old member is free again.
		bob := Identity{TeamID: "T1", SlackUserID: "U2", MemberID: "m-100", Method: "email"}
		if err := db.LinkIdentity(ctx, bob); err != nil {
			t.Errorf("linking the released member: %v", err)
		}
	})

	t.Run("MemberLinkedOnce", func(t *testing.T) {
		db := MustOpenDB(t)
		if err := db.LinkIdentity(ctx, alice); err != nil {
			t.Fatal(err)
		}
		mallory := alice
		mallory.SlackUserID = "U666"
		err := db.LinkIdentity(ctx, mallory)
		if !errors.Is(err, ErrMemberLinked) || !strings.Contains(err.Error(), "U1") {
			t.Fatalf("second user linking the same member: %v, want ErrMemberLinked naming U1", err)
		}
		if _, err := db.Identity(ctx, "T1", "U666"); !errors.Is(err, ErrNotFound) {
			t.Errorf("rejected link was stored: %v", err)
		}
		// Another workspace may link the same member.
		other := alice
		other.TeamID = "T2"
		if err := db.LinkIdentity(ctx, other); err != nil {
			t.Errorf("same member in another workspace: %v", err)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		db := MustOpenDB(t)
		for name, mutate := range map[string]func(*Identity){
			"no team":   func(id *Identity) { id.TeamID = "" },
			"no user":   func(id *Identity) { id.SlackUserID = "" },
			"no member": func(id *Identity) { id.MemberID = "" },
			"no method": func(id *Identity) { id.Method = "" },
		} {
			id := alice
			mutate(&id)
			if err := db.LinkIdentity(ctx, id); err == nil || !strings.HasPrefix(err.Error(), "store: link identity") {
				t.Errorf("%s: LinkIdentity error = %v, want a store: link identity error", name, err)
			}
		}
		if n := countRows(t, db, "identities"); n != 0 {
			t.Errorf("identities has %d rows after rejected links", n)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		db := MustOpenDB(t)
		if err := db.LinkIdentity(ctx, alice); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Identity(ctx, "T2", "U1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Identity in another team: %v, want ErrNotFound", err)
		}
		if _, err := db.IdentityBySentryUser(ctx, "u-999"); !errors.Is(err, ErrNotFound) {
			t.Errorf("IdentityBySentryUser unknown: %v, want ErrNotFound", err)
		}
		pending := Identity{TeamID: "T1", SlackUserID: "U3", MemberID: "m-300", Method: "email"}
		if err := db.LinkIdentity(ctx, pending); err != nil {
			t.Fatal(err)
		}
		if _, err := db.IdentityBySentryUser(ctx, ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("IdentityBySentryUser(\"\") matched a link without a user id: %v", err)
		}
	})

	t.Run("BySentryUserNewest", func(t *testing.T) {
		db := MustOpenDB(t)
		clk := newClock(db)
		if err := db.LinkIdentity(ctx, alice); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
		other := alice
		other.TeamID, other.SlackUserID = "T2", "U9"
		if err := db.LinkIdentity(ctx, other); err != nil {
			t.Fatal(err)
		}
		got, err := db.IdentityBySentryUser(ctx, "u-100")
		if err != nil || got.TeamID != "T2" || got.SlackUserID != "U9" {
			t.Errorf("IdentityBySentryUser = %s/%s, %v; want the newer T2/U9", got.TeamID, got.SlackUserID, err)
		}
	})

	t.Run("Unlink", func(t *testing.T) {
		db := MustOpenDB(t)
		if err := db.LinkIdentity(ctx, alice); err != nil {
			t.Fatal(err)
		}
		if err := db.SetRoleOverride(ctx, "T1", "U1", "responder", "UADMIN"); err != nil {
			t.Fatal(err)
		}
		removed, err := db.UnlinkIdentity(ctx, "T1", "U1")
		if err != nil || !removed {
			t.Fatalf("UnlinkIdentity = %v, %v; want true, nil", removed, err)
		}
		if _, err := db.Identity(ctx, "T1", "U1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Identity after unlink: %v, want ErrNotFound", err)
		}
		removed, err = db.UnlinkIdentity(ctx, "T1", "U1")
		if err != nil || removed {
			t.Errorf("second UnlinkIdentity = %v, %v; want false, nil", removed, err)
		}
		if role, err := db.RoleOverride(ctx, "T1", "U1"); err != nil || role != "responder" {
			t.Errorf("override after unlink = %q, %v; want it kept", role, err)
		}
	})

	t.Run("UpdateOrgRole", func(t *testing.T) {
		db := MustOpenDB(t)
		if err := db.LinkIdentity(ctx, alice); err != nil {
			t.Fatal(err)
		}
		if err := db.UpdateOrgRole(ctx, "T1", "U1", "billing"); err != nil {
			t.Fatalf("UpdateOrgRole: %v", err)
		}
		got, err := db.Identity(ctx, "T1", "U1")
		if err != nil || got.OrgRole != "billing" {
			t.Errorf("OrgRole = %q, %v; want billing", got.OrgRole, err)
		}
		want := alice
		want.OrgRole = "billing"
		want.LinkedAt = got.LinkedAt
		if got != want {
			t.Errorf("UpdateOrgRole changed more than the role: %+v", got)
		}
		if err := db.UpdateOrgRole(ctx, "T1", "U404", "owner"); !errors.Is(err, ErrNotFound) {
			t.Errorf("UpdateOrgRole of an unlinked user: %v, want ErrNotFound", err)
		}
	})
}

func TestRoleOverride(t *testing.T) {
	ctx := context.Background()

	t.Run("SetReplaceDelete", func(t *testing.T) {
		db := MustOpenDB(t)
		clk := newClock(db)
		if role, err := db.RoleOverride(ctx, "T1", "U1"); err != nil || role != "" {
			t.Fatalf("RoleOverride with none = %q, %v; want \"\", nil", role, err)
		}
		if err := db.SetRoleOverride(ctx, "T1", "U1", "admin", "UADMIN"); err != nil {
			t.Fatalf("SetRoleOverride: %v", err)
		}
		if role, err := db.RoleOverride(ctx, "T1", "U1"); err != nil || role != "admin" {
			t.Errorf("RoleOverride = %q, %v; want admin", role, err)
		}
		clk.Advance(time.Minute)
		if err := db.SetRoleOverride(ctx, "T1", "U1", "viewer", "UOTHER"); err != nil {
			t.Fatal(err)
		}
		list, err := db.RoleOverrides(ctx, "T1")
		if err != nil {
			t.Fatal(err)
		}
		want := RoleOverride{TeamID: "T1", SlackUserID: "U1", Role: "viewer", SetBy: "UOTHER", SetAt: clk.Now()}
		if len(list) != 1 || list[0] != want {
			t.Errorf("RoleOverrides = %+v, want [%+v]", list, want)
		}
		for _, reset := range []string{"default", ""} {
			if err := db.SetRoleOverride(ctx, "T1", "U1", "responder", "UADMIN"); err != nil {
				t.Fatal(err)
			}
			if err := db.SetRoleOverride(ctx, "T1", "U1", reset, "UADMIN"); err != nil {
				t.Fatalf("SetRoleOverride(%q): %v", reset, err)
			}
			if role, err := db.RoleOverride(ctx, "T1", "U1"); err != nil || role != "" {
				t.Errorf("after SetRoleOverride(%q) RoleOverride = %q, %v; want none", reset, role, err)
			}
		}
		// Deleting what is not there is fine.
		if err := db.SetRoleOverride(ctx, "T1", "U404", "default", "UADMIN"); err != nil {
			t.Errorf("delete of a missing override: %v", err)
		}
	})

	t.Run("ListByTeam", func(t *testing.T) {
		db := MustOpenDB(t)
		for _, o := range []struct{ team, user, role string }{
			{"T1", "U3", "viewer"}, {"T1", "U1", "admin"}, {"T2", "U2", "responder"},
		} {
			if err := db.SetRoleOverride(ctx, o.team, o.user, o.role, "UADMIN"); err != nil {
				t.Fatal(err)
			}
		}
		list, err := db.RoleOverrides(ctx, "T1")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].SlackUserID != "U1" || list[0].Role != "admin" || list[1].SlackUserID != "U3" {
			t.Errorf("RoleOverrides(T1) = %+v, want U1 admin then U3 viewer", list)
		}
		if list, err := db.RoleOverrides(ctx, "T9"); err != nil || len(list) != 0 {
			t.Errorf("RoleOverrides(T9) = %+v, %v; want none", list, err)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		db := MustOpenDB(t)
		for _, tc := range []struct{ team, user, role, by string }{
			{"T1", "U1", "owner", "UADMIN"},
			{"T1", "U1", "Admin", "UADMIN"},
			{"T1", "U1", "admin", ""},
			{"", "U1", "admin", "UADMIN"},
			{"T1", "", "admin", "UADMIN"},
		} {
			if err := db.SetRoleOverride(ctx, tc.team, tc.user, tc.role, tc.by); err == nil {
				t.Errorf("SetRoleOverride%+v succeeded, want an error", tc)
			}
		}
		if n := countRows(t, db, "role_overrides"); n != 0 {
			t.Errorf("role_overrides has %d rows after rejected calls", n)
		}
		// The table refuses a bad role even if the Go check is bypassed.
		if _, err := db.db.Exec(`INSERT INTO role_overrides VALUES ('T1', 'U1', 'root', 'x', 0)`); err == nil {
			t.Error("role_overrides accepted role 'root'")
		}
	})
}

// TestUserRecord reads override and link together for each combination,
// and never another workspace's or another user's rows.
func TestUserRecord(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	newClock(db)
	linked := Identity{TeamID: "T1", SlackUserID: "U1", MemberID: "m-1", SentryUserID: "s-1", Email: "a@example.com",
		OrgRole: "admin", Method: "email", LinkedBy: "U9"}
	if err := db.LinkIdentity(ctx, linked); err != nil {
		t.Fatal(err)
	}
	if err := db.LinkIdentity(ctx, Identity{TeamID: "T1", SlackUserID: "U3", MemberID: "m-3", Method: "email"}); err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct{ team, user, role string }{{"T1", "U1", "viewer"}, {"T1", "U2", "admin"}, {"T2", "U3", "admin"}} {
		if err := db.SetRoleOverride(ctx, o.team, o.user, o.role, "U9"); err != nil {
			t.Fatal(err)
		}
	}
	want, err := db.Identity(ctx, "T1", "U1")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		team, user, override string
		linked               bool
	}{
		{"T1", "U1", "viewer", true}, // both
		{"T1", "U2", "admin", false}, // override only
		{"T1", "U3", "", true},       // link only; T2/U3's override is another workspace's
		{"T1", "U4", "", false},      // neither
		{"T2", "U1", "", false},      // U1 of another workspace
	}
	for _, tt := range tests {
		rec, err := db.UserRecord(ctx, tt.team, tt.user)
		if err != nil {
			t.Fatalf("UserRecord(%s, %s): %v", tt.team, tt.user, err)
		}
		if rec.Override != tt.override || rec.Linked != tt.linked {
			t.Errorf("UserRecord(%s, %s) = override %q linked %v, want %q %v", tt.team, tt.user, rec.Override, rec.Linked, tt.override, tt.linked)
		}
		if !rec.Linked && rec.Identity != (Identity{}) {
			t.Errorf("UserRecord(%s, %s): not linked, yet identity %+v", tt.team, tt.user, rec.Identity)
		}
	}
	if rec, _ := db.UserRecord(ctx, "T1", "U1"); rec.Identity != want {
		t.Errorf("UserRecord identity = %+v\nwant what Identity reads: %+v", rec.Identity, want)
	}
}
