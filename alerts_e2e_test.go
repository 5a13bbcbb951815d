package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"sentrybot/blocks"
	"sentrybot/internal/sentryfake"
	"sentrybot/internal/slackfake"
	"sentrybot/sentry"
	"sentrybot/webhook"
)

type sentryIssue = sentry.Issue

const alertSecret = "whsec-test-0123456789abcdef"

// alertRig runs sentrybot with the HTTP listener and a webhook secret.
type alertRig struct {
	*e2e
	addr string
}

func alertStart(t *testing.T, extra map[string]string) *alertRig {
	t.Helper()
	addr := freeAddr(t)
	env := map[string]string{"SENTRYBOT_HTTP_LISTEN": addr, "SENTRY_WEBHOOK_SECRET": alertSecret,
		"SENTRYBOT_ALERTS_CHANNEL": "C0DEFAULT"}
	for k, v := range extra {
		env[k] = v
	}
	r := &alertRig{e2e: newE2E(t, env), addr: addr}
	r.start()
	// The listener comes up beside the bot.
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
	}
	return r
}

var alertSeq int

// deliver posts a webhook as Sentry does: signed raw body, timestamp,
// resource and request id. sign=false sends a forged signature.
func (r *alertRig) deliver(resource string, body []byte, sign bool) int {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+r.addr+"/sentry/webhook", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sentry-Hook-Resource", resource)
	req.Header.Set("Sentry-Hook-Timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	alertSeq++
	req.Header.Set("Request-ID", fmt.Sprintf("req-%d-%d", time.Now().UnixNano(), alertSeq))
	sig := webhook.Sign([]byte(alertSecret), body)
	if !sign {
		sig = webhook.Sign([]byte("not-the-secret"), body)
	}
	req.Header.Set("Sentry-Hook-Signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("webhook: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func issueWebhook(action string, is any) []byte {
	b, _ := json.Marshal(map[string]any{"action": action, "actor": map[string]string{"id": "sentry", "type": "application", "name": "Sentry"},
		"data": map[string]any{"issue": is}, "installation": map[string]string{"uuid": "a8e5d37a-696c-4c54-adb5-b3f28d64c7de"}})
	return b
}

func eventAlertWebhook(issueID, rule, channel string) []byte {
	settings := []map[string]string{}
	if channel != "" {
		settings = append(settings, map[string]string{"name": "channel", "value": channel})
	}
	b, _ := json.Marshal(map[string]any{"action": "triggered", "actor": map[string]string{"id": "sentry", "type": "application", "name": "Sentry"},
		"data": map[string]any{
			"event": map[string]any{"event_id": "e4874d664c3540c1a32eab185f12c5ab", "issue_id": issueID,
				"issue_url": "https://sentry.io/api/0/organizations/acme/issues/" + issueID + "/", "title": "x", "level": "error"},
			"triggered_rule": rule,
			"issue_alert":    map[string]any{"title": rule, "settings": settings},
		},
		"installation": map[string]string{"uuid": "a8e5d37a-696c-4c54-adb5-b3f28d64c7de"}})
	return b
}

// posts waits for n chat.postMessage calls and returns them.
func (r *alertRig) posts(n int) []slackfake.Call {
	r.t.Helper()
	calls, err := r.slack.WaitCalls(r.ctx(), "chat.postMessage", n)
	if err != nil {
		r.t.Fatalf("waiting for %d chat.postMessage: %v\nlogs:\n%s", n, err, r.logs)
	}
	return calls
}

func attachmentText(t *testing.T, c slackfake.Call) string {
	t.Helper()
	var atts []slack.Attachment
	if err := json.Unmarshal([]byte(c.Arg("attachments")), &atts); err != nil || len(atts) == 0 {
		t.Fatalf("post has no attachments: %v %q", err, c.Arg("attachments"))
	}
	return blocks.PlainText(atts[0].Blocks.BlockSet)
}

func TestAlertSignedWebhookPostsCardForgedOneRefused(t *testing.T) {
	r := alertStart(t, nil)
	is := sentryfake.NewIssue("7001", "FRONT-END-9", "ReferenceError: blooopy is not defined")
	r.sentry.AddIssue(is)
	is, _ = r.sentry.Issue("7001")

	if code := r.deliver("issue", issueWebhook("created", is), false); code != http.StatusUnauthorized {
		t.Fatalf("forged webhook answered %d, want 401", code)
	}
	if code := r.deliver("issue", issueWebhook("created", is), true); code != http.StatusOK {
		t.Fatalf("signed webhook answered %d, want 200", code)
	}
	post := r.posts(1)[0]
	if post.Arg("channel") != "C0DEFAULT" {
		t.Errorf("posted in %q, want the default channel", post.Arg("channel"))
	}
	text := attachmentText(t, post)
	for _, want := range []string{"FRONT-END-9", "ReferenceError: blooopy is not defined", "[Resolve]"} {
		if !strings.Contains(text, want) {
			t.Errorf("alert card lacks %q:\n%s", want, text)
		}
	}
	time.Sleep(150 * time.Millisecond)
	if n := len(r.slack.Calls("chat.postMessage")); n != 1 {
		t.Fatalf("%d posts, want 1 (the forged webhook must post nothing)", n)
	}
}

func TestAlertRuleChannelWinsAndRepeatsThread(t *testing.T) {
	r := alertStart(t, map[string]string{"SENTRYBOT_ALERT_RULE_CHANNELS": "Payments errors=C0PAY"})
	r.sentry.AddIssue(sentryfake.NewIssue("7101", "BACKEND-71", "Timeout talking to the bank"))
	// The rule's own action names a channel: it wins over the config map and the default.
	if code := r.deliver("event_alert", eventAlertWebhook("7101", "Payments errors", "C0RULE"), true); code != 200 {
		t.Fatalf("webhook answered %d", code)
	}
	first := r.posts(1)[0]
	if first.Arg("channel") != "C0RULE" {
		t.Fatalf("posted in %q, want the rule's channel C0RULE", first.Arg("channel"))
	}
	if text := attachmentText(t, first); !strings.Contains(text, "Payments errors") {
		t.Errorf("card does not name the rule:\n%s", text)
	}
	// No channel in the rule's action: the config map decides.
	r.sentry.AddIssue(sentryfake.NewIssue("7102", "BACKEND-72", "Card declined"))
	r.deliver("event_alert", eventAlertWebhook("7102", "Payments errors", ""), true)
	if c := r.posts(2)[1]; c.Arg("channel") != "C0PAY" {
		t.Fatalf("posted in %q, want the mapped channel C0PAY", c.Arg("channel"))
	}
	// The same issue again in the same channel goes into the first post's thread.
	r.deliver("event_alert", eventAlertWebhook("7101", "Payments errors", "C0RULE"), true)
	third := r.posts(3)[2]
	if third.Arg("channel") != "C0RULE" || third.Arg("thread_ts") == "" {
		t.Fatalf("repeat alert: channel %q thread_ts %q, want a reply in C0RULE's thread", third.Arg("channel"), third.Arg("thread_ts"))
	}
	if third.Arg("reply_broadcast") == "true" {
		t.Errorf("a plain repeat was broadcast to the channel")
	}
}

func TestAlertIssueChangeRedrawsUnfurledCard(t *testing.T) {
	r := alertStart(t, nil)
	url := "https://acme.sentry.io/issues/4321/"
	id, env := linkShared("C0BACKEND", "1732810000.000300", url)
	r.send(env, id)
	r.unfurls(1)
	// The card is recorded just after chat.unfurl answers; only a recorded
	// card can follow the issue.
	r.waitUnits("link_shared", "", 1)

	// Someone resolves the issue in Sentry itself; Sentry tells us.
	r.sentry.SetIssue("4321", func(is *sentryIssue) { is.Status = "resolved"; is.Substatus = nil })
	is, _ := r.sentry.Issue("4321")
	if code := r.deliver("issue", issueWebhook("resolved", is), true); code != 200 {
		t.Fatalf("webhook answered %d", code)
	}
	calls := r.unfurls(2)
	redraw := calls[1]
	if redraw.Form.Get("channel") != "C0BACKEND" || redraw.Form.Get("ts") != "1732810000.000300" {
		t.Fatalf("redraw addressed %q/%q", redraw.Form.Get("channel"), redraw.Form.Get("ts"))
	}
	u, err := redraw.Unfurls()
	if err != nil {
		t.Fatal(err)
	}
	text := blocks.PlainText(u[url].Blocks.BlockSet)
	if !strings.Contains(text, "Status: Resolved") || !strings.Contains(text, "[Unresolve]") {
		t.Fatalf("the card still shows the old state:\n%s", text)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(r.slack.Calls("chat.postMessage")); n != 0 {
		t.Errorf("a change posted %d new messages; it must only redraw", n)
	}
}

func TestAlertSubscriptionRoutesNewIssues(t *testing.T) {
	r := alertStart(t, nil)
	r.sentry.AddMember(sentryfake.NewMember("11", "101", "alice@acme.example", "Alice", "member"))
	r.slack.AddUser(benchUser())
	hook := r.slack.ResponseURL("cmd")
	say := func(text string) string {
		r.t.Helper()
		before := len(r.slack.Calls("response_url"))
		id, env := slackfake.SlashCommandEnvelope(slackfake.SlashCommand{TeamID: "T0001", ChannelID: "C0ERRORS", UserID: "U0ALICE",
			Text: text, ResponseURL: hook})
		r.send(env, id)
		calls, err := r.slack.WaitCalls(r.ctx(), "response_url", before+1)
		if err != nil {
			t.Fatal(err)
		}
		return string(calls[len(calls)-1].JSON)
	}
	say("link")
	if out := say("subscribe backend level:error is:unresolved"); !strings.Contains(out, "Subscribed this channel") {
		t.Fatalf("subscribe: %s", out)
	}
	if out := say("subscriptions"); !strings.Contains(out, "backend") || !strings.Contains(out, "level:error") {
		t.Fatalf("subscriptions: %s", out)
	}

	match := sentryfake.NewIssue("7201", "BACKEND-81", "NullPointerException in checkout")
	r.sentry.AddIssue(match)
	match, _ = r.sentry.Issue("7201")
	r.deliver("issue", issueWebhook("created", match), true)
	if c := r.posts(1)[0]; c.Arg("channel") != "C0ERRORS" {
		t.Fatalf("matching issue posted in %q, want the subscribed channel", c.Arg("channel"))
	}
	// A warning does not match level:error: the default channel gets it.
	other := sentryfake.NewIssue("7202", "BACKEND-82", "Slow query")
	other.Level = "warning"
	r.sentry.AddIssue(other)
	other, _ = r.sentry.Issue("7202")
	r.deliver("issue", issueWebhook("created", other), true)
	if c := r.posts(2)[1]; c.Arg("channel") != "C0DEFAULT" {
		t.Fatalf("non-matching issue posted in %q, want the default channel", c.Arg("channel"))
	}
	if out := say("unsubscribe"); !strings.Contains(out, "Removed 1") {
		t.Fatalf("unsubscribe: %s", out)
	}
}

func TestAlertSubscriptionCommandsAreGuarded(t *testing.T) {
	r := alertStart(t, map[string]string{"SENTRYBOT_ADMINS": "U0ADMIN"})
	hook := r.slack.ResponseURL("cmd")
	say := func(user, text string) string {
		t.Helper()
		before := len(r.slack.Calls("response_url"))
		id, env := slackfake.SlashCommandEnvelope(slackfake.SlashCommand{TeamID: "T0001", ChannelID: "C0ERRORS", UserID: user,
			Text: text, ResponseURL: hook})
		r.send(env, id)
		calls, err := r.slack.WaitCalls(r.ctx(), "response_url", before+1)
		if err != nil {
			t.Fatal(err)
		}
		return string(calls[len(calls)-1].JSON)
	}
	// An unlinked user (a viewer) cannot subscribe a channel.
	if out := say("U0CAROL", "subscribe backend"); !strings.Contains(out, "/sentry link") {
		t.Fatalf("unlinked subscribe: %s", out)
	}
	// Listing every channel's subscriptions is for admins; the refusal names them.
	if out := say("U0CAROL", "subscriptions all"); !strings.Contains(out, "Only sentrybot admins") || !strings.Contains(out, "U0ADMIN") {
		t.Fatalf("non-admin subscriptions all: %s", out)
	}
	if out := say("U0ADMIN", "subscriptions all"); !strings.Contains(out, "No channel has alert subscriptions") {
		t.Fatalf("admin subscriptions all: %s", out)
	}
	// An installation webhook is acknowledged and posts nothing.
	body := []byte(`{"action":"created","installation":{"uuid":"a8e5d37a-696c-4c54-adb5-b3f28d64c7de"},"data":{"installation":{"uuid":"a8e5d37a-696c-4c54-adb5-b3f28d64c7de"}}}`)
	if code := r.deliver("installation", body, true); code != http.StatusOK {
		t.Fatalf("installation webhook answered %d", code)
	}
	time.Sleep(150 * time.Millisecond)
	if n := len(r.slack.Calls("chat.postMessage")); n != 0 {
		t.Fatalf("%d posts after guarded commands and an installation webhook, want 0", n)
	}
}
