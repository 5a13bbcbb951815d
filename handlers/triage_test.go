package handlers

import (
	"testing"

	"sentrybot/authz"
	"sentrybot/sentry"
)

func TestAlreadyTextNamesWhatIsSo(t *testing.T) {
	is := &sentry.Issue{ShortID: "BACKEND-7", Status: sentry.StatusUnresolved,
		AssignedTo: &sentry.Assignee{Type: "user", ID: "9", Name: "Bob <b>"}}
	for _, tc := range []struct {
		c    Change
		want string
	}{
		{Change{Action: authz.ActionAssign}, "BACKEND-7 is already assigned to Bob &lt;b&gt;."},
		{Change{Action: authz.ActionUnresolve}, "BACKEND-7 is already unresolved."},
	} {
		if got := alreadyText(is, tc.c); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.c.Action, got, tc.want)
		}
	}
	is.AssignedTo = nil
	if got := alreadyText(is, Change{Action: authz.ActionUnassign}); got != "BACKEND-7 is already unassigned." {
		t.Errorf("unassign: %q", got)
	}
}
