package slackfake

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

func TestAuth(t *testing.T) {
	s := newFake(t, 0)
	ctx := testCtx(t, 10*time.Second)

	res, err := newAPI(s).AuthTestContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.UserID != BotUserID || res.TeamID != TeamID || res.BotID != BotID {
		t.Errorf("auth.test = %+v", res)
	}

	cases := []struct {
		name, method, token, want string
	}{
		{"unknown token", "auth.test", "xoxb-wrong", "invalid_auth"},
		{"no token", "auth.test", "", "not_authed"},
		{"app token on a bot method", "chat.postMessage", appToken, "not_allowed_token_type"},
		{"bot token on apps.connections.open", "apps.connections.open", botToken, "not_allowed_token_type"},
		{"unknown method", "chat.nothing", botToken, "unknown_method"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := postForm(t, s, tc.method, tc.token, url.Values{"channel": {"C1"}, "text": {"x"}})
			if out["ok"] != false || out["error"] != tc.want {
				t.Errorf("answer = %v, want error %s", out, tc.want)
			}
		})
	}

	// The token may also come as a form field, as slack-go's chat methods send it.
	out := postForm(t, s, "auth.test", "", url.Values{"token": {botToken}})
	if out["ok"] != true {
		t.Errorf("token as form field: %v", out)
	}
	for _, c := range s.Calls("") {
		if c.Form.Get("token") != "" {
			t.Errorf("call %s kept the token in Form", c.Method)
		}
	}
	if got := strings.Join(s.MethodsCalled(), ","); got != "auth.test,chat.postMessage,apps.connections.open,chat.nothing" {
		t.Errorf("MethodsCalled = %s", got)
	}
	if c := s.Calls("auth.test"); c[0].Token != "bot" || c[len(c)-1].Token != "bot" {
		t.Errorf("token kinds = %q, %q", c[0].Token, c[len(c)-1].Token)
	}
}

// shareLinks delivers a link_shared event over a raw socket so chat.unfurl
// accepts its URLs.
func shareLinks(t *testing.T, s *Server, ev LinkShared) {
	t.Helper()
	dialRaw(t, s)
	_, env := LinkSharedEnvelope(ev)
	if err := s.Send(testCtx(t, 10*time.Second), env); err != nil {
		t.Fatal(err)
	}
}

func TestChatUnfurl(t *testing.T) {
	s := newFake(t, 0)
	ctx := testCtx(t, 10*time.Second)
	api := newAPI(s)
	u1 := "https://acme.sentry.io/issues/4321/?project=2&referrer=slack"
	u2 := "https://sentry.example.com/organizations/acme/issues/4322/events/latest/"
	shareLinks(t, s, LinkShared{Channel: "C0BACKEND", MessageTS: "1732810000.123456", UnfurlID: "C0BACKEND.1732810000.123456.7a1b", URLs: []string{u1, u2}})
	card := slack.Attachment{Blocks: slack.Blocks{BlockSet: []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*BACKEND-12*", false, false), nil, nil, slack.SectionBlockOptionBlockID("issue:4321")),
	}}}

	if _, _, _, err := api.UnfurlMessageContext(ctx, "C0BACKEND", "1732810000.123456", map[string]slack.Attachment{u1: card}); err != nil {
		t.Fatalf("unfurl by channel+ts: %v", err)
	}
	if _, _, _, err := api.UnfurlMessageByIDContext(ctx, "C0BACKEND.1732810000.123456.7a1b", "conversations_history", map[string]slack.Attachment{u2: card}); err != nil {
		t.Fatalf("unfurl by unfurl_id+source: %v", err)
	}
	calls := s.Calls("chat.unfurl")
	if len(calls) != 2 {
		t.Fatalf("%d chat.unfurl calls, want 2", len(calls))
	}
	if c := calls[0]; c.Arg("channel") != "C0BACKEND" || c.Arg("ts") != "1732810000.123456" || c.Arg("unfurl_id") != "" || c.Token != "bot" || c.Status != 200 || c.Error != "" {
		t.Errorf("first call = %+v", c)
	}
	if c := calls[1]; c.Arg("unfurl_id") != "C0BACKEND.1732810000.123456.7a1b" || c.Arg("source") != "conversations_history" || c.Arg("channel") != "" {
		t.Errorf("second call = %+v", c)
	}
	got, err := calls[0].Unfurls()
	if err != nil {
		t.Fatal(err)
	}
	sec, ok := got[u1].Blocks.BlockSet[0].(*slack.SectionBlock)
	if len(got) != 1 || !ok || sec.BlockID != "issue:4321" || sec.Text.Text != "*BACKEND-12*" {
		t.Errorf("decoded unfurls = %+v", got)
	}

	// Composer links unfurl by unfurl_id + source only.
	shareLinks(t, s, LinkShared{Channel: "COMPOSER", UnfurlID: "U0ALICE-909b", URLs: []string{u1}})
	if _, _, _, err := api.UnfurlMessageByIDContext(ctx, "U0ALICE-909b", "composer", map[string]slack.Attachment{u1: card}); err != nil {
		t.Errorf("composer unfurl: %v", err)
	}

	errCases := []struct {
		name string
		call func() error
		want string
	}{
		{"no link_shared for the message", func() error {
			_, _, _, err := api.UnfurlMessageContext(ctx, "C0BACKEND", "1.2", map[string]slack.Attachment{u1: card})
			return err
		}, "cannot_unfurl_url"},
		{"url not in the message", func() error {
			_, _, _, err := api.UnfurlMessageContext(ctx, "C0BACKEND", "1732810000.123456", map[string]slack.Attachment{"https://acme.sentry.io/issues/9/": card})
			return err
		}, "cannot_unfurl_message"},
		{"wrong source", func() error {
			_, _, _, err := api.UnfurlMessageByIDContext(ctx, "C0BACKEND.1732810000.123456.7a1b", "composer", map[string]slack.Attachment{u2: card})
			return err
		}, "cannot_unfurl_url"},
		{"channel without ts", func() error {
			_, _, _, err := api.UnfurlMessageContext(ctx, "C0BACKEND", "", map[string]slack.Attachment{u1: card})
			return err
		}, "missing_ts"},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := slackErr(tc.call()); got != tc.want {
				t.Errorf("error = %q, want %q", got, tc.want)
			}
		})
	}

	rawCases := []struct {
		name string
		form url.Values
		want string
	}{
		{"both pairs", url.Values{"channel": {"C0BACKEND"}, "ts": {"1732810000.123456"}, "unfurl_id": {"x"}, "source": {"composer"}, "unfurls": {`{}`}}, "invalid_arguments"},
		{"neither pair", url.Values{"unfurls": {`{}`}}, "missing_channel"},
		{"unfurls not JSON", url.Values{"channel": {"C0BACKEND"}, "ts": {"1732810000.123456"}, "unfurls": {`{`}}, "invalid_unfurls_format"},
		{"unfurls an array", url.Values{"channel": {"C0BACKEND"}, "ts": {"1732810000.123456"}, "unfurls": {`[]`}}, "invalid_unfurls_format"},
		{"unfurl value not an object", url.Values{"channel": {"C0BACKEND"}, "ts": {"1732810000.123456"}, "unfurls": {`{"` + u1 + `":"card"}`}}, "invalid_unfurls_format"},
		{"no unfurls", url.Values{"channel": {"C0BACKEND"}, "ts": {"1732810000.123456"}}, "missing_unfurls"},
	}
	for _, tc := range rawCases {
		t.Run(tc.name, func(t *testing.T) {
			out := postForm(t, s, "chat.unfurl", botToken, tc.form)
			if out["error"] != tc.want {
				t.Errorf("answer = %v, want %s", out, tc.want)
			}
		})
	}
}

func TestChatMessages(t *testing.T) {
	s := newFake(t, 0)
	ctx := testCtx(t, 10*time.Second)
	api := newAPI(s)
	section := slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "hello", false, false), nil, nil)

	ch, ts, err := api.PostMessageContext(ctx, "C0ALERTS", slack.MsgOptionText("fallback", false), slack.MsgOptionBlocks(section))
	if err != nil {
		t.Fatal(err)
	}
	if ch != "C0ALERTS" || !strings.Contains(ts, ".") {
		t.Errorf("postMessage returned %q %q", ch, ts)
	}
	post := s.Calls("chat.postMessage")[0]
	if blocks, err := post.Blocks(); err != nil || len(blocks.BlockSet) != 1 || post.Arg("text") != "fallback" {
		t.Errorf("recorded blocks %+v, %v; text %q", blocks, err, post.Arg("text"))
	}

	if _, uts, _, err := api.UpdateMessageContext(ctx, "C0ALERTS", ts, slack.MsgOptionText("updated", false)); err != nil || uts != ts {
		t.Errorf("update = %q, %v", uts, err)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, "C0ALERTS", "1.000001", slack.MsgOptionText("x", false)); slackErr(err) != "message_not_found" {
		t.Errorf("update of a message the bot did not post: %v", err)
	}

	ets, err := api.PostEphemeralContext(ctx, "C0BACKEND", "U0ALICE", slack.MsgOptionText("only you", false))
	if err != nil || ets == "" {
		t.Errorf("postEphemeral = %q, %v", ets, err)
	}
	if c := s.Calls("chat.postEphemeral")[0]; c.Arg("user") != "U0ALICE" || c.Arg("channel") != "C0BACKEND" {
		t.Errorf("postEphemeral call = %+v", c)
	}

	if _, _, err := api.PostMessageContext(ctx, "C0ALERTS"); slackErr(err) != "no_text" {
		t.Errorf("empty message: %v", err)
	}
	tooMany := make([]slack.Block, 51)
	for i := range tooMany {
		tooMany[i] = slack.NewDividerBlock()
	}
	if _, _, err := api.PostMessageContext(ctx, "C0ALERTS", slack.MsgOptionBlocks(tooMany...)); slackErr(err) != "invalid_blocks" {
		t.Errorf("51 blocks: %v", err)
	}
}

func TestUsersInfo(t *testing.T) {
	s := newFake(t, 0)
	ctx := testCtx(t, 10*time.Second)
	s.AddUser(slack.User{ID: "U0ALICE", TeamID: TeamID, Name: "alice", IsAdmin: true, Profile: slack.UserProfile{Email: "alice@example.com"}})

	u, err := newAPI(s).GetUserInfoContext(ctx, "U0ALICE")
	if err != nil {
		t.Fatal(err)
	}
	if u.Profile.Email != "alice@example.com" || !u.IsAdmin || u.IsOwner || u.TeamID != TeamID {
		t.Errorf("user = %+v", u)
	}
	if _, err := newAPI(s).GetUserInfoContext(ctx, "U0NOBODY"); slackErr(err) != "user_not_found" {
		t.Errorf("unknown user: %v", err)
	}
}

func TestViewsOpen(t *testing.T) {
	s := newFake(t, 0)
	ctx := testCtx(t, 10*time.Second)
	view := slack.ModalViewRequest{Type: slack.VTModal, Title: slack.NewTextBlockObject(slack.PlainTextType, "Link", false, false)}
	res, err := newAPI(s).OpenViewContext(ctx, "123.456.abc", view)
	if err != nil {
		t.Fatal(err)
	}
	if res.ID == "" || res.Title.Text != "Link" {
		t.Errorf("view = %+v", res.View)
	}
	if c := s.Calls("views.open")[0]; c.Arg("trigger_id") != "123.456.abc" || len(c.JSON) == 0 {
		t.Errorf("views.open call = %+v", c)
	}
}

func TestFailMethod(t *testing.T) {
	s := newFake(t, 0)
	ctx := testCtx(t, 20*time.Second)

	// slack-go's retry client honours Retry-After and the second call succeeds.
	s.FailMethod("chat.postMessage", http.StatusTooManyRequests, time.Second, 1)
	start := time.Now()
	if _, _, err := newAPI(s, slack.OptionRetry(1)).PostMessageContext(ctx, "C1", slack.MsgOptionText("x", false)); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("retried after %v, before Retry-After", el)
	}
	calls := s.Calls("chat.postMessage")
	if len(calls) != 2 || calls[0].Status != 429 || calls[0].Error != "ratelimited" || calls[1].Status != 200 || calls[1].Error != "" {
		t.Errorf("calls = %+v", calls)
	}

	// Without retries the caller sees Slack's rate-limit error.
	s.FailMethod("users.info", http.StatusTooManyRequests, 3*time.Second, 1)
	_, err := newAPI(s).GetUserInfoContext(ctx, "U1")
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 3*time.Second {
		t.Errorf("429 error = %v", err)
	}

	// 5xx forever until cleared.
	s.FailMethod("auth.test", http.StatusServiceUnavailable, 0, -1)
	for range 2 {
		_, err := newAPI(s).AuthTestContext(ctx)
		var sc slack.StatusCodeError
		if !errors.As(err, &sc) || sc.Code != http.StatusServiceUnavailable {
			t.Errorf("503 error = %v", err)
		}
	}
	s.FailMethod("auth.test", 0, 0, 0)
	if _, err := newAPI(s).AuthTestContext(ctx); err != nil {
		t.Errorf("after clearing: %v", err)
	}
}

func TestResponseURL(t *testing.T) {
	s := newFake(t, 0)
	ctx := testCtx(t, 10*time.Second)
	hook := s.ResponseURL("actions")
	if !strings.HasPrefix(hook, "http://127.0.0.1:") {
		t.Fatalf("hook = %s", hook)
	}

	if err := slack.PostWebhookContext(ctx, hook, &slack.WebhookMessage{Text: "done", ReplaceOriginal: true}); err != nil {
		t.Fatal(err)
	}
	_, _, _, err := newAPI(s).SendMessageContext(ctx, "", slack.MsgOptionResponseURL(hook, slack.ResponseTypeEphemeral), slack.MsgOptionText("only you", false))
	if err != nil {
		t.Fatalf("respond via MsgOptionResponseURL: %v", err)
	}
	calls, err := s.WaitCalls(ctx, "response_url", 2)
	if err != nil {
		t.Fatal(err)
	}
	if c := calls[0]; c.Hook != hook || c.Arg("text") != "done" || c.Arg("replace_original") != "true" || c.Status != 200 {
		t.Errorf("webhook call = %+v (%s)", c, c.JSON)
	}
	if c := calls[1]; c.Arg("response_type") != "ephemeral" || c.Arg("text") != "only you" {
		t.Errorf("response_url call = %s", c.JSON)
	}

	if err := slack.PostWebhookContext(ctx, hook+"x", &slack.WebhookMessage{Text: "x"}); err == nil {
		t.Error("posting to an unknown hook succeeded")
	}
	s.FailMethod("response_url", http.StatusInternalServerError, 0, 1)
	if err := slack.PostWebhookContext(ctx, hook, &slack.WebhookMessage{Text: "x"}); err == nil {
		t.Error("injected failure on response_url was not reported")
	}
}
