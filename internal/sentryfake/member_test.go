package sentryfake

import (
	"context"
	"errors"
	"testing"

	"sentrybot/sentry"
)

func TestGetMember(t *testing.T) {
	s := New(Options{Org: "acme", Token: "tok"})
	defer s.Close()
	s.AddMember(NewMember("11", "101", "alice@acme.io", "Alice", "manager"))
	s.AddPendingInvite("12", "carol@acme.io")
	c := newClient(t, s, "tok")
	ctx := context.Background()

	m, err := c.Member(ctx, "acme", "11")
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "11" || m.User == nil || m.User.ID != "101" || m.Role != "manager" || m.Email != "alice@acme.io" {
		t.Fatalf("member = %+v", m)
	}
	inv, err := c.Member(ctx, "acme", "12")
	if err != nil {
		t.Fatal(err)
	}
	if inv.User != nil || !inv.Pending {
		t.Fatalf("invite = %+v, want no user and pending", inv)
	}
	if _, err := c.Member(ctx, "acme", "99"); !errors.Is(err, sentry.ErrNotFound) {
		t.Fatalf("unknown member: err = %v, want not found", err)
	}
	s.SetMemberRole("11", "billing")
	if m, _ := c.Member(ctx, "acme", "11"); m.Role != "billing" {
		t.Fatalf("role after change = %q", m.Role)
	}
	s.RemoveMember("11")
	if _, err := c.Member(ctx, "acme", "11"); !errors.Is(err, sentry.ErrNotFound) {
		t.Fatalf("removed member: err = %v, want not found", err)
	}
}
