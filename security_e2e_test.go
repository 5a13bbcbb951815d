package main

// End-to-end security tests: the whole program against the Slack and Sentry
// fakes, driven the way a hostile or careless user, a foreign workspace or a
// misbehaving Sentry could drive it. They check that no change is made
// without the authorization module's consent, that nothing outside the
// configured workspace and organization is acted on, that look-alike and
// oversized input is refused at bounded cost, that no secret reaches a log
// line or a user, and that the files sentrybot writes are private.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"sentrybot/blocks"
	"sentrybot/internal/sentryfake"
	"sentrybot/internal/slackfake"
	"sentrybot/sentry"
	"sentrybot/webhook"
)

const (
	secForeignTeam = "T0EVIL"
	secEve         = "U0EVE" // a user of the foreign workspace
	// secWebhookSecret and secSecretKey are configured secrets besides the
	// tokens; neither may appear in a log line.
	secWebhookSecret = "whsec-secretwebhookvalue-0123456789"
	secSecretKey     = "c2VjcmV0a2V5c2VjcmV0a2V5c2VjcmV0a2V5MDEyMzQ=" // base64 of 32 bytes
)

// secStart is triageStart with a hook to change the environment before
// the program starts (to put a proxy in front of Sentry, say).
func secStart(t *testing.T, tweak func(s *e2e)) *triageEnv {
	t.Helper()
	s := newE2E(t, map[string]string{"SENTRYBOT_ADMINS": triageAdmin})
	for _, u := range []struct{ id, team, email string }{
		{triageAlice, triageTeam, "alice@acme.test"}, {triageBob, triageTeam, "bob@acme.test"},
		{triageVera, triageTeam, "vera@acme.test"}, {triageDan, triageTeam, "dan@acme.test"},
		{triageCarol, triageTeam, "carol@acme.test"}, {triageAdmin, triageTeam, "admin@acme.test"},
		// Eve is in another workspace, with the address of a Sentry member.
		{secEve, secForeignTeam, "dan@acme.test"},
	} {
		s.slack.AddUser(slack.User{ID: u.id, TeamID: u.team, Name: strings.ToLower(strings.TrimPrefix(u.id, "U0")),
			Profile: slack.UserProfile{Email: u.email}, IsEmailConfirmed: true})
	}
	s.sentry.AddMember(sentryfake.NewMember(triageAliceMember, triageAliceUser, "alice@acme.test", "Alice", "member"))
	s.sentry.AddMember(sentryfake.NewMember("202", triageBobUser, "bob@acme.test", "Bob", "member"))
	s.sentry.AddMember(sentryfake.NewMember(triageVeraMember, "2003", "vera@acme.test", "Vera", "billing"))
	s.sentry.AddMember(sentryfake.NewMember(triageDanMember, "2004", "dan@acme.test", "Dan", "member"))
	s.sentry.AddTeam(sentry.Team{ID: triageTeamID, Slug: "payments", Name: "Payments"})
	if tweak != nil {
		tweak(s)
	}
	s.start()
	db := s.openStore()
	return &triageEnv{e2e: s, t: t, db: db}
}

// secCommand types /sentry text as user of team and returns the
// response_url it carried and the key of its unit of work.
func (e *triageEnv) secCommand(team, user, text string) (hook, key string) {
	e.t.Helper()
	hook = e.slack.ResponseURL("commands")
	id, env := slackfake.SlashCommandEnvelope(slackfake.SlashCommand{
		TeamID: team, ChannelID: triageChannel, UserID: user, Text: text, ResponseURL: hook,
	})
	e.send(env, id)
	return hook, "envelope:" + id
}

// secClick delivers a hand-made click (any team, block id, value or choice)
// on the card and returns its response_url and unit key.
func (e *triageEnv) secClick(a slackfake.BlockAction) (hook, key string) {
	e.t.Helper()
	hook = e.slack.ResponseURL("actions")
	a.ResponseURL = hook
	if a.TeamID == "" {
		a.TeamID = triageTeam
	}
	if a.ChannelID == "" {
		a.ChannelID = triageChannel
	}
	a.InUnfurl = a.UnfurlURL != ""
	if a.ActionTS == "" {
		a.ActionTS = fmt.Sprintf("1732830000.%06d", time.Now().UnixNano()%1_000_000)
	}
	id, env := slackfake.BlockActionsEnvelope(a)
	e.send(env, id)
	return hook, "action:" + a.TeamID + ":" + a.UserID + ":" + a.ActionID + ":" + a.ActionTS
}

// sentryWrites are the requests since mark that could change something.
func (e *triageEnv) sentryWrites(since int) []sentryfake.Request {
	var out []sentryfake.Request
	for _, r := range e.sentry.Requests()[since:] {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			out = append(out, r)
		}
	}
	return out
}

func (e *triageEnv) noSentryWrite(since int, why string) {
	e.t.Helper()
	if w := e.sentryWrites(since); len(w) != 0 {
		e.t.Errorf("%s, yet Sentry got %s", why, triageDescribe(w))
	}
}

// noSentryRequest checks nothing at all reached Sentry since mark.
func (e *triageEnv) noSentryRequest(since int, why string) {
	e.t.Helper()
	if reqs := e.sentry.Requests()[since:]; len(reqs) != 0 {
		e.t.Errorf("%s, yet Sentry got %s", why, triageDescribe(reqs))
	}
}

// everyRequestInOrg checks every request Sentry ever received addressed
// the configured organization.
func (e *triageEnv) everyRequestInOrg() {
	e.t.Helper()
	for _, r := range e.sentry.Requests() {
		if r.Path != "/api/0/" && !strings.HasPrefix(r.Path, "/api/0/organizations/acme/") {
			e.t.Errorf("Sentry request outside the organization: %s %s", r.Method, r.Path)
		}
	}
}

// ---------------------------------------------------------------------
// Every change path goes through the authorization module.

// secReadOnlyActions change nothing and need no decision; every other
// control a card offers must be refused to unlinked users and viewers.
var secReadOnlyActions = map[string]bool{blocks.ActionSearchMore: true, blocks.ActionLoginLink: true}

// secControl is one button, or one option of a menu, found on a card.
type secControl struct {
	elType, actionID, blockID, value string
	card                             triageCard // where it was found
}

// secControls reads every control out of the attachments Slack received.
func secControls(t *testing.T, att slack.Attachment, options func(actionID, blockID string) []string) []secControl {
	t.Helper()
	raw, err := json.Marshal(att)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var out []secControl
	var walk func(v any, blockID string)
	walk = func(v any, blockID string) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e, blockID)
			}
		case map[string]any:
			if id, ok := x["block_id"].(string); ok {
				blockID = id
			}
			aid, ok := x["action_id"].(string)
			if !ok {
				for _, e := range x {
					walk(e, blockID)
				}
				return
			}
			typ, _ := x["type"].(string)
			c := secControl{elType: typ, actionID: aid, blockID: blockID}
			switch typ {
			case "button":
				c.value, _ = x["value"].(string)
				out = append(out, c)
			case "static_select":
				opts, _ := x["options"].([]any)
				for _, o := range opts {
					c.value, _ = o.(map[string]any)["value"].(string)
					out = append(out, c)
				}
			case "external_select":
				for _, v := range options(aid, blockID) {
					c.value = v
					out = append(out, c)
				}
			default:
				t.Fatalf("card element %q (%s) is new to this test: teach it how to use one", typ, aid)
			}
		}
	}
	walk(doc, "")
	return out
}

// TestSecurityEveryCardControlRefusedForUnlinkedAndViewer reads the
// controls off the cards the running bot sends to Slack, in each state an
// issue can be in, with the assign menu's options as the bot itself
// offers them, and clicks each as an unlinked user and as a viewer.
func TestSecurityEveryCardControlRefusedForUnlinkedAndViewer(t *testing.T) {
	e := secStart(t, nil)
	e.link(triageAlice)
	e.link(triageVera)
	card := e.share("4321")

	// One issue per state: the bot's short-lived cache would show a
	// changed issue as it was.
	e.addIssue("4501", "backend", func(is *sentry.Issue) { is.Status = sentry.StatusResolved })
	e.addIssue("4502", "backend", func(is *sentry.Issue) {
		is.Status = sentry.StatusIgnored
		sub := sentry.SubstatusArchivedForever
		is.Substatus = &sub
		is.AssignedTo = &sentry.Assignee{Type: "user", ID: triageBobUser, Name: "Bob", Email: "bob@acme.test"}
	})
	cards := map[string]triageCard{"4321": card}
	seen := map[string]bool{}
	var controls []secControl
	for _, id := range []string{"4321", "4501", "4502"} {
		c, ok := cards[id]
		if !ok {
			c = e.share(id)
			cards[id] = c
		}
		calls := e.slack.Calls("chat.unfurl")
		var att slack.Attachment
		for _, call := range calls {
			if call.Form.Get("ts") == c.ts {
				u, err := call.Unfurls()
				if err != nil {
					t.Fatal(err)
				}
				att = u[c.url]
			}
		}
		options := func(actionID, blockID string) []string {
			if actionID != blocks.ActionAssign {
				t.Fatalf("external select %s is new to this test: teach it where its options come from", actionID)
			}
			var vs []string
			for _, o := range e.suggest(triageAlice, id, "") {
				vs = append(vs, o.Value)
			}
			return vs
		}
		for _, ctl := range secControls(t, att, options) {
			if k := ctl.actionID + "=" + ctl.value; !seen[k] {
				seen[k] = true
				ctl.card = c
				controls = append(controls, ctl)
			}
		}
	}
	for _, k := range []string{blocks.ActionResolve + "=4321", blocks.ActionUnresolve + "=4501", blocks.ActionUnarchive + "=4502",
		blocks.ActionAssign + "=" + blocks.AssignNobody, blocks.ActionAssign + "=" + blocks.AssignMe, blocks.ActionArchive + "=" + blocks.ArchiveForever} {
		if !seen[k] {
			t.Fatalf("the cards offered no %s; found %v", k, seen)
		}
	}

	for _, ctl := range controls {
		if secReadOnlyActions[ctl.actionID] {
			continue
		}
		for _, who := range []struct{ user, member, reason, says string }{
			{triageCarol, "", "not_linked", "`/sentry link`"},
			{triageVera, triageVeraMember, "viewer_role", "*viewer*"},
		} {
			t.Run(who.reason+"/"+ctl.actionID+"="+ctl.value, func(t *testing.T) {
				m, n := e.mark(), len(e.audit(who.user))
				a := slackfake.BlockAction{UserID: who.user, MessageTS: ctl.card.ts, UnfurlURL: ctl.card.url,
					ActionID: ctl.actionID, BlockID: ctl.blockID}
				if ctl.elType == "button" {
					a.Value = ctl.value
				} else {
					a.SelectedOption, a.ActionType = ctl.value, ctl.elType
				}
				hook, _ := e.secClick(a)
				triageContains(t, "answer", e.private(hook), who.says)
				e.noSentryWrite(m, "the control was refused")
				es := e.audit(who.user)
				if len(es) != n+1 {
					t.Fatalf("%d audit entries added, want one denial", len(es)-n)
				}
				if got := es[len(es)-1]; got.Decision != "deny" || got.Reason != who.reason || got.SentryMemberID != who.member ||
					got.IssueID != ctl.card.issueID || got.Outcome != "" {
					t.Errorf("audit entry %+v, want a denial (%s) on %s", got, who.reason, ctl.card.issueID)
				}
			})
		}
	}
	for id, want := range map[string]string{"4321": sentry.StatusUnresolved, "4501": sentry.StatusResolved, "4502": sentry.StatusIgnored} {
		if is, _ := e.sentry.Issue(id); is.Status != want || (id == "4502") != (is.AssignedTo != nil) {
			t.Errorf("Sentry's issue %s changed: %s, assigned %+v", id, is.Status, is.AssignedTo)
		}
	}
}

// secReadOnlyCommands are the commands (verb, or "admin <sub>") that change
// nothing in Sentry or in sentrybot's shared state.
var secReadOnlyCommands = map[string]bool{
	"help": true, "link": true, "unlink": true, "whoami": true, "issue": true, "search": true,
	"subscriptions": true, "admin audit": true,
}

// secHelpLine is a usage and its example as /sentry help shows them.
var secHelpLine = regexp.MustCompile("`([^`]+)` — [^\n]*?e\\.g\\. `/sentry ([^`]+)`")

// TestSecurityEveryChangeCommandRefusedForUnlinkedAndViewer reads the
// commands from /sentry help as the bot answers it and runs the example
// of every command not known to be read-only as an unlinked user and as a
// viewer.
func TestSecurityEveryChangeCommandRefusedForUnlinkedAndViewer(t *testing.T) {
	e := secStart(t, nil)
	e.link(triageVera)
	e.link(triageBob) // so that "assign … @bob" names someone linked
	hook, _ := e.secCommand(triageTeam, triageCarol, "help")
	help := e.reply(hook)
	if help.Blocks == nil {
		t.Fatalf("help has no blocks: %+v", help)
	}
	text := strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(blocks.PlainText(help.Blocks.BlockSet))
	var examples []struct{ key, text string }
	keys := map[string]bool{}
	for _, m := range secHelpLine.FindAllStringSubmatch(text, -1) {
		f := strings.Fields(m[1])
		key := f[0]
		if key == "admin" && len(f) > 1 {
			key += " " + f[1]
		}
		keys[key] = true
		if secReadOnlyCommands[key] {
			continue
		}
		ex := strings.NewReplacer("BACKEND-12", "BACKEND-1A2", "@alice", "<@"+triageBob+"|bob>").Replace(m[2])
		examples = append(examples, struct{ key, text string }{key, ex})
	}
	for _, key := range []string{"resolve", "unresolve", "archive", "unarchive", "assign", "admin role", "subscribe", "unsubscribe"} {
		if !keys[key] {
			t.Fatalf("the help as read has no %q (read %v from):\n%s", key, keys, text)
		}
	}
	for key := range secReadOnlyCommands {
		if !keys[key] {
			t.Errorf("read-only command %q is not in the help any more; drop it from secReadOnlyCommands", key)
		}
	}

	for _, ex := range examples {
		for _, who := range []struct{ user, reason, says string }{
			{triageCarol, "not_linked", "`/sentry link`"},
			{triageVera, "viewer_role", "*viewer*"},
		} {
			if ex.key == "admin role" {
				who.reason, who.says = "admin_only", "Only sentrybot admins"
			}
			t.Run(who.user+"/"+ex.text, func(t *testing.T) {
				m, n := e.mark(), len(e.audit(who.user))
				subs, err := e.db.Subscriptions(e.ctx(), "")
				if err != nil {
					t.Fatal(err)
				}
				hook, _ := e.secCommand(triageTeam, who.user, ex.text)
				r := e.reply(hook)
				if r.ResponseType != slack.ResponseTypeEphemeral || !strings.Contains(r.Text, who.says) {
					t.Errorf("/sentry %s answered %+v, want a private %q", ex.text, r, who.says)
				}
				e.noSentryWrite(m, "the command was refused")
				es := e.audit(who.user)
				if len(es) != n+1 {
					t.Fatalf("%d audit entries added, want one denial", len(es)-n)
				}
				if got := es[len(es)-1]; got.Decision != "deny" || got.Reason != who.reason || got.Outcome != "" {
					t.Errorf("audit entry %+v, want a denial (%s)", got, who.reason)
				}
				after, err := e.db.Subscriptions(e.ctx(), "")
				if err != nil || len(after) != len(subs) {
					t.Errorf("subscriptions %d → %d (%v) on a refusal", len(subs), len(after), err)
				}
				if o, _ := e.db.RoleOverride(e.ctx(), triageTeam, triageBob); o != "" {
					t.Errorf("%s's role became %q on a refusal", triageBob, o)
				}
			})
		}
	}
}

// ---------------------------------------------------------------------
// Foreign workspaces and organizations.

// TestSecurityForeignWorkspaceCannotChangeSentry: a user of a Slack
// workspace other than the one sentrybot is installed in (Slack Connect,
// Enterprise Grid) reaches the bot. Whatever their email says, they must
// not be linked and their clicks and commands must change nothing.
func TestSecurityForeignWorkspaceCannotChangeSentry(t *testing.T) {
	e := secStart(t, nil)
	card := e.share("4321")

	hook, _ := e.secCommand(secForeignTeam, secEve, "link")
	if got := e.reply(hook).Text; strings.HasPrefix(got, "Linked:") || !strings.Contains(got, "serves only the Slack workspace it's installed in") {
		t.Errorf("a user of workspace %s was answered %q, want a plain refusal", secForeignTeam, got)
	}
	if id, err := e.db.Identity(e.ctx(), secForeignTeam, secEve); err == nil {
		t.Errorf("identity stored for a foreign workspace: %+v", id)
	}

	m := e.mark()
	hook, key := e.secClick(slackfake.BlockAction{TeamID: secForeignTeam, UserID: secEve, MessageTS: card.ts,
		UnfurlURL: card.url, ActionID: blocks.ActionResolve, BlockID: blocks.BlockActions + "4321", Value: "4321"})
	e.waitUnits("action", key, 1)
	hook2, key2 := e.secCommand(secForeignTeam, secEve, "archive 4321 forever")
	e.waitUnits("command", key2, 1)
	e.noSentryWrite(m, "the clicks and commands came from another workspace")
	if is, _ := e.sentry.Issue("4321"); is.Status != sentry.StatusUnresolved {
		t.Errorf("a foreign workspace changed the issue to %s", is.Status)
	}
	for _, h := range []string{hook, hook2} {
		for _, c := range e.slack.Calls("response_url") {
			if c.Hook == h && strings.Contains(string(c.JSON), "by <@"+secEve+">") {
				t.Errorf("the foreign user was told the change was made: %s", c.JSON)
			}
		}
	}
	for _, a := range e.audit(secEve) {
		if a.Decision == "allow" {
			t.Errorf("audit allowed a foreign workspace: %+v", a)
		}
	}
}

// TestSecurityForeignWorkspaceLinkNotUnfurled: a link_shared from another
// workspace is not answered with the organization's issue data.
func TestSecurityForeignWorkspaceLinkNotUnfurled(t *testing.T) {
	e := secStart(t, nil)
	m := e.mark()
	eventID := nextEventID()
	id, env := slackfake.LinkSharedEnvelope(slackfake.LinkShared{TeamID: secForeignTeam, Channel: "C0SHARED", User: secEve,
		MessageTS: "1732840000.000001", Source: "conversations_history", EventID: eventID, IsBotUserMember: true,
		URLs: []string{"https://acme.sentry.io/issues/4321/"}})
	e.send(env, id)
	// The bot drops it on arrival; a link of the served workspace sent
	// after it unfurls, so the foreign one had its chance to.
	id, env = linkShared(triageChannel, "1732840000.000009", "https://acme.sentry.io/issues/4322/")
	e.send(env, id)
	e.unfurls(1)
	if !strings.Contains(e.logs.String(), "workspace sentrybot doesn't serve") {
		t.Errorf("the foreign link was not logged as dropped")
	}
	for _, r := range e.sentry.Requests()[m:] {
		if strings.Contains(r.Path, "/4321/") {
			t.Errorf("Sentry was asked for the foreign link's issue: %s %s", r.Method, r.Path)
		}
	}
	if calls := e.slack.Calls("chat.unfurl"); len(calls) != 1 || calls[0].Form.Get("ts") != "1732840000.000009" {
		t.Errorf("a foreign workspace got a chat.unfurl with the organization's issue")
	}
}

// TestSecurityForeignOrganizationNeverActedOn: links of another Sentry
// organization, commands naming them, clicks naming issues the
// organization does not have, and tampered card ids.
func TestSecurityForeignOrganizationNeverActedOn(t *testing.T) {
	e := secStart(t, nil)
	e.link(triageAlice)
	card := e.share("4321")

	t.Run("links", func(t *testing.T) {
		m := e.mark()
		before := e.unfurlCount()
		eventID := nextEventID()
		id, env := slackfake.LinkSharedEnvelope(slackfake.LinkShared{TeamID: triageTeam, Channel: triageChannel, User: triageAlice,
			MessageTS: "1732840000.000002", Source: "conversations_history", EventID: eventID, IsBotUserMember: true,
			URLs: []string{"https://other.sentry.io/issues/4321/", "https://sentry.io/organizations/other/issues/4321/",
				"https://sentry.example.com/organizations/other/issues/4322/", "https://other.sentry.io/organizations/acme/issues/4321/"}})
		e.send(env, id)
		e.waitUnits("link_shared", "event:"+eventID, 1)
		e.noSentryRequest(m, "every link named another organization")
		if n := e.unfurlCount(); n != before {
			t.Errorf("links of another organization unfurled (%d chat.unfurl)", n-before)
		}
	})

	t.Run("commands", func(t *testing.T) {
		for _, text := range []string{
			"resolve https://other.sentry.io/issues/4321/",
			"archive https://sentry.io/organizations/other/issues/4321/ forever",
			"assign https://other.sentry.io/issues/4321/ me",
			"issue https://other.sentry.io/issues/4321/",
		} {
			m := e.mark()
			hook, _ := e.secCommand(triageTeam, triageAlice, text)
			if got := e.reply(hook).Text; !strings.Contains(got, "isn't a Sentry issue link of the *acme* organization") {
				t.Errorf("/sentry %s answered %q", text, got)
			}
			e.noSentryRequest(m, "/sentry "+text+" named another organization")
		}
	})

	t.Run("issue not in the organization", func(t *testing.T) {
		m := e.mark()
		hook, _ := e.secClick(slackfake.BlockAction{UserID: triageAlice, MessageTS: card.ts, UnfurlURL: card.url,
			ActionID: blocks.ActionResolve, BlockID: blocks.BlockActions + "99999", Value: "99999"})
		triageContains(t, "answer", e.private(hook), "no longer exists")
		e.noSentryWrite(m, "the issue is not the organization's")
	})

	t.Run("tampered cards", func(t *testing.T) {
		for _, tc := range []struct{ name, blockID, value string }{
			{"TraversalInBlockID", blocks.BlockActions + "4321/../4322", "4321"},
			{"PathInBlockID", blocks.BlockActions + "../../projects/acme/backend", "4321"},
			{"EncodedSlashInBlockID", blocks.BlockActions + "4321%2F..%2F4322", "4321"},
			{"QueryInBlockID", blocks.BlockActions + "4321?org=other", "4321"},
			{"OrgInBlockID", blocks.BlockActions + "other:4321", "4321"},
			{"FullwidthDigits", blocks.BlockActions + "\uff14\uff13\uff12\uff11", "4321"},
			{"NoBlockIDTraversalValue", "", "../4322"},
			{"NoBlockIDURLValue", "", "https://other.sentry.io/issues/4321/"},
			{"ForeignBlockValueAbsent", "sentry_other_org:4321", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				m := e.mark()
				hook, _ := e.secClick(slackfake.BlockAction{UserID: triageAlice, MessageTS: card.ts, UnfurlURL: card.url,
					ActionID: blocks.ActionResolve, BlockID: tc.blockID, Value: tc.value})
				triageContains(t, "answer", e.private(hook), "doesn't say which issue")
				e.noSentryRequest(m, "the card's issue id was tampered with")
			})
		}
	})

	t.Run("tampered choices", func(t *testing.T) {
		for _, tc := range []struct{ name, actionID, option, says string }{
			{"UnknownAction", "sentry.issue.delete", "", "isn't one sentrybot knows"},
			{"ArchiveNotOffered", blocks.ActionArchive, "for:99999999", "isn't one sentrybot knows"},
			{"ResolveInNotOffered", blocks.ActionResolveIn, "in_release:evil", "isn't one sentrybot knows"},
			{"AssigneeTraversal", blocks.ActionAssign, "user:2002/../../members", "isn't one sentrybot knows"},
			{"AssigneeOtherKind", blocks.ActionAssign, "org:other", "isn't one sentrybot knows"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				m := e.mark()
				a := slackfake.BlockAction{UserID: triageAlice, MessageTS: card.ts, UnfurlURL: card.url,
					ActionID: tc.actionID, BlockID: blocks.BlockActions + "4321", Value: "4321"}
				if tc.option != "" {
					a.SelectedOption, a.ActionType = tc.option, "static_select"
				}
				hook, _ := e.secClick(a)
				triageContains(t, "answer", e.private(hook), tc.says)
				e.noSentryWrite(m, "the choice was not one the card offers")
			})
		}
	})
	e.everyRequestInOrg()
	if is, _ := e.sentry.Issue("4321"); is.Status != sentry.StatusUnresolved || is.AssignedTo != nil {
		t.Errorf("Sentry's issue changed: %s, assigned %+v", is.Status, is.AssignedTo)
	}
}

// ---------------------------------------------------------------------
// Look-alike and oversized input.

func TestSecurityLookalikeLinksNeverReachSentry(t *testing.T) {
	e := secStart(t, nil)
	lookalikes := []string{
		"https://sentry.io.evil.com/organizations/acme/issues/4321/",
		"https://acme.sentry.io.evil.com/issues/4321/",
		"https://evil-sentry.io/issues/4321/",
		"https://acme.sentry.io@evil.com/issues/4321/",
		"https://evil.com@acme.sentry.io/issues/4321/",
		"https://xn--acm-4na.sentry.io/issues/4321/",
		"https://\u0430cme.sentry.io/issues/4321/",
		"https://acme.sentry.io\\@evil.com/issues/4321/",
		"https://acme.sentry.io/issues/4321%2F..%2F4322/",
		"https://acme.sentry.io/issues/4321;DROP/",
		"https://acme.sentry.io/issues/" + strings.Repeat("9", 5000) + "/",
	}
	m := e.mark()
	eventID := nextEventID()
	id, env := slackfake.LinkSharedEnvelope(slackfake.LinkShared{TeamID: triageTeam, Channel: triageChannel, User: triageAlice,
		MessageTS: "1732850000.000001", Source: "conversations_history", EventID: eventID, IsBotUserMember: true, URLs: lookalikes})
	e.send(env, id)
	e.waitUnits("link_shared", "event:"+eventID, 1)
	e.noSentryRequest(m, "every link was a look-alike")
	if n := e.unfurlCount(); n != 0 {
		t.Errorf("look-alike links unfurled (%d chat.unfurl)", n)
	}
	e.link(triageAlice)
	for _, u := range lookalikes[:4] {
		m := e.mark()
		hook, _ := e.secCommand(triageTeam, triageAlice, "resolve "+u)
		if got := e.reply(hook).Text; !strings.Contains(got, "isn't a Sentry issue link") && !strings.Contains(got, "isn't an issue") {
			t.Errorf("/sentry resolve %s answered %q", u, got)
		}
		e.noSentryRequest(m, "the command named a look-alike link")
	}
}

// secMaxFetchesPerMessage bounds the Sentry reads one message's links may
// cause, however many links it has.
const secMaxFetchesPerMessage = 100

func TestSecurityOversizedCommandText(t *testing.T) {
	e := secStart(t, nil)
	e.link(triageAlice)
	m := e.mark()
	hook, _ := e.secCommand(triageTeam, triageAlice, "resolve 4321 "+strings.Repeat("x", 100<<10))
	if got := e.reply(hook).Text; !strings.Contains(got, "too long") {
		t.Errorf("a 100 KB command answered %q", got)
	}
	e.noSentryRequest(m, "the command was refused for its size")
	e.share("4322") // still serving
}

func TestSecurityOversizedLinkSharedBoundedWork(t *testing.T) {
	e := secStart(t, nil)
	urls := make([]string, 1000)
	for i := range urls {
		urls[i] = fmt.Sprintf("https://acme.sentry.io/issues/%d/", 500000+i)
	}
	m := e.mark()
	eventID := nextEventID()
	id, env := slackfake.LinkSharedEnvelope(slackfake.LinkShared{TeamID: triageTeam, Channel: triageChannel, User: triageAlice,
		MessageTS: "1732860000.000001", Source: "conversations_history", EventID: eventID, IsBotUserMember: true, URLs: urls})
	e.send(env, id)
	e.waitUnits("link_shared", "event:"+eventID, 1)
	if n := len(e.sentry.Requests()[m:]); n > secMaxFetchesPerMessage {
		t.Errorf("one message with %d links made %d Sentry requests, want at most %d", len(urls), n, secMaxFetchesPerMessage)
	}
	e.share("4321") // still serving
}

func TestSecurityOversizedClickValues(t *testing.T) {
	e := secStart(t, nil)
	e.link(triageAlice)
	card := e.share("4321")
	big := strings.Repeat("9", 50<<10)
	for _, tc := range []struct {
		name   string
		a      slackfake.BlockAction
		says   string
		maxReq int // Sentry requests the click may cost
	}{
		{"ButtonValueNoBlockID", slackfake.BlockAction{ActionID: blocks.ActionResolve, Value: big}, "doesn't say which issue", 0},
		// A block id too long to be whole is not read; with no value to
		// fall back on, the click names no issue.
		{"BlockID", slackfake.BlockAction{ActionID: blocks.ActionResolve, BlockID: blocks.BlockActions + big}, "doesn't say which issue", 0},
		{"ArchiveChoice", slackfake.BlockAction{ActionID: blocks.ActionArchive, BlockID: blocks.BlockActions + "4321",
			SelectedOption: big, ActionType: "static_select"}, "isn't one sentrybot knows", 0},
		{"AssigneeChoice", slackfake.BlockAction{ActionID: blocks.ActionAssign, BlockID: blocks.BlockActions + "4321",
			SelectedOption: "user:" + big}, "isn't one sentrybot knows", 0},
		{"ActionID", slackfake.BlockAction{ActionID: "sentry.issue." + big, BlockID: blocks.BlockActions + "4321", Value: "4321"},
			"isn't one sentrybot knows", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := e.mark()
			a := tc.a
			a.UserID, a.MessageTS, a.UnfurlURL = triageAlice, card.ts, card.url
			hook, _ := e.secClick(a)
			triageContains(t, "answer", e.private(hook), tc.says)
			if n := len(e.sentry.Requests()[m:]); n > tc.maxReq {
				t.Errorf("the click cost %d Sentry requests, want at most %d", n, tc.maxReq)
			}
		})
	}
	t.Run("SearchMoreValue", func(t *testing.T) {
		m := e.mark()
		v, _ := json.Marshal(map[string]any{"q": strings.Repeat("level:error ", 5<<10), "c": "0:10:0", "p": 2})
		hook, key := e.secClick(slackfake.BlockAction{UserID: triageAlice, ActionID: blocks.ActionSearchMore,
			BlockID: blocks.BlockSearchMore, Value: string(v)})
		e.waitUnits("action", key, 1)
		if n := len(e.sentry.Requests()[m:]); n > 1 {
			t.Errorf("a 50 KB More value cost %d Sentry requests", n)
		}
		e.noSentryWrite(m, "More only searches")
		e.reply(hook)
	})
	e.share("4322") // still serving
}

func TestSecurityOversizedSocketMessage(t *testing.T) {
	e := secStart(t, nil)
	huge := "https://acme.sentry.io/issues/4321/?pad=" + strings.Repeat("p", 5<<20)
	m := e.mark()
	_, env := slackfake.LinkSharedEnvelope(slackfake.LinkShared{TeamID: triageTeam, Channel: triageChannel, User: triageAlice,
		MessageTS: "1732870000.000001", Source: "conversations_history", EventID: nextEventID(), IsBotUserMember: true,
		URLs: []string{huge}})
	if len(env) <= 5<<20 {
		t.Fatalf("envelope is only %d bytes", len(env))
	}
	if err := e.slack.Send(e.ctx(), env); err != nil {
		t.Logf("sending 5 MB: %v (the bot may close the socket while it is written)", err)
	}
	// The bot drops the socket rather than read it all, then comes back.
	if err := e.slack.WaitConnected(e.ctx(), 2); err != nil {
		t.Fatalf("no new connection after a 5 MB message: %v\nlogs:\n%s", err, e.logs)
	}
	e.noSentryRequest(m, "the oversized message was not read")
	e.share("4322") // still serving
	select {
	case err := <-e.done:
		e.done <- err
		t.Fatalf("run returned %v after an oversized message", err)
	default:
	}
}

// ---------------------------------------------------------------------
// No secret in any log line or any answer.

// secEchoRule makes the Sentry proxy answer a request itself, with a body
// that repeats the request's Authorization header.
type secEchoRule struct {
	method, pathContains string
	status               int
	contentType          string
	body                 string // %s is the Authorization header's value
}

// secSentryProxy sits between sentrybot and the Sentry fake and, for
// requests matching a rule, plays a Sentry (or a proxy in front of it) that
// echoes credentials in its error bodies.
type secSentryProxy struct {
	srv   *httptest.Server
	mu    sync.Mutex
	rules []secEchoRule
}

func newSecSentryProxy(t *testing.T, target string) *secSentryProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{DisableKeepAlives: true}
	p := &secSentryProxy{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		var rule *secEchoRule
		for i := range p.rules {
			if p.rules[i].method == r.Method && strings.Contains(r.URL.Path, p.rules[i].pathContains) {
				rule = &p.rules[i]
				break
			}
		}
		p.mu.Unlock()
		if rule == nil {
			rp.ServeHTTP(w, r)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", rule.contentType)
		w.WriteHeader(rule.status)
		fmt.Fprintf(w, rule.body, r.Header.Get("Authorization"))
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *secSentryProxy) set(rules ...secEchoRule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = rules
}

// secSecrets are the configured secrets and the forms they could leak in.
func secSecrets() []string {
	return []string{testAppToken, testBotToken, testSentryToken, "secretapptoken", "secretbottoken", "secretsentrytoken",
		secWebhookSecret, "secretwebhookvalue", secSecretKey}
}

// secTokenish finds credentials by their shape: Slack and Sentry token
// prefixes followed by token characters, and Bearer credentials that are
// not the redaction marker.
var secTokenish = regexp.MustCompile(`xox[abposr]-[A-Za-z0-9-]{4,}|xapp-[A-Za-z0-9-]{4,}|sntry[su]_[A-Za-z0-9_=+/-]{4,}|Bearer\s+[^\s\["\\]{4,}`)

// secScan reports every place text holds a configured secret, or the
// start of one (12 characters or more), or something shaped like a token.
func secScan(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range secSecrets() {
		for n := len(s); n >= 12; n-- {
			if i := strings.Index(text, s[:n]); i >= 0 {
				t.Errorf("%s holds %d characters of a secret (%.8s…) at %q", what, n, s, secAround(text, i))
				break
			}
		}
	}
	for _, loc := range secTokenish.FindAllStringIndex(text, -1) {
		t.Errorf("%s holds something shaped like a credential: %q", what, secAround(text, loc[0]))
	}
}

func secAround(text string, i int) string {
	lo, hi := max(0, i-60), min(len(text), i+80)
	return text[lo:hi]
}

// secScanSlack scans everything sentrybot sent to Slack: answers to users,
// cards, messages.
func (e *triageEnv) secScanSlack(t *testing.T) {
	t.Helper()
	for _, c := range e.slack.Calls("") {
		body, _ := json.Marshal(c.Form)
		secScan(t, "Slack call "+c.Method, string(body)+string(c.JSON))
	}
}

// TestSecurityNoSecretInLogsOrAnswers runs a whole session at debug level
// while Sentry (or a proxy in front of it) answers errors that repeat the
// request's Authorization header, and Slack fails some calls; then reads
// every log line and everything sent to Slack.
func TestSecurityNoSecretInLogsOrAnswers(t *testing.T) {
	var proxy *secSentryProxy
	listen := freeAddr(t)
	e := secStart(t, func(s *e2e) {
		proxy = newSecSentryProxy(t, s.sentry.URL())
		s.env["SENTRY_URL"] = proxy.srv.URL
		s.env["SENTRY_WEBHOOK_SECRET"] = secWebhookSecret
		s.env["SENTRYBOT_SECRET_KEY"] = secSecretKey
		s.env["SENTRYBOT_HTTP_LISTEN"] = listen
	})
	echoJSON := `{"detail": "Invalid token. Authorization: %s"}`

	// A working session first.
	e.link(triageAlice)
	card := e.share("4321")
	hook := e.click(triageClick{user: triageAlice, card: card, actionID: blocks.ActionResolve})
	e.cardUpdate(card, 2, hook)
	hook, _ = e.secCommand(triageTeam, triageAlice, "search is:unresolved")
	e.reply(hook)

	// Sentry refuses the token and says so, quoting it.
	proxy.set(secEchoRule{http.MethodGet, "/issues/4322/", http.StatusUnauthorized, "application/json", echoJSON})
	id, env := linkShared(triageChannel, "1732880000.000001", "https://acme.sentry.io/issues/4322/")
	e.send(env, id)
	hook, _ = e.secCommand(triageTeam, triageAlice, "issue 4322")
	e.reply(hook)

	// A 500 from a gateway that dumps the request, in HTML and in JSON.
	proxy.set(secEchoRule{http.MethodPut, "/issues/4321/", http.StatusBadGateway, "text/html",
		"<html><body><pre>PUT /issues/4321/\nAuthorization: %s</pre></body></html>"})
	hook = e.click(triageClick{user: triageAlice, card: card, actionID: blocks.ActionUnresolve})
	e.private(hook)
	proxy.set(secEchoRule{http.MethodPut, "/issues/4321/", http.StatusInternalServerError, "application/json", echoJSON})
	hook = e.click(triageClick{user: triageAlice, card: card, actionID: blocks.ActionUnresolve})
	e.private(hook)

	// A 400 whose detail reaches the user, and a search Sentry rejects.
	proxy.set(secEchoRule{http.MethodPut, "/issues/4321/", http.StatusBadRequest, "application/json", echoJSON},
		secEchoRule{http.MethodGet, "/organizations/acme/issues/", http.StatusBadRequest, "application/json", echoJSON})
	hook = e.click(triageClick{user: triageAlice, card: card, actionID: blocks.ActionUnresolve})
	e.private(hook)
	hook, _ = e.secCommand(triageTeam, triageAlice, "search is:unresolved")
	e.reply(hook)

	// The membership check fails with the token quoted: Bob is refused.
	e.link(triageBob)
	proxy.set(secEchoRule{http.MethodGet, "/members/", http.StatusUnauthorized, "application/json", echoJSON})
	hook = e.click(triageClick{user: triageBob, card: card, actionID: blocks.ActionUnresolve})
	e.private(hook)
	proxy.set()

	// Slack fails: a server error on chat.unfurl and on a response_url.
	e.slack.FailMethod("chat.unfurl", http.StatusInternalServerError, 0, 1)
	e.share4321Again()
	e.slack.FailMethod("response_url", http.StatusInternalServerError, 0, 1)
	_, key := e.secCommand(triageTeam, triageAlice, "whoami")
	e.waitUnits("command", key, 1)

	// Webhooks with a bad signature, one being the secret itself.
	body := []byte(`{"action":"created","data":{"issue":{"id":"4321"}}}`)
	for _, sig := range []string{"deadbeef", secWebhookSecret, webhook.Sign([]byte("wrong"), body)} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+listen+"/sentry/webhook", strings.NewReader(string(body)))
		req.Header.Set("Sentry-Hook-Signature", sig)
		req.Header.Set("Sentry-Hook-Resource", "issue")
		req.Header.Set("Content-Type", "application/json")
		var resp *http.Response
		var err error
		for range 50 {
			if resp, err = http.DefaultClient.Do(req); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
			req.Body = io.NopCloser(strings.NewReader(string(body)))
		}
		if err != nil {
			t.Fatalf("posting a webhook: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("webhook with a bad signature answered %d", resp.StatusCode)
		}
	}

	// Everything has been answered; stop, so the log is complete.
	if err := e.halt(); err != nil {
		t.Fatalf("run: %v", err)
	}
	logs := e.logs.String()
	// The echoes reached the log, redacted: the scan below reads lines
	// that did carry the token's place.
	if !strings.Contains(logs, `"level":"debug"`) || !strings.Contains(logs, "unauthorized") || !strings.Contains(logs, "[redacted]") {
		t.Fatalf("the session did not log at debug level, or no echoed credential reached the log:\n%s", logs)
	}
	for i, line := range strings.Split(logs, "\n") {
		secScan(t, fmt.Sprintf("log line %d", i+1), line)
	}
	e.secScanSlack(t)
}

// share4321Again pastes the issue's link once more; the first chat.unfurl
// answer may be a failure the test asked for.
func (e *triageEnv) share4321Again() {
	e.t.Helper()
	e.n++
	before := len(e.slack.Calls("chat.unfurl"))
	id, env := linkShared(triageChannel, fmt.Sprintf("1732890000.%06d", e.n), "https://acme.sentry.io/issues/4321/")
	e.send(env, id)
	e.unfurls(before + 1)
}

// TestSecurityNoTokenFragmentInSentryErrorDetail: Sentry's error detail is
// shortened for users and logs. The token is redacted from it, and must
// be whatever the cut leaves of it.
func TestSecurityNoTokenFragmentInSentryErrorDetail(t *testing.T) {
	var proxy *secSentryProxy
	e := secStart(t, func(s *e2e) {
		proxy = newSecSentryProxy(t, s.sentry.URL())
		s.env["SENTRY_URL"] = proxy.srv.URL
	})
	e.link(triageAlice)
	card := e.share("4321")
	// The detail is cut at 300 characters; "Bearer " plus all but the
	// last two characters of the token fit before the cut.
	pad := strings.Repeat("x", 300-len("Bearer ")-len(testSentryToken)+2)
	proxy.set(secEchoRule{http.MethodPut, "/issues/4321/", http.StatusBadRequest, "application/json",
		`{"detail": "` + pad + `%s"}`})
	hook := e.click(triageClick{user: triageAlice, card: card, actionID: blocks.ActionResolve})
	answer := e.private(hook)
	if !strings.HasPrefix(answer, "Sentry refused the change") {
		t.Fatalf("answer %q: the 400 did not reach the user as Sentry's detail", answer)
	}
	secScan(t, "the answer to the user", answer)
	// The same detail on a 500 goes to the log instead.
	proxy.set(secEchoRule{http.MethodPut, "/issues/4321/", http.StatusInternalServerError, "application/json",
		`{"detail": "` + pad + `%s"}`})
	hook = e.click(triageClick{user: triageAlice, card: card, actionID: blocks.ActionResolve})
	triageContains(t, "answer", e.private(hook), "Couldn't reach Sentry")
	for i, line := range strings.Split(e.logs.String(), "\n") {
		secScan(t, fmt.Sprintf("log line %d", i+1), line)
	}
	a := e.lastAudit(triageAlice)
	secScan(t, "the audit outcome", a.Outcome)
}

// TestSecurityResponseURLNeverLogged: a response_url is a credential (it
// lets anyone answer the user for half an hour). When posting to one
// fails, the log says so without it.
func TestSecurityResponseURLNeverLogged(t *testing.T) {
	e := secStart(t, nil)
	const secretPath = "hooks/commands/T0001/B0SECRET/respsecret0123456789"
	u, err := url.Parse(e.slack.APIURL())
	if err != nil {
		t.Fatal(err)
	}
	// The host is one sentrybot posts to, but https to a plain-HTTP
	// server fails in transport, as a dropped connection to Slack would.
	hook := "https://" + u.Host + "/" + secretPath
	id, env := slackfake.SlashCommandEnvelope(slackfake.SlashCommand{TeamID: triageTeam, ChannelID: triageChannel,
		UserID: triageAlice, Text: "help", ResponseURL: hook})
	e.send(env, id)
	lines := e.waitUnits("command", "envelope:"+id, 1)
	if lines[0].Message == "unit of work done" {
		t.Fatalf("the post to %s did not fail; the test proves nothing", hook)
	}
	if logs := e.logs.String(); strings.Contains(logs, "respsecret0123456789") {
		i := strings.Index(logs, "respsecret0123456789")
		t.Errorf("a response_url's secret path is in the log: %q", secAround(logs, i))
	}
}

// ---------------------------------------------------------------------
// Files.

// TestSecurityDatabaseFilesPrivate runs sentrybot with a umask that
// would leave new files world-readable and checks the database, its WAL
// and shared-memory files and any key file are 0600, while it runs and
// after it stops, and that doctor creates a private database too.
func TestSecurityDatabaseFilesPrivate(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })

	e := secStart(t, nil)
	e.share("4321") // something written, so the WAL is in use
	db := e.env["SENTRYBOT_DB"]
	check := func(when string, paths ...string) {
		t.Helper()
		for _, p := range paths {
			fi, err := os.Stat(p)
			if err != nil {
				t.Errorf("%s: %v", when, err)
				continue
			}
			if perm := fi.Mode().Perm(); perm != 0o600 {
				t.Errorf("%s: %s has mode %04o, want 0600", when, filepath.Base(p), perm)
			}
		}
	}
	check("while running", db, db+"-wal", db+"-shm")
	if err := e.halt(); err != nil {
		t.Fatalf("run: %v", err)
	}
	var left []string
	for _, p := range []string{db, db + "-wal", db + "-shm", db + ".key"} {
		if _, err := os.Stat(p); err == nil {
			left = append(left, p)
		}
	}
	check("after stopping", left...)

	// doctor checks the store is writable; whatever it creates is private.
	fresh := filepath.Join(t.TempDir(), "doctor.db")
	env := map[string]string{}
	for k, v := range e.env {
		env[k] = v
	}
	env["SENTRYBOT_DB"] = fresh
	_ = run(context.Background(), []string{"sentrybot", "doctor"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
	var made []string
	for _, p := range []string{fresh, fresh + "-wal", fresh + "-shm", fresh + ".key"} {
		if _, err := os.Stat(p); err == nil {
			made = append(made, p)
		}
	}
	check("after doctor", made...)
	entries, err := os.ReadDir(filepath.Dir(db))
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range entries {
		if fi, err := de.Info(); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s beside the database has mode %04o", de.Name(), fi.Mode().Perm())
		}
	}
}
