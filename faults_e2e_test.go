package main

// End-to-end fault tests: Slack and Sentry misbehave the ways they do in
// production (rate limits, 5xx, slowness) while sentrybot serves users.
// Each test checks what the user saw and what Slack and Sentry received,
// so that nothing a user did is lost or done twice.

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"sentrybot/blocks"
	"sentrybot/internal/slackfake"
	"sentrybot/sentry"
)

// faultLink is a link_shared envelope for url in a new message, with the
// redelivery key the bot logs its unit under.
func faultLink(channel, ts, url string) (envID, key string, env []byte) {
	eventID := nextEventID()
	envID, env = slackfake.LinkSharedEnvelope(slackfake.LinkShared{
		TeamID: "T0001", Channel: channel, User: "U0ALICE", MessageTS: ts,
		Source: "conversations_history", EventID: eventID, IsBotUserMember: true, URLs: []string{url},
	})
	return envID, "event:" + eventID, env
}

// logLine is the part of a log line the fault tests read.
type logLine struct {
	Level   string `json:"level"`
	Kind    string `json:"kind"`
	Key     string `json:"key"`
	Message string `json:"message"`
}

func (s *e2e) logLines() []logLine {
	var out []logLine
	for _, raw := range strings.Split(s.logs.String(), "\n") {
		var l logLine
		if json.Unmarshal([]byte(raw), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// unitsFinished counts the units of work that ended (done, failed or out of
// time) and match: kind always, key unless "".
func (s *e2e) unitsFinished(kind, key string) []logLine {
	var out []logLine
	for _, l := range s.logLines() {
		if l.Kind == kind && (key == "" || l.Key == key) && strings.HasPrefix(l.Message, "unit of work ") {
			out = append(out, l)
		}
	}
	return out
}

// waitUnits waits until n units of kind (and key, unless "") have ended,
// and returns their log lines: the bot has nothing more to do for them.
func (s *e2e) waitUnits(kind, key string, n int) []logLine {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if got := s.unitsFinished(kind, key); len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("waiting for %d %s unit(s) %q to end; logs:\n%s", n, kind, key, s.logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// issueRequests are Sentry's requests about issue id since mark, any method.
func (s *e2e) issueRequests(since int, id string) int {
	n := 0
	for _, r := range s.sentry.Requests()[since:] {
		if strings.HasSuffix(r.Path, "/issues/"+id+"/") {
			n++
		}
	}
	return n
}

func TestFaultSlackRateLimitsUnfurl(t *testing.T) {
	s := newE2E(t, nil)
	s.start()
	s.slack.FailMethod("chat.unfurl", http.StatusTooManyRequests, time.Second, 1)

	url := "https://acme.sentry.io/issues/4321/"
	envID, key, env := faultLink("C0BACKEND", "1732830000.000001", url)
	s.send(env, envID)
	if l := s.waitUnits("link_shared", key, 1)[0]; l.Message != "unit of work done" {
		t.Errorf("the unfurl ended with %q, want done", l.Message)
	}

	calls := s.slack.Calls("chat.unfurl")
	if len(calls) != 2 {
		t.Fatalf("chat.unfurl called %d times, want the rate-limited try and one retry", len(calls))
	}
	if calls[0].Status != http.StatusTooManyRequests || calls[1].Error != "" || calls[1].Status != http.StatusOK {
		t.Fatalf("chat.unfurl answered %d %q then %d %q, want 429 then ok", calls[0].Status, calls[0].Error, calls[1].Status, calls[1].Error)
	}
	if wait := calls[1].At.Sub(calls[0].At); wait < time.Second {
		t.Errorf("retried after %v, before Slack's Retry-After of 1s", wait)
	}
	u, err := calls[1].Unfurls()
	if err != nil {
		t.Fatal(err)
	}
	att, ok := u[url]
	if !ok || len(u) != 1 || calls[1].Form.Get("ts") != "1732830000.000001" {
		t.Fatalf("the retry unfurled %v at ts %q", keys(u), calls[1].Form.Get("ts"))
	}
	triageContains(t, "card", blocks.PlainText(att.Blocks.BlockSet), "TypeError: cannot read 'total'", "[Resolve]")
	if n := s.issueGets("4321"); n != 1 {
		t.Errorf("Sentry asked for the issue %d times, want 1: the retry resends the same card", n)
	}
}

func TestFaultSlackRateLimitsCardUpdate(t *testing.T) {
	e := triageStart(t)
	e.link(triageAlice)
	api := slack.New(testBotToken, slack.OptionAPIURL(e.slack.APIURL()),
		slack.OptionHTTPClient(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}))
	is, _ := e.sentry.Issue("4321")
	_, ts, err := api.PostMessageContext(e.ctx(), triageChannel, slack.MsgOptionAttachments(blocks.IssueAttachment(is, blocks.CardOptions{})))
	if err != nil {
		t.Fatalf("posting the card as the bot: %v", err)
	}
	card := triageCard{issueID: "4321", channel: triageChannel, ts: ts}
	e.slack.FailMethod("chat.update", http.StatusTooManyRequests, time.Second, 1)
	m := e.mark()

	hook := e.click(triageClick{user: triageAlice, card: card, actionID: blocks.ActionResolve, inMsg: true, actionTS: "1732830100.000001"})
	if l := e.waitUnits("action", "", 1)[0]; l.Message != "unit of work done" {
		t.Errorf("the click ended with %q, want done", l.Message)
	}

	ups := e.slack.Calls("chat.update")
	if len(ups) != 2 {
		t.Fatalf("chat.update called %d times, want the rate-limited try and one retry", len(ups))
	}
	if ups[0].Status != http.StatusTooManyRequests || ups[1].Error != "" || ups[1].Form.Get("ts") != ts {
		t.Fatalf("chat.update answered %d then %q at ts %q, want 429 then ok at %s", ups[0].Status, ups[1].Error, ups[1].Form.Get("ts"), ts)
	}
	var atts []slack.Attachment
	if err := json.Unmarshal([]byte(ups[1].Arg("attachments")), &atts); err != nil || len(atts) != 1 {
		t.Fatalf("chat.update attachments %q: %v", ups[1].Arg("attachments"), err)
	}
	if f := triageFooter(atts[0]); f != "Resolved by <@U0ALICE>" {
		t.Errorf("footer = %q", f)
	}
	// The change reached Sentry once: Slack's retry resent the card, not
	// the click.
	e.onePut(m, "4321", `{"status":"resolved"}`)
	if is, _ := e.sentry.Issue("4321"); is.Status != sentry.StatusResolved {
		t.Errorf("Sentry's issue is %s", is.Status)
	}
	e.noReply(hook)
	if es := e.audit(triageAlice); len(es) != 1 || es[0].Outcome != "ok" {
		t.Errorf("audit = %+v, want one ok entry", es)
	}
}

func TestFaultSlackServerErrorOnUnfurl(t *testing.T) {
	s := newE2E(t, nil)
	s.start()
	s.slack.FailMethod("chat.unfurl", http.StatusInternalServerError, 0, 1)

	envID, key, env := faultLink("C0BACKEND", "1732830000.000011", "https://acme.sentry.io/issues/4321/")
	s.send(env, envID)
	l := s.waitUnits("link_shared", key, 1)[0]
	if l.Message != "unit of work failed" || l.Level != "error" {
		t.Errorf("the unfurl ended with %s %q, want an error logged", l.Level, l.Message)
	}
	if calls := s.slack.Calls("chat.unfurl"); len(calls) != 1 || calls[0].Status != http.StatusInternalServerError {
		t.Fatalf("chat.unfurl calls %+v, want the one that failed and no retry", calls)
	}

	// The bot keeps serving: the next link unfurls.
	next := "https://acme.sentry.io/issues/4322/"
	envID, key, env = faultLink("C0BACKEND", "1732830000.000012", next)
	s.send(env, envID)
	s.waitUnits("link_shared", key, 1)
	calls := s.slack.Calls("chat.unfurl")
	if len(calls) != 2 || calls[1].Error != "" {
		t.Fatalf("chat.unfurl calls = %d, want the failed one and the next link's", len(calls))
	}
	if u, err := calls[1].Unfurls(); err != nil || len(u) != 1 || u[next].Fallback == "" {
		t.Fatalf("the next link unfurled %v (%v)", keys(u), err)
	}
	if n := s.issueGets("4321"); n != 1 {
		t.Errorf("Sentry asked for the first issue %d times, want 1: no retry storm", n)
	}
	if n := len(s.sentry.Requests()); n != 2 {
		t.Errorf("Sentry got %d requests, want one per link", n)
	}
}

func TestFaultSentryRateLimitsClick(t *testing.T) {
	e := triageStart(t)
	e.link(triageAlice)
	card := e.share("4321")
	before, m := e.unfurlCount(), e.mark()
	e.sentry.Fail("4321", http.StatusTooManyRequests, 1)

	hook := e.click(triageClick{user: triageAlice, card: card, actionID: blocks.ActionResolve})
	triageContains(t, "answer", e.private(hook), "Sentry is rate limiting sentrybot", "Nothing was changed")
	e.waitUnits("action", "", 1)

	e.noPut(m, "Sentry rate-limited the read before the change")
	if n := e.issueRequests(m, "4321"); n != 1 {
		t.Errorf("Sentry got %d requests about the issue, want the one it rate-limited", n)
	}
	if is, _ := e.sentry.Issue("4321"); is.Status != sentry.StatusUnresolved {
		t.Errorf("Sentry's issue is %s", is.Status)
	}
	if n := e.unfurlCount(); n != before {
		t.Errorf("the card changed (%d chat.unfurl) although nothing was", n-before)
	}
	if n := len(e.slack.Calls("chat.update")); n != 0 {
		t.Errorf("chat.update called %d times", n)
	}
	e.checkAudit(e.lastAudit(triageAlice), triageAuditWant{user: triageAlice, member: triageAliceMember, action: "resolve",
		issue: "4321", decision: "allow", reason: "allowed_responder", outcome: "error: rate limited (429)", detail: "status=resolved"})
}

func TestFaultSentryServerErrorBurst(t *testing.T) {
	e := triageStart(t)
	e.link(triageAlice)
	// A first change while Sentry is well: Alice's membership is now known,
	// so the clicks below reach the change itself.
	warm := e.share("4322")
	e.click(triageClick{user: triageAlice, card: warm, actionID: blocks.ActionResolve, actionTS: "1732830300.000000"})
	e.cardUpdate(warm, 2)
	e.waitUnits("action", "", 1)
	card := e.share("4321")
	for _, id := range []string{"5001", "5002", "5003", "5004", "5005", "5006"} {
		e.addIssue(id, "backend", nil)
	}
	before, m := e.unfurlCount(), e.mark()
	e.sentry.Fail("/api/0/", http.StatusInternalServerError, -1)

	// Five links in a row, each to an issue not yet in memory: each costs
	// Sentry one failed call and unfurls nothing.
	for i, id := range []string{"5001", "5002", "5003", "5004", "5005"} {
		envID, key, env := faultLink(triageChannel, "1732830200.00000"+string(rune('1'+i)), "https://acme.sentry.io/issues/"+id+"/")
		e.send(env, envID)
		e.waitUnits("link_shared", key, 1)
	}
	sent := len(e.sentry.Requests()) - m
	if sent != 5 {
		t.Fatalf("Sentry got %d requests for five links, want 5", sent)
	}

	// Now Sentry is known to be failing: clicks are answered without
	// asking it, and so is another link.
	for i := range 4 {
		hook := e.click(triageClick{user: triageAlice, card: card, actionID: blocks.ActionResolve, actionTS: "1732830300.00000" + string(rune('1'+i))})
		triageContains(t, "answer", e.private(hook), "Couldn't reach Sentry", "nothing was changed", "card is as it was")
	}
	envID, key, env := faultLink(triageChannel, "1732830200.000009", "https://acme.sentry.io/issues/5006/")
	e.send(env, envID)
	e.waitUnits("link_shared", key, 1)
	e.waitUnits("action", "", 1+4)

	if got := len(e.sentry.Requests()) - m; got > 5+1 {
		t.Errorf("Sentry got %d requests for ten links and clicks, want at most the threshold (5) and one probe", got)
	}
	if got := len(e.sentry.Requests()) - m; got != sent {
		t.Errorf("Sentry got %d more requests after it failed five in a row", got-sent)
	}
	e.noPut(m, "Sentry was failing")
	if n := e.unfurlCount(); n != before {
		t.Errorf("chat.unfurl called %d times while Sentry failed: a broken or changed card", n-before)
	}
	if n := len(e.slack.Calls("chat.update")); n != 0 {
		t.Errorf("chat.update called %d times", n)
	}
	es := e.audit(triageAlice)
	if len(es) != 1+4 || es[0].Outcome != "ok" {
		t.Fatalf("audit = %+v, want the first change and 4 clicks", es)
	}
	for _, a := range es[1:] {
		if a.Decision != "allow" || a.Outcome != "error: unreachable" {
			t.Errorf("audit entry %+v, want allowed and failed as unreachable", a)
		}
	}
	// Unfurls that found Sentry failing say so in the log.
	if n := strings.Count(e.logs.String(), "issue left out of the unfurl"); n != 6 {
		t.Errorf("%d unfurls logged as left out, want 6", n)
	}
	// And each sharer is told privately, at once.
	if n := len(e.slack.Calls("chat.postEphemeral")); n != 6 {
		t.Errorf("%d private notices for six cardless links, want 6", n)
	}
}

func TestFaultSentrySlowerThanSlackDeadline(t *testing.T) {
	const latency = 4 * time.Second // beyond Slack's 3 s for an ack
	s := newE2E(t, nil)
	s.start()
	s.sentry.SetLatency(latency)

	url := "https://acme.sentry.io/issues/4321/"
	envID, key, env := faultLink("C0BACKEND", "1732830400.000001", url)
	ack := s.send(env, envID)
	if len(s.slack.Calls("chat.unfurl")) != 0 {
		t.Fatal("the card was posted before the ack")
	}
	call := s.unfurls(1)[0]
	s.waitUnits("link_shared", key, 1)

	reqs := s.sentry.Requests()
	if len(reqs) != 1 {
		t.Fatalf("Sentry got %d requests, want 1", len(reqs))
	}
	// The fake holds each answer for the latency, so this is the earliest
	// the answer could have left Sentry.
	if answered := reqs[0].Time.Add(latency); !ack.At.Before(answered) {
		t.Errorf("ack at %v, not before Sentry could answer (%v): the ack waited for Sentry", ack.At, answered)
	}
	if !call.At.After(ack.At) {
		t.Errorf("chat.unfurl (%v) came before the ack (%v)", call.At, ack.At)
	}
	u, err := call.Unfurls()
	if err != nil {
		t.Fatal(err)
	}
	att, ok := u[url]
	if !ok {
		t.Fatalf("unfurled %v", keys(u))
	}
	triageContains(t, "card", blocks.PlainText(att.Blocks.BlockSet), "TypeError: cannot read 'total'", "BACKEND-1A2")
}
