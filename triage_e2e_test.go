package main

// End-to-end tests of triage from Slack: the buttons and menus of an issue
// card. Each runs the real program against the Slack and Sentry fakes and
// checks what the clicking user and the channel saw (response_url posts,
// chat.unfurl and chat.update calls), what Sentry received, and what the
// audit log kept.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"sentrybot/blocks"
	"sentrybot/internal/sentryfake"
	"sentrybot/internal/slackfake"
	"sentrybot/sentry"
	"sentrybot/store"
)

const (
	triageTeam    = "T0001"
	triageChannel = "C0BACKEND"
	triageAdmin   = "U0ADMIN" // listed in SENTRYBOT_ADMINS

	// Slack users. Alice, Bob and Dan are Sentry members with the org role
	// "member" (responders once linked); Vera has "billing" (a viewer);
	// Carol is in Slack only.
	triageAlice = "U0ALICE"
	triageBob   = "U0BOB"
	triageVera  = "U0VERA"
	triageDan   = "U0DAN"
	triageCarol = "U0CAROL"

	// Sentry member ids differ from user ids, as in Sentry.
	triageAliceMember = "201"
	triageAliceUser   = "2001"
	triageBobUser     = "2002"
	triageVeraMember  = "203"
	triageDanMember   = "204"
	triageTeamID      = "31" // #payments
)

// triageEnv is a running sentrybot with the people above, none linked yet.
type triageEnv struct {
	*e2e
	t  *testing.T
	db *store.DB // a second handle on the bot's database, for the audit log
	n  int       // message timestamps handed out
}

func triageStart(t *testing.T) *triageEnv {
	t.Helper()
	s := newE2E(t, map[string]string{"SENTRYBOT_ADMINS": triageAdmin})
	for _, u := range []struct{ id, email string }{
		{triageAlice, "alice@acme.test"}, {triageBob, "bob@acme.test"}, {triageVera, "vera@acme.test"},
		{triageDan, "dan@acme.test"}, {triageCarol, "carol@acme.test"}, {triageAdmin, "admin@acme.test"},
	} {
		s.slack.AddUser(slack.User{ID: u.id, TeamID: triageTeam, Name: strings.ToLower(strings.TrimPrefix(u.id, "U0")),
			Profile: slack.UserProfile{Email: u.email}, IsEmailConfirmed: true})
	}
	s.sentry.AddMember(sentryfake.NewMember(triageAliceMember, triageAliceUser, "alice@acme.test", "Alice", "member"))
	s.sentry.AddMember(sentryfake.NewMember("202", triageBobUser, "bob@acme.test", "Bob", "member"))
	s.sentry.AddMember(sentryfake.NewMember(triageVeraMember, "2003", "vera@acme.test", "Vera", "billing"))
	s.sentry.AddMember(sentryfake.NewMember(triageDanMember, "2004", "dan@acme.test", "Dan", "member"))
	s.sentry.AddTeam(sentry.Team{ID: triageTeamID, Slug: "payments", Name: "Payments"})
	s.start()
	db := s.openStore()
	e := &triageEnv{e2e: s, t: t, db: db}
	// Every answer to a click has a response_url to go to.
	t.Cleanup(func() {
		for _, m := range []string{"chat.postEphemeral", "chat.postMessage"} {
			for _, c := range s.slack.Calls(m) {
				if m == "chat.postMessage" && c.Token == "bot" && c.Form.Get("channel") == triageChannel && c.Form.Get("text") == "" && c.Arg("attachments") != "" {
					continue // the card a test posted as the bot
				}
				if m == "chat.postEphemeral" && strings.HasPrefix(c.Form.Get("text"), "Couldn't reach Sentry for issue ") {
					continue // a shared link's card failed; tests that fail Sentry count these
				}
				t.Errorf("unexpected %s: %v %s", m, c.Form, c.JSON)
			}
		}
	})
	return e
}

// waitCalls waits until the calls of method satisfy cond and returns them.
func (e *triageEnv) waitCalls(method string, cond func([]slackfake.Call) bool) []slackfake.Call {
	e.t.Helper()
	ctx := e.ctx()
	for k := 1; ; {
		calls, err := e.slack.WaitCalls(ctx, method, k)
		if err != nil {
			e.t.Fatalf("waiting for %s calls: %v\nlogs:\n%s", method, err, e.logs)
		}
		if cond(calls) {
			return calls
		}
		k = len(calls) + 1
	}
}

// link runs /sentry link as user and checks it worked.
func (e *triageEnv) link(user string) {
	e.t.Helper()
	hook := e.slack.ResponseURL("commands")
	id, env := slackfake.SlashCommandEnvelope(slackfake.SlashCommand{
		TeamID: triageTeam, ChannelID: triageChannel, UserID: user, Text: "link", ResponseURL: hook,
	})
	e.send(env, id)
	if got := e.reply(hook).Text; !strings.HasPrefix(got, "Linked:") {
		e.t.Fatalf("%s could not link: %q", user, got)
	}
}

// reply waits for the first post to hook and decodes it.
func (e *triageEnv) reply(hook string) slack.WebhookMessage {
	e.t.Helper()
	var first *slackfake.Call
	e.waitCalls("response_url", func(cs []slackfake.Call) bool {
		for i := range cs {
			if cs[i].Hook == hook {
				first = &cs[i]
				return true
			}
		}
		return false
	})
	var m slack.WebhookMessage
	if err := json.Unmarshal(first.JSON, &m); err != nil {
		e.t.Fatalf("decoding a response_url post: %v\n%s", err, first.JSON)
	}
	return m
}

// private waits for the answer to a click and checks only the clicker sees
// it: ephemeral, not replacing the card.
func (e *triageEnv) private(hook string) string {
	e.t.Helper()
	m := e.reply(hook)
	if m.ResponseType != slack.ResponseTypeEphemeral || m.ReplaceOriginal || len(m.Attachments) != 0 || m.Blocks != nil {
		e.t.Errorf("answer %+v: want a plain ephemeral text that leaves the card alone", m)
	}
	return m.Text
}

// noReply checks hook received nothing.
func (e *triageEnv) noReply(hook string) {
	e.t.Helper()
	for _, c := range e.slack.Calls("response_url") {
		if c.Hook == hook {
			e.t.Errorf("a response_url post where none was due: %s", c.JSON)
		}
	}
}

// triageCard is an issue card unfurled in a channel message.
type triageCard struct{ issueID, url, channel, ts string }

// share pastes the issue's link in a new message and waits for its card.
func (e *triageEnv) share(issueID string) triageCard {
	e.t.Helper()
	e.n++
	c := triageCard{issueID: issueID, url: "https://acme.sentry.io/issues/" + issueID + "/",
		channel: triageChannel, ts: fmt.Sprintf("1732820000.%06d", e.n)}
	before := len(e.slack.Calls("chat.unfurl"))
	id, env := linkShared(c.channel, c.ts, c.url)
	e.send(env, id)
	call := e.unfurls(before + 1)[before]
	if call.Error != "" || call.Form.Get("ts") != c.ts {
		e.t.Fatalf("card for %s: chat.unfurl ts=%q error=%q", issueID, call.Form.Get("ts"), call.Error)
	}
	return c
}

// triageClick is one click on a card's button or one menu choice.
type triageClick struct {
	user     string
	card     triageCard
	actionID string
	option   string // the menu's chosen value; "" for a button
	actionTS string // "" for a fresh click
	inMsg    bool   // the card is a message the bot posted, not an unfurl
}

func (c triageClick) action(hook string) slackfake.BlockAction {
	a := slackfake.BlockAction{
		TeamID: triageTeam, UserID: c.user, ChannelID: c.card.channel, MessageTS: c.card.ts,
		InUnfurl: !c.inMsg, UnfurlURL: c.card.url,
		ActionID: c.actionID, BlockID: blocks.BlockActions + c.card.issueID,
		ResponseURL: hook, ActionTS: c.actionTS,
	}
	if c.inMsg {
		a.UnfurlURL = ""
	}
	switch {
	case c.option == "":
		a.Value = c.card.issueID
	case c.actionID == blocks.ActionAssign:
		a.SelectedOption = c.option // external_select
	default:
		a.SelectedOption, a.ActionType = c.option, "static_select"
	}
	return a
}

// click delivers the click and returns the response_url it carried.
func (e *triageEnv) click(c triageClick) string {
	e.t.Helper()
	hook := e.slack.ResponseURL("actions")
	id, env := slackfake.BlockActionsEnvelope(c.action(hook))
	if ack := e.send(env, id); len(ack.Payload) != 0 {
		e.t.Errorf("the ack of a click carried %s", ack.Payload)
	}
	return hook
}

// cardUpdate waits for the nth chat.unfurl (1-based) and checks it replaces
// the card of c. A post to one of hooks first means the click was answered
// instead of changing the card: that fails at once, with the answer.
func (e *triageEnv) cardUpdate(c triageCard, n int, hooks ...string) slack.Attachment {
	e.t.Helper()
	var call, answer slackfake.Call
	e.waitCalls("", func(cs []slackfake.Call) bool {
		k := 0
		for _, x := range cs {
			switch {
			case x.Method == "chat.unfurl":
				if k++; k == n {
					call = x
					return true
				}
			case x.Method == "response_url" && slices.Contains(hooks, x.Hook):
				answer = x
				return true
			}
		}
		return false
	})
	if answer.Method != "" {
		e.t.Fatalf("the click was answered instead of changing the card: %s", answer.JSON)
	}
	if call.Error != "" || call.Form.Get("channel") != c.channel || call.Form.Get("ts") != c.ts {
		e.t.Fatalf("chat.unfurl channel=%q ts=%q error=%q, want %s %s", call.Form.Get("channel"), call.Form.Get("ts"), call.Error, c.channel, c.ts)
	}
	u, err := call.Unfurls()
	if err != nil {
		e.t.Fatal(err)
	}
	att, ok := u[c.url]
	if !ok || len(u) != 1 {
		e.t.Fatalf("chat.unfurl for %v, want only %s", keys(u), c.url)
	}
	return att
}

func (e *triageEnv) unfurlCount() int { return len(e.slack.Calls("chat.unfurl")) }

// mark is the number of Sentry requests so far; puts returns the PUTs after it.
func (e *triageEnv) mark() int { return len(e.sentry.Requests()) }

func (e *triageEnv) puts(since int) []sentryfake.Request {
	var out []sentryfake.Request
	for _, r := range e.sentry.Requests()[since:] {
		if r.Method == http.MethodPut {
			out = append(out, r)
		}
	}
	return out
}

// onePut checks Sentry received exactly one PUT since the mark: on the
// issue, with the body want (JSON, compared as values).
func (e *triageEnv) onePut(since int, issueID, want string) {
	e.t.Helper()
	puts := e.puts(since)
	if len(puts) != 1 {
		e.t.Fatalf("Sentry got %d PUTs, want 1: %s", len(puts), triageDescribe(puts))
	}
	if p := "/api/0/organizations/acme/issues/" + issueID + "/"; puts[0].Path != p {
		e.t.Errorf("PUT %s, want %s", puts[0].Path, p)
	}
	triageSameJSON(e.t, "PUT body", puts[0].Body, want)
}

func (e *triageEnv) noPut(since int, why string) {
	e.t.Helper()
	if puts := e.puts(since); len(puts) != 0 {
		e.t.Errorf("%s, yet Sentry got %s", why, triageDescribe(puts))
	}
}

func triageDescribe(reqs []sentryfake.Request) string {
	var parts []string
	for _, r := range reqs {
		parts = append(parts, fmt.Sprintf("%s %s %s", r.Method, r.Path, r.Body))
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

func triageSameJSON(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s %q: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation %q: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

// audit returns the user's audit entries, oldest first.
func (e *triageEnv) audit(user string) []store.AuditEntry {
	e.t.Helper()
	es, err := e.db.Audit(e.ctx(), store.AuditFilter{UserID: user})
	if err != nil {
		e.t.Fatalf("reading the audit log: %v", err)
	}
	return es
}

func (e *triageEnv) lastAudit(user string) store.AuditEntry {
	e.t.Helper()
	es := e.audit(user)
	if len(es) == 0 {
		e.t.Fatalf("no audit entry for %s", user)
	}
	return es[len(es)-1]
}

// triageAuditWant is what an audit entry should say; outcome is a prefix,
// and "" demands an empty outcome.
type triageAuditWant struct {
	user, member, action, issue, decision, reason, outcome, detail string
}

func (e *triageEnv) checkAudit(got store.AuditEntry, w triageAuditWant) {
	e.t.Helper()
	if got.TeamID != triageTeam || got.ChannelID != triageChannel || got.UserID != w.user || got.SentryMemberID != w.member ||
		got.Action != w.action || got.IssueID != w.issue || got.Decision != w.decision || got.Reason != w.reason ||
		!strings.HasPrefix(got.Outcome, w.outcome) || (w.outcome == "" && got.Outcome != "") || got.Detail != w.detail {
		e.t.Errorf("audit entry %+v\nwant %+v (team %s, channel %s)", got, w, triageTeam, triageChannel)
	}
}

// triageFooter is the mrkdwn of a card's footer line, "" when it has none.
func triageFooter(att slack.Attachment) string {
	for _, b := range att.Blocks.BlockSet {
		cb, ok := b.(*slack.ContextBlock)
		if !ok || !strings.HasPrefix(cb.BlockID, blocks.BlockFooter) {
			continue
		}
		var parts []string
		for _, el := range cb.ContextElements.Elements {
			if t, ok := el.(*slack.TextBlockObject); ok {
				parts = append(parts, t.Text)
			}
		}
		return strings.Join(parts, " ")
	}
	return ""
}

// triageLine is the first line of a card's plain text that starts with prefix.
func triageLine(att slack.Attachment, prefix string) string {
	for _, l := range strings.Split(blocks.PlainText(att.Blocks.BlockSet), "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// triageButtons is the card's line of controls ("[Resolve] [Resolve in… ▾] …"), "" without one.
func triageButtons(att slack.Attachment) string {
	for _, b := range att.Blocks.BlockSet {
		if ab, ok := b.(*slack.ActionBlock); ok {
			return blocks.PlainText([]slack.Block{ab})
		}
	}
	return ""
}

func triageContains(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

// addIssue adds an unresolved issue with the given id in project proj.
func (e *triageEnv) addIssue(id, proj string, change func(*sentry.Issue)) {
	is := sentryfake.NewIssue(id, strings.ToUpper(proj)+"-"+id, "ValueError: bad input "+id)
	if change != nil {
		change(&is)
	}
	e.sentry.AddIssue(is)
}

func triageSub(s string) *string { return &s }

func TestTriageResolveFromUnfurl(t *testing.T) {
	e := triageStart(t)
	e.link(triageAlice)
	card := e.share("4321")
	m := e.mark()
	hook := e.click(triageClick{user: triageAlice, card: card, actionID: blocks.ActionResolve})
	att := e.cardUpdate(card, 2, hook)

	e.onePut(m, "4321", `{"status":"resolved"}`)
	if is, _ := e.sentry.Issue("4321"); is.Status != sentry.StatusResolved {
		t.Errorf("Sentry's issue is %s, want resolved", is.Status)
	}
	if f := triageFooter(att); f != "Resolved by <@U0ALICE>" {
		t.Errorf("footer = %q, want Resolved by <@U0ALICE>", f)
	}
	text := blocks.PlainText(att.Blocks.BlockSet)
	triageContains(t, "updated card", text, "Resolved by @U0ALICE", "Status: Resolved", "[Unresolve]", "TypeError: cannot read 'total'")
	if strings.Contains(text, "[Resolve]") {
		t.Errorf("the resolved card still offers Resolve:\n%s", text)
	}
	e.checkAudit(e.lastAudit(triageAlice), triageAuditWant{user: triageAlice, member: triageAliceMember, action: "resolve",
		issue: "4321", decision: "allow", reason: "allowed_responder", outcome: "ok", detail: "status=resolved"})
	if o := e.lastAudit(triageAlice).Outcome; o != "ok" {
		t.Errorf("outcome %q, want exactly ok", o)
	}
	e.noReply(hook)
	if n := len(e.slack.Calls("chat.update")); n != 0 {
		t.Errorf("chat.update called %d times for a card in an unfurl", n)
	}
}

func TestTriageResolveInRelease(t *testing.T) {
	e := triageStart(t)
	e.link(triageAlice)
	e.sentry.AddRelease("backend", "backend@2.4.0")
	e.addIssue("5101", "backend", nil)
	e.addIssue("5102", "backend", nil)
	e.addIssue("5201", "frontend", nil) // a project with no releases
	e.addIssue("5202", "frontend", nil)

	for _, tc := range []struct {
		name, issue, option, body, footer, detail string
		ok                                        bool
	}{
		{"next release", "5101", blocks.ResolveInNextRelease, `{"status":"resolved","statusDetails":{"inNextRelease":true}}`,
			"Resolved in the next release by <@U0ALICE>", "status=resolved inNextRelease", true},
		{"current release", "5102", blocks.ResolveInCurrentRelease, `{"status":"resolved","statusDetails":{"inRelease":"latest"}}`,
			"Resolved in the current release by <@U0ALICE>", "status=resolved inRelease=latest", true},
		{"next release without releases", "5201", blocks.ResolveInNextRelease, `{"status":"resolved","statusDetails":{"inNextRelease":true}}`,
			"", "status=resolved inNextRelease", false},
		{"current release without releases", "5202", blocks.ResolveInCurrentRelease, `{"status":"resolved","statusDetails":{"inRelease":"latest"}}`,
			"", "status=resolved inRelease=latest", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := e.share(tc.issue)
			before, m := e.unfurlCount(), e.mark()
			hook := e.click(triageClick{user: triageAlice, card: card, actionID: blocks.ActionResolveIn, option: tc.option})
			want := triageAuditWant{user: triageAlice, member: triageAliceMember, action: "resolve", issue: tc.issue,
				decision: "allow", reason: "allowed_responder", outcome: "ok", detail: tc.detail}
			is, _ := e.sentry.Issue(tc.issue)
			if tc.ok {
				att := e.cardUpdate(card, before+1, hook)
				e.onePut(m, tc.issue, tc.body)
				if is, _ = e.sentry.Issue(tc.issue); is.Status != sentry.StatusResolved {
					t.Errorf("Sentry's issue is %s, want resolved", is.Status)
				}
				if f := triageFooter(att); f != tc.footer {
					t.Errorf("footer = %q, want %q", f, tc.footer)
				}
				triageContains(t, "card", triageButtons(att), "[Unresolve]")
				e.noReply(hook)
			} else {
				text := e.private(hook)
				triageContains(t, "answer", text, "no releases")
				// Sentry refused the one PUT sent; the issue is as it was.
				e.onePut(m, tc.issue, tc.body)
				if is.Status != sentry.StatusUnresolved {
					t.Errorf("Sentry's issue is %s, want it still unresolved", is.Status)
				}
				if n := e.unfurlCount(); n != before {
					t.Errorf("the card changed (%d chat.unfurl) although nothing was", n-before)
				}
				want.outcome = "error: "
			}
			e.checkAudit(e.lastAudit(triageAlice), want)
		})
	}
}

func TestTriageUnresolveAndUnarchive(t *testing.T) {
	e := triageStart(t)
	e.link(triageAlice)
	e.addIssue("5301", "backend", func(is *sentry.Issue) {
		is.Status, is.Substatus, is.StatusDetails = sentry.StatusResolved, nil, json.RawMessage(`{}`)
	})
	e.addIssue("5302", "backend", func(is *sentry.Issue) {
		is.Status, is.Substatus = sentry.StatusIgnored, triageSub(sentry.SubstatusArchivedForever)
	})
	for _, tc := range []struct {
		name, issue, actionID, footer, action, wasButton string
	}{
		{"unresolve", "5301", blocks.ActionUnresolve, "Reopened by <@U0ALICE>", "unresolve", "[Unresolve]"},
		{"unarchive", "5302", blocks.ActionUnarchive, "Unarchived by <@U0ALICE>", "unarchive", "[Unarchive]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := e.share(tc.issue)
			shown := e.cardUpdate(card, e.unfurlCount())
			triageContains(t, "card before the click", triageButtons(shown), tc.wasButton)
			before, m := e.unfurlCount(), e.mark()
			hook := e.click(triageClick{user: triageAlice, card: card, actionID: tc.actionID})
			att := e.cardUpdate(card, before+1, hook)
			e.onePut(m, tc.issue, `{"status":"unresolved"}`)
			if is, _ := e.sentry.Issue(tc.issue); is.Status != sentry.StatusUnresolved {
				t.Errorf("Sentry's issue is %s, want unresolved", is.Status)
			}
			if f := triageFooter(att); f != tc.footer {
				t.Errorf("footer = %q, want %q", f, tc.footer)
			}
			triageContains(t, "card", triageButtons(att), "[Resolve]", "[Archive… ▾]")
			e.noReply(hook)
			e.checkAudit(e.lastAudit(triageAlice), triageAuditWant{user: triageAlice, member: triageAliceMember, action: tc.action,
				issue: tc.issue, decision: "allow", reason: "allowed_responder", outcome: "ok", detail: "status=unresolved"})
		})
	}
}

func TestTriageArchiveMenu(t *testing.T) {
	e := triageStart(t)
	e.link(triageAlice)
	for i, tc := range []struct {
		value, body, footer, substatus, detail string
	}{
		{blocks.ArchiveUntilEscalating, `{"status":"ignored","substatus":"archived_until_escalating"}`,
			"Archived until escalating", sentry.SubstatusArchivedUntilEscalating, "status=ignored substatus=archived_until_escalating"},
		{blocks.ArchiveForever, `{"status":"ignored","substatus":"archived_forever"}`,
			"Archived forever", sentry.SubstatusArchivedForever, "status=ignored substatus=archived_forever"},
		{blocks.ArchiveFor1Hour, `{"status":"ignored","substatus":"archived_until_condition_met","statusDetails":{"ignoreDuration":60}}`,
			"Archived for 1 hour", sentry.SubstatusArchivedUntilConditionMet, "status=ignored ignoreDuration=60"},
		{blocks.ArchiveFor1Day, `{"status":"ignored","substatus":"archived_until_condition_met","statusDetails":{"ignoreDuration":1440}}`,
			"Archived for 1 day", sentry.SubstatusArchivedUntilConditionMet, "status=ignored ignoreDuration=1440"},
		{blocks.ArchiveFor1Week, `{"status":"ignored","substatus":"archived_until_condition_met","statusDetails":{"ignoreDuration":10080}}`,
			"Archived for 1 week", sentry.SubstatusArchivedUntilConditionMet, "status=ignored ignoreDuration=10080"},
		{blocks.ArchiveUntil10, `{"status":"ignored","substatus":"archived_until_condition_met","statusDetails":{"ignoreCount":10}}`,
			"Archived until 10 more events", sentry.SubstatusArchivedUntilConditionMet, "status=ignored ignoreCount=10"},
		{blocks.ArchiveUntil100, `{"status":"ignored","substatus":"archived_until_condition_met","statusDetails":{"ignoreCount":100}}`,
			"Archived until 100 more events", sentry.SubstatusArchivedUntilConditionMet, "status=ignored ignoreCount=100"},
		{blocks.ArchiveUntil1000, `{"status":"ignored","substatus":"archived_until_condition_met","statusDetails":{"ignoreCount":1000}}`,
			"Archived until 1000 more events", sentry.SubstatusArchivedUntilConditionMet, "status=ignored ignoreCount=1000"},
	} {
		t.Run(tc.value, func(t *testing.T) {
			id := fmt.Sprint(5400 + i)
			e.addIssue(id, "backend", nil)
			card := e.share(id)
			before, m := e.unfurlCount(), e.mark()
			hook := e.click(triageClick{user: triageAlice, card: card, actionID: blocks.ActionArchive, option: tc.value})
			att := e.cardUpdate(card, before+1, hook)
			e.onePut(m, id, tc.body)
			is, _ := e.sentry.Issue(id)
			if is.Status != sentry.StatusIgnored || is.Substatus == nil || *is.Substatus != tc.substatus {
				t.Errorf("Sentry's issue is %s/%v, want ignored/%s", is.Status, is.Substatus, tc.substatus)
			}
			if f := triageFooter(att); f != tc.footer+" by <@U0ALICE>" {
				t.Errorf("footer = %q, want %q", f, tc.footer+" by <@U0ALICE>")
			}
			triageContains(t, "card", triageButtons(att), "[Unarchive]")
			triageContains(t, "card", triageLine(att, "Status:"), "Archived")
			e.noReply(hook)
			e.checkAudit(e.lastAudit(triageAlice), triageAuditWant{user: triageAlice, member: triageAliceMember, action: "archive",
				issue: id, decision: "allow", reason: "allowed_responder", outcome: "ok", detail: tc.detail})
		})
	}
}

func TestTriageAssignMenu(t *testing.T) {
	e := triageStart(t)
	e.link(triageAlice)
	for i, tc := range []struct {
		name, option, body, footer, action, wantType, wantID, assignee, detail string
		preassigned                                                            bool
	}{
		{"me", blocks.AssignMe, `{"assignedTo":"user:2001"}`, "Assigned to themselves by <@U0ALICE>",
			"assign", "user", triageAliceUser, "Assignee: Alice", "assignedTo=user:2001", false},
		{"user", "user:" + triageBobUser, `{"assignedTo":"user:2002"}`, "Assigned to user:2002 by <@U0ALICE>",
			"assign", "user", triageBobUser, "Assignee: Bob", "assignedTo=user:2002", false},
		{"team", "team:" + triageTeamID, `{"assignedTo":"team:31"}`, "Assigned to team:31 by <@U0ALICE>",
			"assign", "team", triageTeamID, "Assignee: #payments", "assignedTo=team:31", false},
		{"unassign", blocks.AssignNobody, `{"assignedTo":""}`, "Unassigned by <@U0ALICE>",
			"unassign", "", "", "Assignee: Unassigned", "assignedTo=", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprint(5500 + i)
			e.addIssue(id, "backend", func(is *sentry.Issue) {
				if tc.preassigned {
					is.AssignedTo = &sentry.Assignee{Type: "user", ID: triageBobUser, Name: "Bob", Email: "bob@acme.test"}
				}
			})
			card := e.share(id)
			before, m := e.unfurlCount(), e.mark()
			hook := e.click(triageClick{user: triageAlice, card: card, actionID: blocks.ActionAssign, option: tc.option})
			att := e.cardUpdate(card, before+1, hook)
			e.onePut(m, id, tc.body)
			is, _ := e.sentry.Issue(id)
			switch {
			case tc.wantType == "" && is.AssignedTo != nil:
				t.Errorf("issue still assigned to %+v", is.AssignedTo)
			case tc.wantType != "" && (is.AssignedTo == nil || is.AssignedTo.Type != tc.wantType || is.AssignedTo.ID != tc.wantID):
				t.Errorf("issue assigned to %+v, want %s:%s", is.AssignedTo, tc.wantType, tc.wantID)
			}
			if f := triageFooter(att); f != tc.footer {
				t.Errorf("footer = %q, want %q", f, tc.footer)
			}
			if got := triageLine(att, "Assignee:"); got != tc.assignee {
				t.Errorf("card shows %q, want %q", got, tc.assignee)
			}
			e.noReply(hook)
			e.checkAudit(e.lastAudit(triageAlice), triageAuditWant{user: triageAlice, member: triageAliceMember, action: tc.action,
				issue: id, decision: "allow", reason: "allowed_responder", outcome: "ok", detail: tc.detail})
		})
	}
}

func TestTriageBotMessageUsesChatUpdate(t *testing.T) {
	e := triageStart(t)
	e.link(triageAlice)
	api := slack.New(testBotToken, slack.OptionAPIURL(e.slack.APIURL()),
		slack.OptionHTTPClient(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}))
	is, _ := e.sentry.Issue("4321")
	posted := blocks.IssueAttachment(is, blocks.CardOptions{})
	_, ts, err := api.PostMessageContext(e.ctx(), triageChannel, slack.MsgOptionAttachments(posted))
	if err != nil {
		t.Fatalf("posting the card as the bot: %v", err)
	}
	card := triageCard{issueID: "4321", channel: triageChannel, ts: ts}
	m := e.mark()
	hook := e.click(triageClick{user: triageAlice, card: card, actionID: blocks.ActionResolve, inMsg: true})
	var up slackfake.Call
	e.waitCalls("", func(cs []slackfake.Call) bool {
		for _, c := range cs {
			if c.Method == "chat.update" || (c.Method == "response_url" && c.Hook == hook) {
				up = c
				return true
			}
		}
		return false
	})
	if up.Method != "chat.update" {
		t.Fatalf("the click was answered instead of changing the card: %s", up.JSON)
	}
	if up.Error != "" || up.Form.Get("channel") != triageChannel || up.Form.Get("ts") != ts {
		t.Fatalf("chat.update channel=%q ts=%q error=%q, want %s %s", up.Form.Get("channel"), up.Form.Get("ts"), up.Error, triageChannel, ts)
	}
	var atts []slack.Attachment
	if err := json.Unmarshal([]byte(up.Arg("attachments")), &atts); err != nil || len(atts) != 1 {
		t.Fatalf("chat.update attachments %q: %v", up.Arg("attachments"), err)
	}
	if f := triageFooter(atts[0]); f != "Resolved by <@U0ALICE>" {
		t.Errorf("footer = %q", f)
	}
	triageContains(t, "updated card", blocks.PlainText(atts[0].Blocks.BlockSet), "Status: Resolved", "[Unresolve]")
	e.onePut(m, "4321", `{"status":"resolved"}`)
	if n := e.unfurlCount(); n != 0 {
		t.Errorf("chat.unfurl called %d times for the bot's own message", n)
	}
	e.noReply(hook)
	e.checkAudit(e.lastAudit(triageAlice), triageAuditWant{user: triageAlice, member: triageAliceMember, action: "resolve",
		issue: "4321", decision: "allow", reason: "allowed_responder", outcome: "ok", detail: "status=resolved"})
}

func TestTriageRefusalsReachOnlyTheClicker(t *testing.T) {
	e := triageStart(t)
	e.link(triageVera)
	e.link(triageDan)
	// Dan leaves the Sentry organization after linking; no decision about
	// him has been made yet, so nothing about him is cached.
	e.sentry.RemoveMember(triageDanMember)

	for _, tc := range []struct {
		name, user, member, reason string
		wants                      []string
	}{
		{"unlinked", triageCarol, "", "not_linked", []string{"`/sentry link`"}},
		{"viewer", triageVera, triageVeraMember, "viewer_role", []string{"*viewer*", "<@" + triageAdmin + ">"}},
		{"member gone", triageDan, triageDanMember, "member_gone", []string{"`/sentry link` again"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := e.share("4321")
			before, m := e.unfurlCount(), e.mark()
			hook := e.click(triageClick{user: tc.user, card: card, actionID: blocks.ActionResolve})
			triageContains(t, "answer", e.private(hook), tc.wants...)
			e.noPut(m, "the click was refused")
			if is, _ := e.sentry.Issue("4321"); is.Status != sentry.StatusUnresolved {
				t.Errorf("Sentry's issue is %s after a refusal", is.Status)
			}
			if n := e.unfurlCount(); n != before {
				t.Errorf("the card changed (%d chat.unfurl) on a refusal", n-before)
			}
			if n := len(e.slack.Calls("chat.update")); n != 0 {
				t.Errorf("chat.update called %d times on a refusal", n)
			}
			e.checkAudit(e.lastAudit(tc.user), triageAuditWant{user: tc.user, member: tc.member, action: "resolve",
				issue: "4321", decision: "deny", reason: tc.reason, detail: "status=resolved"})
		})
	}
}

func TestTriageSentryFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		wants  []string
		gone   bool
	}{
		{"forbidden", http.StatusForbidden, []string{"`event:write`"}, false},
		{"gone", http.StatusNotFound, []string{"no longer exists"}, true},
		{"unreachable", http.StatusInternalServerError, []string{"Couldn't reach Sentry", "card is as it was"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := triageStart(t)
			e.link(triageAlice)
			card := e.share("4321")
			// The fake fails every request about the issue, so the fresh
			// read before the change fails and no PUT is sent at all.
			e.sentry.Fail("4321", tc.status, -1)
			before, m := e.unfurlCount(), e.mark()
			hook := e.click(triageClick{user: triageAlice, card: card, actionID: blocks.ActionResolve})
			triageContains(t, "answer", e.private(hook), tc.wants...)
			e.noPut(m, "Sentry failed the read before the change")
			if got := e.issueGets("4321"); got < 2 {
				t.Errorf("Sentry was asked for the issue %d times, want the unfurl's and a fresh read", got)
			}
			if tc.gone {
				att := e.cardUpdate(card, before+1)
				if b := triageButtons(att); b != "" {
					t.Errorf("the gone card still has controls: %s", b)
				}
				triageContains(t, "gone card", blocks.PlainText(att.Blocks.BlockSet), "This issue no longer exists in Sentry", "Deleted or merged in Sentry")
			} else if n := e.unfurlCount(); n != before {
				t.Errorf("the card changed (%d chat.unfurl) although nothing was", n-before)
			}
			e.checkAudit(e.lastAudit(triageAlice), triageAuditWant{user: triageAlice, member: triageAliceMember, action: "resolve",
				issue: "4321", decision: "allow", reason: "allowed_responder", outcome: "error: ", detail: "status=resolved"})
			triageContains(t, "audit outcome", e.lastAudit(triageAlice).Outcome, fmt.Sprint(tc.status))
		})
	}
}

func TestTriageDoubleClickOnePut(t *testing.T) {
	e := triageStart(t)
	e.link(triageAlice)
	card := e.share("4321")
	// A slow Sentry makes the two clicks overlap: each would read the issue
	// unresolved if they were not applied in turn.
	e.sentry.SetLatency(50 * time.Millisecond)
	before, m := e.unfurlCount(), e.mark()
	h1 := e.click(triageClick{user: triageAlice, card: card, actionID: blocks.ActionResolve, actionTS: "1732820100.000001"})
	h2 := e.click(triageClick{user: triageAlice, card: card, actionID: blocks.ActionResolve, actionTS: "1732820100.000002"})
	// Both clicks end with the card refreshed; the later one also tells
	// the user it was already so.
	last := e.cardUpdate(card, before+2)
	if puts := e.puts(m); len(puts) != 1 {
		t.Fatalf("a double click sent %s, want one PUT", triageDescribe(puts))
	}
	replies := e.waitCalls("response_url", func(cs []slackfake.Call) bool {
		for _, c := range cs {
			if c.Hook == h1 || c.Hook == h2 {
				return true
			}
		}
		return false
	})
	var answered []string
	for _, c := range replies {
		if c.Hook == h1 || c.Hook == h2 {
			answered = append(answered, c.Hook)
		}
	}
	if len(answered) != 1 {
		t.Errorf("%d answers to two clicks, want one (already resolved)", len(answered))
	}
	triageContains(t, "answer", e.private(answered[0]), "already resolved")
	e.onePut(m, "4321", `{"status":"resolved"}`)
	triageContains(t, "last card", triageButtons(last), "[Unresolve]")
	es := e.audit(triageAlice)
	if len(es) != 2 || es[0].Outcome != "ok" || es[1].Outcome != "ok: already so, nothing sent" {
		t.Errorf("audit = %+v, want ok then already so", es)
	}
}

func TestTriageTwoUsersAtOnce(t *testing.T) {
	e := triageStart(t)
	e.link(triageAlice)
	e.link(triageBob)
	card := e.share("4321")
	e.sentry.SetLatency(50 * time.Millisecond) // the two changes overlap
	before, m := e.unfurlCount(), e.mark()
	ha := e.click(triageClick{user: triageAlice, card: card, actionID: blocks.ActionResolve})
	hb := e.click(triageClick{user: triageBob, card: card, actionID: blocks.ActionArchive, option: blocks.ArchiveForever})
	last := e.cardUpdate(card, before+2, ha, hb)
	e.noReply(ha)
	e.noReply(hb)

	puts := e.puts(m)
	if len(puts) != 2 {
		t.Fatalf("Sentry got %s, want the resolve and the archive", triageDescribe(puts))
	}
	final, _ := e.sentry.Issue("4321")
	want := blocks.IssueAttachment(final, blocks.CardOptions{})
	if got, w := triageLine(last, "Status:"), triageLine(want, "Status:"); got != w || w == "" {
		t.Errorf("last card says %q, Sentry's issue %q", got, w)
	}
	if got, w := triageButtons(last), triageButtons(want); got != w {
		t.Errorf("last card offers %q, Sentry's state %q", got, w)
	}
	// The last card names the change Sentry received last.
	var lastPut map[string]any
	_ = json.Unmarshal(puts[1].Body, &lastPut)
	wantFooter := "Resolved by <@U0ALICE>"
	if lastPut["status"] == sentry.StatusIgnored {
		wantFooter = "Archived forever by <@U0BOB>"
	}
	if f := triageFooter(last); f != wantFooter {
		t.Errorf("last card's footer %q, want %q (last PUT %s)", f, wantFooter, puts[1].Body)
	}
}

func TestTriageRedeliveredClickOnePut(t *testing.T) {
	e := triageStart(t)
	e.link(triageAlice)
	card := e.share("4321")
	before, m := e.unfurlCount(), e.mark()
	hook := e.slack.ResponseURL("actions")
	a := triageClick{user: triageAlice, card: card, actionID: blocks.ActionResolve, actionTS: "1732820200.000001"}.action(hook)
	id1, env1 := slackfake.BlockActionsEnvelope(a)
	id2, env2 := slackfake.BlockActionsEnvelope(a)
	if id1 == id2 {
		t.Fatal("the redelivery has the same envelope id")
	}
	e.send(env1, id1)
	e.send(env2, id2)
	e.cardUpdate(card, before+1, hook)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(e.logs.String(), "redelivered envelope already handled; skipped") {
		if time.Now().After(deadline) {
			t.Fatalf("the redelivery was not skipped\nlogs:\n%s", e.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.onePut(m, "4321", `{"status":"resolved"}`)
	if n := e.unfurlCount(); n != before+1 {
		t.Errorf("chat.unfurl called %d times after the click, want 1", n-before)
	}
	if es := e.audit(triageAlice); len(es) != 1 {
		t.Errorf("audit has %d entries for one click: %+v", len(es), es)
	}
	e.noReply(hook)
}

// suggest asks for the assign menu's options as user, having typed typed.
func (e *triageEnv) suggest(user, issueID, typed string) []slack.OptionBlockObject {
	e.t.Helper()
	id, env := slackfake.BlockSuggestionEnvelope(slackfake.BlockSuggestion{
		TeamID: triageTeam, UserID: user, ChannelID: triageChannel, InUnfurl: true,
		ActionID: blocks.ActionAssign, BlockID: blocks.BlockActions + issueID, Value: typed,
	})
	ack := e.send(env, id)
	var got struct {
		Options []slack.OptionBlockObject `json:"options"`
	}
	if err := json.Unmarshal(ack.Payload, &got); err != nil || got.Options == nil {
		e.t.Fatalf("suggestion ack payload %s: %v", ack.Payload, err)
	}
	return got.Options
}

func triageOptions(opts []slack.OptionBlockObject) []string {
	var out []string
	for _, o := range opts {
		label := ""
		if o.Text != nil {
			label = o.Text.Text
		}
		out = append(out, o.Value+"="+label)
	}
	return out
}

func TestTriageAssignSuggestions(t *testing.T) {
	e := triageStart(t)
	e.link(triageAlice)
	e.sentry.AddPendingInvite("209", "newcomer@acme.test")
	e.addIssue("5601", "backend", func(is *sentry.Issue) {
		is.AssignedTo = &sentry.Assignee{Type: "user", ID: triageBobUser, Name: "Bob", Email: "bob@acme.test"}
	})
	everyone := []string{"user:2002=Bob (bob@acme.test)", "user:2003=Vera (vera@acme.test)", "user:2004=Dan (dan@acme.test)", "team:31=#payments"}
	for _, tc := range []struct {
		name, user, issue, typed string
		want                     []string
	}{
		{"linked, nothing typed", triageAlice, "4321", "", append([]string{"me=Me (alice@acme.test)"}, everyone...)},
		{"assigned issue offers unassign", triageAlice, "5601", "", append([]string{"me=Me (alice@acme.test)", "unassign=Unassign"}, everyone...)},
		{"typed filters people", triageAlice, "4321", "BOB", []string{"user:2002=Bob (bob@acme.test)"}},
		{"typed filters teams", triageAlice, "4321", "pay", []string{"team:31=#payments"}},
		{"typed matches me", triageAlice, "4321", "alice", []string{"me=Me (alice@acme.test)"}},
		{"unlinked has no me", triageCarol, "4321", "", append([]string{"user:2001=Alice (alice@acme.test)"}, everyone...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := e.mark()
			got := triageOptions(e.suggest(tc.user, tc.issue, tc.typed))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("options = %q\nwant      %q", got, tc.want)
			}
			e.noPut(m, "asking for options")
		})
	}
}

func TestTriageEveryChangeRefusedForUnlinkedAndViewer(t *testing.T) {
	e := triageStart(t)
	e.link(triageVera)
	card := e.share("4321")
	clicks := []struct {
		actionID, option, action string
	}{
		{blocks.ActionResolve, "", "resolve"},
		{blocks.ActionResolveIn, blocks.ResolveInNextRelease, "resolve"},
		{blocks.ActionResolveIn, blocks.ResolveInCurrentRelease, "resolve"},
		{blocks.ActionUnresolve, "", "unresolve"},
		{blocks.ActionArchive, blocks.ArchiveForever, "archive"},
		{blocks.ActionArchive, blocks.ArchiveUntil100, "archive"},
		{blocks.ActionUnarchive, "", "unarchive"},
		{blocks.ActionAssign, blocks.AssignMe, "assign"},
		{blocks.ActionAssign, "user:" + triageBobUser, "assign"},
		{blocks.ActionAssign, "team:" + triageTeamID, "assign"},
		{blocks.ActionAssign, blocks.AssignNobody, "unassign"},
	}
	for _, who := range []struct {
		user, member, reason, says string
	}{
		{triageCarol, "", "not_linked", "`/sentry link`"},
		{triageVera, triageVeraMember, "viewer_role", "*viewer*"},
	} {
		for _, c := range clicks {
			t.Run(who.reason+"/"+c.actionID+"/"+c.option, func(t *testing.T) {
				before, m := e.unfurlCount(), e.mark()
				n := len(e.audit(who.user))
				hook := e.click(triageClick{user: who.user, card: card, actionID: c.actionID, option: c.option})
				triageContains(t, "answer", e.private(hook), who.says)
				e.noPut(m, "the change was refused")
				if got := e.unfurlCount(); got != before {
					t.Errorf("the card changed on a refusal")
				}
				es := e.audit(who.user)
				if len(es) != n+1 {
					t.Fatalf("%d audit entries added, want 1", len(es)-n)
				}
				got := es[len(es)-1]
				if got.Decision != "deny" || got.Reason != who.reason || got.Action != c.action || got.IssueID != "4321" ||
					got.SentryMemberID != who.member || got.Outcome != "" || got.ChannelID != triageChannel {
					t.Errorf("audit entry %+v, want deny/%s of %s", got, who.reason, c.action)
				}
			})
		}
	}
	if is, _ := e.sentry.Issue("4321"); is.Status != sentry.StatusUnresolved || is.AssignedTo != nil {
		t.Errorf("Sentry's issue changed: %s, assigned %+v", is.Status, is.AssignedTo)
	}
}
