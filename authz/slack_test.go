package authz

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/slack-go/slack"
)

// SlackUserInfoMock is a SlackUserInfo made of a function.
type SlackUserInfoMock struct {
	GetUserInfoContextFn func(ctx context.Context, user string) (*slack.User, error)
}

func (m *SlackUserInfoMock) GetUserInfoContext(ctx context.Context, user string, _ ...slack.GetUserInfoOption) (*slack.User, error) {
	return m.GetUserInfoContextFn(ctx, user)
}

var (
	_ SlackUserInfo = (*SlackUserInfoMock)(nil)
	_ SlackUserInfo = (*slack.Client)(nil)
)

func TestSlackAdminChecker(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		user slack.User
		want bool
	}{
		{"Regular", slack.User{TeamID: "T1"}, false},
		{"Admin", slack.User{TeamID: "T1", IsAdmin: true}, true},
		{"Owner", slack.User{TeamID: "T1", IsOwner: true}, true},
		{"PrimaryOwner", slack.User{TeamID: "T1", IsPrimaryOwner: true}, true},
		{"NoTeamInAnswer", slack.User{IsAdmin: true}, true},
		{"DeletedAdmin", slack.User{TeamID: "T1", IsAdmin: true, Deleted: true}, false},
		{"GuestFlaggedAdmin", slack.User{TeamID: "T1", IsAdmin: true, IsRestricted: true}, false},
		{"SingleChannelGuest", slack.User{TeamID: "T1", IsOwner: true, IsUltraRestricted: true}, false},
		{"OtherWorkspaceAdmin", slack.User{TeamID: "T2", IsAdmin: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asked string
			c := SlackAdminChecker(&SlackUserInfoMock{GetUserInfoContextFn: func(ctx context.Context, user string) (*slack.User, error) {
				asked = user
				u := tc.user
				u.ID = user
				return &u, nil
			}})
			got, err := c.IsWorkspaceAdmin(ctx, "T1", "U1")
			if err != nil || got != tc.want {
				t.Errorf("IsWorkspaceAdmin = %v, %v; want %v", got, err, tc.want)
			}
			if asked != "U1" {
				t.Errorf("asked about %q, want U1", asked)
			}
		})
	}

	t.Run("Error", func(t *testing.T) {
		c := SlackAdminChecker(&SlackUserInfoMock{GetUserInfoContextFn: func(context.Context, string) (*slack.User, error) {
			return nil, errors.New("user_not_found")
		}})
		got, err := c.IsWorkspaceAdmin(ctx, "T1", "U404")
		if got || err == nil || !strings.Contains(err.Error(), "users.info U404") {
			t.Errorf("IsWorkspaceAdmin = %v, %v; want false and an error naming the user", got, err)
		}
	})

	t.Run("NilUser", func(t *testing.T) {
		c := SlackAdminChecker(&SlackUserInfoMock{GetUserInfoContextFn: func(context.Context, string) (*slack.User, error) {
			return nil, nil
		}})
		if got, err := c.IsWorkspaceAdmin(ctx, "T1", "U1"); got || err == nil {
			t.Errorf("IsWorkspaceAdmin = %v, %v; want false and an error", got, err)
		}
	})
}

// TestSlackAdminChecker_Client drives a real slack.Client against a local
// users.info. Response shape: https://docs.slack.dev/reference/methods/users.info
func TestSlackAdminChecker_Client(t *testing.T) {
	users := map[string]string{
		"UOWNER": `{"ok":true,"user":{"id":"UOWNER","team_id":"T1","name":"olga","deleted":false,"is_admin":true,"is_owner":true,"is_primary_owner":false,"is_restricted":false,"is_ultra_restricted":false,"is_bot":false}}`,
		"UPLAIN": `{"ok":true,"user":{"id":"UPLAIN","team_id":"T1","name":"pete","deleted":false,"is_admin":false,"is_owner":false,"is_primary_owner":false,"is_restricted":false,"is_ultra_restricted":false,"is_bot":false}}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/users.info" {
			t.Errorf("request to %s, want /api/users.info", r.URL.Path)
		}
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		body, ok := users[r.Form.Get("user")]
		if !ok {
			body = `{"ok":false,"error":"user_not_found"}`
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	}))
	defer srv.Close()

	c := SlackAdminChecker(slack.New("xoxb-test", slack.OptionAPIURL(srv.URL+"/api/")))
	ctx := context.Background()
	if got, err := c.IsWorkspaceAdmin(ctx, "T1", "UOWNER"); err != nil || !got {
		t.Errorf("UOWNER: %v, %v; want true", got, err)
	}
	if got, err := c.IsWorkspaceAdmin(ctx, "T1", "UPLAIN"); err != nil || got {
		t.Errorf("UPLAIN: %v, %v; want false", got, err)
	}
	if got, err := c.IsWorkspaceAdmin(ctx, "T1", "UGONE"); err == nil || got || !strings.Contains(err.Error(), "user_not_found") {
		t.Errorf("UGONE: %v, %v; want false and user_not_found", got, err)
	}
}
