package main

// End-to-end tests of the /sentry slash command: each runs the real program
// against the Slack and Sentry fakes and checks what the user was shown
// (through the command's response_url), what Sentry received and what the
// audit log kept.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"sentrybot/blocks"
	"sentrybot/internal/sentryfake"
	"sentrybot/internal/slackfake"
	"sentrybot/sentry"
	"sentrybot/slashcmd"
	"sentrybot/store"
)

const (
	cmdTeamID  = "T0001"
	cmdChannel = "C0BACKEND"
	cmdAdmin   = "U0ADMIN" // listed in SENTRYBOT_ADMINS
)

// cmdEnv is a running sentrybot with a few people in Slack and Sentry:
// alice and bob are Sentry members (not yet linked), carol is in Slack only,
// and U0ADMIN is a configured sentrybot admin.
type cmdEnv struct {
	*e2e
	t  *testing.T
	db *store.DB // a second handle on the bot's database, for reading
}

func cmdStart(t *testing.T) *cmdEnv {
	t.Helper()
	s := newE2E(t, map[string]string{"SENTRYBOT_ADMINS": cmdAdmin})
	for _, u := range []struct{ id, email string }{
		{"U0ALICE", "alice@acme.test"}, {"U0BOB", "bob@acme.test"}, {"U0CAROL", "carol@acme.test"}, {cmdAdmin, "admin@acme.test"},
	} {
		cmdAddSlackUser(s, u.id, u.email, true)
	}
	s.sentry.AddMember(sentryfake.NewMember("101", "1001", "alice@acme.test", "Alice", "member"))
	s.sentry.AddMember(sentryfake.NewMember("102", "1002", "bob@acme.test", "Bob", "member"))
	s.start()
	db := s.openStore()
	c := &cmdEnv{e2e: s, t: t, db: db}
	t.Cleanup(c.assertNoEphemeralPosts)
	return c
}

func cmdAddSlackUser(s *e2e, id, email string, confirmed bool) {
	s.slack.AddUser(slack.User{ID: id, TeamID: cmdTeamID, Name: strings.ToLower(strings.TrimPrefix(id, "U0")),
		Profile: slack.UserProfile{Email: email}, IsEmailConfirmed: confirmed})
}

// assertNoEphemeralPosts: commands always have a response_url, so no reply
// should have needed chat.postEphemeral.
func (c *cmdEnv) assertNoEphemeralPosts() {
	if n := len(c.slack.Calls("chat.postEphemeral")); n != 0 {
		c.t.Errorf("chat.postEphemeral called %d times; command replies belong on the response_url", n)
	}
}

// cmdReply is one message the bot posted to a response_url.
type cmdReply struct {
	slack.WebhookMessage
	Call slackfake.Call
	// Raw is the message as JSON without HTML escaping, so mrkdwn such as
	// <@U0ALICE> reads as sent.
	Raw string
}

// plain is everything the message shows, as plain text.
func (r cmdReply) plain() string {
	parts := []string{r.Text}
	if r.Blocks != nil {
		parts = append(parts, blocks.PlainText(r.Blocks.BlockSet))
	}
	for _, a := range r.Attachments {
		parts = append(parts, blocks.PlainText(a.Blocks.BlockSet))
	}
	return strings.Join(parts, "\n")
}

func cmdUnescapedJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	// slack.Blocks marshals itself with json.Marshal, which escapes HTML.
	return strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(b.String())
}

func (c *cmdEnv) decodeReply(call slackfake.Call) cmdReply {
	c.t.Helper()
	r := cmdReply{Call: call}
	if err := json.Unmarshal(call.JSON, &r.WebhookMessage); err != nil {
		c.t.Fatalf("decoding a response_url post: %v\n%s", err, call.JSON)
	}
	r.Raw = cmdUnescapedJSON(r.WebhookMessage)
	return r
}

// command delivers /sentry <text> typed by user and checks the ack carries
// no payload: every answer must come through the response_url.
func (c *cmdEnv) command(user, text string) (hook string, ack slackfake.Ack) {
	c.t.Helper()
	hook = c.slack.ResponseURL("commands")
	id, env := slackfake.SlashCommandEnvelope(slackfake.SlashCommand{
		TeamID: cmdTeamID, ChannelID: cmdChannel, UserID: user, Text: text, ResponseURL: hook,
	})
	ack = c.send(env, id)
	if len(ack.Payload) != 0 {
		c.t.Errorf("/sentry %s: the ack carried a payload %s; replies go to the response_url", text, ack.Payload)
	}
	return hook, ack
}

// replies waits until hook has received n posts and returns them.
func (c *cmdEnv) replies(hook string, n int) []cmdReply {
	c.t.Helper()
	ctx := c.ctx()
	for k := 1; ; k++ {
		calls, err := c.slack.WaitCalls(ctx, "response_url", k)
		if err != nil {
			c.t.Fatalf("waiting for %d replies on a response_url: %v\nlogs:\n%s", n, err, c.logs)
		}
		var out []cmdReply
		for _, call := range calls {
			if call.Hook == hook {
				out = append(out, c.decodeReply(call))
			}
		}
		if len(out) >= n {
			return out
		}
	}
}

// run types /sentry <text> as user and returns the one reply.
func (c *cmdEnv) run(user, text string) cmdReply {
	c.t.Helper()
	// The ack's payload is checked by command; that the reply follows the
	// ack, by TestCommandRepliesAfterTheAck, where Sentry is slow enough
	// for the order to be certain.
	hook, _ := c.command(user, text)
	r := c.replies(hook, 1)[0]
	if r.ResponseType != slack.ResponseTypeEphemeral {
		c.t.Errorf("/sentry %s: response_type %q, want ephemeral", text, r.ResponseType)
	}
	return r
}

// say runs a command whose answer is a private notice and returns its text.
func (c *cmdEnv) say(user, text string) string {
	c.t.Helper()
	r := c.run(user, text)
	if len(r.Attachments) != 0 {
		c.t.Errorf("/sentry %s: a notice came with %d attachments", text, len(r.Attachments))
	}
	return r.Text
}

func (c *cmdEnv) link(user string) {
	c.t.Helper()
	if got := c.say(user, "link"); !strings.HasPrefix(got, "Linked:") {
		c.t.Fatalf("%s could not link: %q", user, got)
	}
}

// mark is the number of Sentry requests so far; since returns those after it.
func (c *cmdEnv) mark() int { return len(c.sentry.Requests()) }

func (c *cmdEnv) since(n int) []sentryfake.Request { return c.sentry.Requests()[n:] }

func cmdPuts(reqs []sentryfake.Request) []sentryfake.Request {
	var out []sentryfake.Request
	for _, r := range reqs {
		if r.Method == http.MethodPut {
			out = append(out, r)
		}
	}
	return out
}

// onePut asserts reqs hold exactly one PUT, on the issue, and returns its body.
func (c *cmdEnv) onePut(reqs []sentryfake.Request, issueID string) map[string]any {
	c.t.Helper()
	puts := cmdPuts(reqs)
	if len(puts) != 1 {
		c.t.Fatalf("Sentry got %d PUTs, want 1: %s", len(puts), cmdDescribe(puts))
	}
	if want := "/api/0/organizations/acme/issues/" + issueID + "/"; puts[0].Path != want {
		c.t.Errorf("PUT %s, want %s", puts[0].Path, want)
	}
	var body map[string]any
	if err := json.Unmarshal(puts[0].Body, &body); err != nil {
		c.t.Fatalf("PUT body %q: %v", puts[0].Body, err)
	}
	return body
}

func (c *cmdEnv) noPut(reqs []sentryfake.Request, why string) {
	c.t.Helper()
	if puts := cmdPuts(reqs); len(puts) != 0 {
		c.t.Errorf("%s, yet Sentry got %s", why, cmdDescribe(puts))
	}
}

func cmdDescribe(reqs []sentryfake.Request) string {
	var parts []string
	for _, r := range reqs {
		parts = append(parts, fmt.Sprintf("%s %s?%s %s", r.Method, r.Path, r.Query.Encode(), r.Body))
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

func (c *cmdEnv) audit(f store.AuditFilter) []store.AuditEntry {
	c.t.Helper()
	entries, err := c.db.Audit(c.ctx(), f)
	if err != nil {
		c.t.Fatalf("reading the audit log: %v", err)
	}
	return entries
}

// lastAudit is the newest audit entry of the user.
func (c *cmdEnv) lastAudit(user string) store.AuditEntry {
	c.t.Helper()
	es := c.audit(store.AuditFilter{UserID: user})
	if len(es) == 0 {
		c.t.Fatalf("no audit entry for %s", user)
	}
	return es[len(es)-1]
}

func (c *cmdEnv) checkAudit(e store.AuditEntry, action, issue, decision, reason, outcomePrefix, detail string) {
	c.t.Helper()
	if e.Action != action || e.IssueID != issue || e.Decision != decision || e.Reason != reason ||
		!strings.HasPrefix(e.Outcome, outcomePrefix) || (outcomePrefix == "" && e.Outcome != "") || e.Detail != detail {
		c.t.Errorf("audit entry %+v\nwant action=%s issue=%s decision=%s reason=%s outcome=%q… detail=%q",
			e, action, issue, decision, reason, outcomePrefix, detail)
	}
	if e.TeamID != cmdTeamID || e.ChannelID != cmdChannel {
		c.t.Errorf("audit entry %+v does not record team %s and channel %s", e, cmdTeamID, cmdChannel)
	}
}

// card returns the one issue card of an ephemeral card reply.
func (c *cmdEnv) card(r cmdReply) slack.Attachment {
	c.t.Helper()
	if len(r.Attachments) != 1 {
		c.t.Fatalf("reply has %d attachments, want one card: %s", len(r.Attachments), r.Raw)
	}
	return r.Attachments[0]
}

func cmdContainsAll(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

func TestCommandHelpOnEmptyAndHelp(t *testing.T) {
	c := cmdStart(t)
	for _, text := range []string{"", "help", "  HELP "} {
		r := c.run("U0ALICE", text)
		if r.Blocks == nil {
			t.Fatalf("/sentry %q: help came without blocks: %s", text, r.Raw)
		}
		raw := cmdUnescapedJSON(r.Blocks)
		cmdHelpListsEverything(t, fmt.Sprintf("help for %q", text), raw)
		if strings.Contains(raw, "Unknown command") {
			t.Errorf("/sentry %q: help says Unknown command", text)
		}
	}
	if n := len(c.sentry.Requests()); n != 0 {
		t.Errorf("help made %d Sentry requests", n)
	}
}

// cmdHelpListsEverything checks the help names every verb the parser
// accepts, each as the start of a usage in inline code.
func cmdHelpListsEverything(t *testing.T, what, raw string) {
	t.Helper()
	verbs := []slashcmd.Verb{slashcmd.VerbHelp, slashcmd.VerbLink, slashcmd.VerbUnlink, slashcmd.VerbWhoami, slashcmd.VerbIssue,
		slashcmd.VerbSearch, slashcmd.VerbResolve, slashcmd.VerbUnresolve, slashcmd.VerbArchive, slashcmd.VerbUnarchive,
		slashcmd.VerbAssign, slashcmd.VerbSubscribe, slashcmd.VerbUnsubscribe, slashcmd.VerbSubscriptions}
	for _, v := range verbs {
		if !v.Known() {
			t.Fatalf("the parser does not know %q", v)
		}
		if !strings.Contains(raw, "`"+string(v)+"`") && !strings.Contains(raw, "`"+string(v)+" ") {
			t.Errorf("%s does not list `%s`", what, v)
		}
	}
	for _, sub := range []string{"`admin role ", "`admin audit"} {
		if !strings.Contains(raw, sub) {
			t.Errorf("%s does not list %s…`", what, sub)
		}
	}
}

func TestCommandUnknownShowsHelp(t *testing.T) {
	c := cmdStart(t)
	r := c.run("U0ALICE", "frobnicate now")
	if r.Blocks == nil {
		t.Fatalf("no blocks: %s", r.Raw)
	}
	raw := cmdUnescapedJSON(r.Blocks)
	cmdContainsAll(t, "reply to an unknown command", raw, "Unknown command `frobnicate`")
	cmdHelpListsEverything(t, "reply to an unknown command", raw)
	if n := len(c.sentry.Requests()); n != 0 {
		t.Errorf("an unknown command made %d Sentry requests", n)
	}
}

func TestCommandMalformedShowsParserMessage(t *testing.T) {
	c := cmdStart(t)
	for _, tc := range []struct{ text, want string }{
		{"archive", "`archive` needs an issue, e.g. `archive BACKEND-12 1d`."},
		{"assign BACKEND-1A2", "`assign` needs someone to assign to"},
		{"resolve BACKEND-1A2 tomorrow", "`resolve` takes an issue and optionally `next-release` or `current-release`"},
		{"admin role bob viewer", "isn't a person: mention them with @"},
	} {
		got := c.say("U0ALICE", tc.text)
		cmdContainsAll(t, "reply to "+tc.text, got, tc.want, "`/sentry help`")
		if strings.Contains(got, "Unknown command") {
			t.Errorf("%q: answered as an unknown command: %q", tc.text, got)
		}
	}
	if n := len(c.sentry.Requests()); n != 0 {
		t.Errorf("malformed commands made %d Sentry requests: %s", n, cmdDescribe(c.sentry.Requests()))
	}
}

func TestCommandLinkAndUnlink(t *testing.T) {
	c := cmdStart(t)
	m := c.mark()
	got := c.say("U0ALICE", "link")
	cmdContainsAll(t, "link reply", got, "Linked:", "*alice@acme.test*", "member 101, user 1001", "org role member")
	var asked bool
	for _, r := range c.since(m) {
		if r.Method == http.MethodGet && r.Path == "/api/0/organizations/acme/members/" && r.Query.Get("query") == "email:alice@acme.test" {
			asked = true
		}
	}
	if !asked {
		t.Errorf("Sentry was not asked for the member by email: %s", cmdDescribe(c.since(m)))
	}
	id, err := c.db.Identity(c.ctx(), cmdTeamID, "U0ALICE")
	if err != nil {
		t.Fatalf("no link stored: %v", err)
	}
	if id.MemberID != "101" || id.SentryUserID != "1001" || id.Email != "alice@acme.test" || id.OrgRole != "member" || id.Method != "email" {
		t.Errorf("stored link %+v", id)
	}

	got = c.say("U0ALICE", "link")
	cmdContainsAll(t, "second link reply", got, "already linked to Sentry as *alice@acme.test*", "`/sentry unlink`")

	got = c.say("U0ALICE", "unlink")
	cmdContainsAll(t, "unlink reply", got, "Unlinked")
	if _, err := c.db.Identity(c.ctx(), cmdTeamID, "U0ALICE"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after unlink the link is still there (err %v)", err)
	}
	got = c.say("U0ALICE", "unlink")
	cmdContainsAll(t, "second unlink reply", got, "weren't linked")
}

func TestCommandLinkRefusals(t *testing.T) {
	c := cmdStart(t)
	cmdAddSlackUser(c.e2e, "U0NOMAIL", "", true)
	cmdAddSlackUser(c.e2e, "U0UNCONF", "unconf@acme.test", false)
	c.sentry.AddMember(sentryfake.NewMember("103", "1003", "unconf@acme.test", "Unconfirmed", "member"))
	cmdAddSlackUser(c.e2e, "U0DAVE", "dave@acme.test", true)
	c.sentry.AddPendingInvite("104", "dave@acme.test")
	cmdAddSlackUser(c.e2e, "U0ERIN", "erin@acme.test", true)
	c.sentry.AddMember(sentryfake.NewMember("105", "1005", "erin@acme.test", "Erin", "member"))
	c.sentry.AddMember(sentryfake.NewMember("106", "1006", "erin@acme.test", "Erin Two", "admin"))

	for _, tc := range []struct {
		user, want, emailAsked string
	}{
		{"U0NOMAIL", "`users:read.email`", ""},
		{"U0UNCONF", "isn't confirmed yet", ""},
		{"U0CAROL", "No member of the Sentry organization *acme* has the email address carol@acme.test", "carol@acme.test"},
		{"U0DAVE", "Sentry invitation for dave@acme.test hasn't been accepted yet", "dave@acme.test"},
		{"U0ERIN", "2 Sentry members share the email address erin@acme.test", "erin@acme.test"},
	} {
		m := c.mark()
		got := c.say(tc.user, "link")
		cmdContainsAll(t, tc.user+"'s link reply", got, tc.want)
		if strings.Contains(got, "Linked:") {
			t.Errorf("%s: %q", tc.user, got)
		}
		if _, err := c.db.Identity(c.ctx(), cmdTeamID, tc.user); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s was linked anyway (err %v)", tc.user, err)
		}
		reqs := c.since(m)
		if tc.emailAsked == "" {
			if len(reqs) != 0 {
				t.Errorf("%s: Sentry was asked %s without a usable email", tc.user, cmdDescribe(reqs))
			}
			continue
		}
		if len(reqs) == 0 || reqs[0].Query.Get("query") != "email:"+tc.emailAsked {
			t.Errorf("%s: Sentry requests %s, want a member search for %s", tc.user, cmdDescribe(reqs), tc.emailAsked)
		}
	}
}

func TestCommandWhoami(t *testing.T) {
	c := cmdStart(t)
	c.link("U0ALICE")

	got := c.say("U0ALICE", "whoami")
	cmdContainsAll(t, "linked whoami", got, "*Linked* to Sentry member *alice@acme.test*", "member 101, user 1001",
		"*Sentry org role:* member", "*sentrybot role:* responder", "*Sentry:* reachable.")

	got = c.say("U0CAROL", "whoami")
	cmdContainsAll(t, "unlinked whoami", got, "*Not linked*", "`/sentry link`", "*sentrybot role:* viewer", "*Sentry:* reachable.")

	got = c.say(cmdAdmin, "whoami")
	cmdContainsAll(t, "admin whoami", got, "*sentrybot role:* admin (listed in auth.admins)")

	c.sentry.Fail("/api/0/", http.StatusInternalServerError, -1)
	m := c.mark()
	got = c.say("U0ALICE", "whoami")
	cmdContainsAll(t, "whoami with Sentry down", got, "*Linked* to Sentry member *alice@acme.test*", "can't reach Sentry")
	if strings.Contains(got, "reachable.") {
		t.Errorf("whoami says Sentry is reachable while it answers 500: %q", got)
	}
	var pinged bool
	for _, r := range c.since(m) {
		pinged = pinged || (r.Method == http.MethodGet && r.Path == "/api/0/")
	}
	if !pinged {
		t.Errorf("whoami did not ask Sentry: %s", cmdDescribe(c.since(m)))
	}
}

func TestCommandIssueCard(t *testing.T) {
	c := cmdStart(t)
	for _, tc := range []struct{ text, path string }{
		{"issue 4321", "/api/0/organizations/acme/issues/4321/"},
		{"issue BACKEND-1A2", "/api/0/organizations/acme/issues/BACKEND-1A2/"},
		{"issue backend-1a2", ""}, // same short id, now cached
		{"issue <https://acme.sentry.io/issues/4321/?project=2&amp;referrer=slack>", ""},
	} {
		r := c.run("U0ALICE", tc.text)
		att := c.card(r)
		cmdContainsAll(t, tc.text, blocks.PlainText(att.Blocks.BlockSet),
			"TypeError: cannot read 'total'", "BACKEND-1A2", "[Resolve]", "Assign")
		if r.ReplaceOriginal {
			t.Errorf("%s: the card replaces the original message", tc.text)
		}
		if tc.path != "" && c.sentry.Count(http.MethodGet, tc.path) != 1 {
			t.Errorf("%s: Sentry GETs of %s = %d, want 1", tc.text, tc.path, c.sentry.Count(http.MethodGet, tc.path))
		}
	}
	if n := len(c.slack.Calls("chat.postMessage")); n != 0 {
		t.Errorf("an unshared card was posted in the channel (%d chat.postMessage)", n)
	}
}

func TestCommandIssueForeignOrgRefused(t *testing.T) {
	c := cmdStart(t)
	for _, link := range []string{
		"<https://other.sentry.io/issues/4321/>",
		"<https://sentry.io.evil.com/organizations/acme/issues/4321/>",
	} {
		got := c.say("U0ALICE", "issue "+link)
		cmdContainsAll(t, "reply for "+link, got, "isn't a Sentry issue link of the *acme* organization")
	}
	if n := len(c.sentry.Requests()); n != 0 {
		t.Errorf("a foreign link reached Sentry: %s", cmdDescribe(c.sentry.Requests()))
	}
}

func TestCommandIssueUnknown(t *testing.T) {
	c := cmdStart(t)
	got := c.say("U0ALICE", "issue 9999")
	cmdContainsAll(t, "unknown issue reply", got, "There is no issue `9999` in the *acme* organization.")
	if n := c.sentry.Count(http.MethodGet, "/api/0/organizations/acme/issues/9999/"); n != 1 {
		t.Errorf("Sentry asked for 9999 %d times, want 1", n)
	}
}

// postedTS finds the ts Slack gave the bot's last chat.postMessage. The
// fake hands out increasing timestamps but records only requests, so a
// message of our own posted right after tells which one the bot got.
func (c *cmdEnv) postedTS() string {
	c.t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := client.PostForm(c.slack.APIURL()+"chat.postMessage",
		url.Values{"token": {testBotToken}, "channel": {"C0PROBE"}, "text": {"probe"}})
	if err != nil {
		c.t.Fatalf("probe post: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		OK bool   `json:"ok"`
		TS string `json:"ts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || !body.OK {
		c.t.Fatalf("probe post: ok=%v err=%v", body.OK, err)
	}
	sec, micro, ok := strings.Cut(body.TS, ".")
	s, err1 := strconv.ParseInt(sec, 10, 64)
	u, err2 := strconv.ParseInt(micro, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		c.t.Fatalf("probe ts %q", body.TS)
	}
	if u == 0 {
		s, u = s-1, 999_999
	} else {
		u--
	}
	return fmt.Sprintf("%d.%06d", s, u)
}

func TestCommandIssueShareThenResolveUpdatesPost(t *testing.T) {
	c := cmdStart(t)
	c.link("U0ALICE")
	hook, _ := c.command("U0ALICE", "issue BACKEND-1A2 share")
	posts, err := c.slack.WaitCalls(c.ctx(), "chat.postMessage", 1)
	if err != nil {
		t.Fatalf("no chat.postMessage: %v\nlogs:\n%s", err, c.logs)
	}
	post := posts[0]
	if post.Form.Get("channel") != cmdChannel || post.Error != "" {
		t.Fatalf("posted to %q (error %q), want %s", post.Form.Get("channel"), post.Error, cmdChannel)
	}
	var atts []slack.Attachment
	if err := json.Unmarshal([]byte(post.Arg("attachments")), &atts); err != nil || len(atts) != 1 {
		t.Fatalf("posted attachments %q: %v", post.Arg("attachments"), err)
	}
	cmdContainsAll(t, "shared card", blocks.PlainText(atts[0].Blocks.BlockSet), "TypeError: cannot read 'total'", "BACKEND-1A2", "[Resolve]")
	ts := c.postedTS()

	// Click Resolve on the posted card, as bob would see it in the channel.
	var blockID, value string
	for _, b := range atts[0].Blocks.BlockSet {
		if ab, ok := b.(*slack.ActionBlock); ok {
			for _, el := range ab.Elements.ElementSet {
				if btn, ok := el.(*slack.ButtonBlockElement); ok && btn.ActionID == blocks.ActionResolve {
					blockID, value = ab.BlockID, btn.Value
				}
			}
		}
	}
	if blockID == "" {
		t.Fatalf("the shared card has no Resolve button")
	}
	m := c.mark()
	clickHook := c.slack.ResponseURL("actions")
	id, env := slackfake.BlockActionsEnvelope(slackfake.BlockAction{
		TeamID: cmdTeamID, UserID: "U0ALICE", ChannelID: cmdChannel, MessageTS: ts,
		ActionID: blocks.ActionResolve, BlockID: blockID, Value: value, Text: "Resolve", ResponseURL: clickHook,
	})
	c.send(env, id)
	updates, err := c.slack.WaitCalls(c.ctx(), "chat.update", 1)
	if err != nil {
		t.Fatalf("no chat.update: %v\nlogs:\n%s", err, c.logs)
	}
	up := updates[0]
	if up.Error != "" || up.Form.Get("channel") != cmdChannel || up.Form.Get("ts") != ts {
		t.Fatalf("chat.update channel=%q ts=%q error=%q, want %s %s", up.Form.Get("channel"), up.Form.Get("ts"), up.Error, cmdChannel, ts)
	}
	var newAtts []slack.Attachment
	if err := json.Unmarshal([]byte(up.Arg("attachments")), &newAtts); err != nil || len(newAtts) != 1 {
		t.Fatalf("updated attachments %q: %v", up.Arg("attachments"), err)
	}
	cmdContainsAll(t, "updated card", cmdUnescapedJSON(newAtts[0].Blocks), "Resolved by <@U0ALICE>")
	cmdContainsAll(t, "updated card", blocks.PlainText(newAtts[0].Blocks.BlockSet), "[Unresolve]")
	if body := c.onePut(c.since(m), "4321"); body["status"] != "resolved" {
		t.Errorf("PUT body %v", body)
	}
	c.checkAudit(c.lastAudit("U0ALICE"), "resolve", "4321", "allow", "allowed_responder", "ok", "status=resolved")
	for _, h := range []string{hook, clickHook} {
		for _, call := range c.slack.Calls("response_url") {
			if call.Hook == h {
				t.Errorf("a response_url post although the card was shared and updated in place: %s", call.JSON)
			}
		}
	}
}

// cmdAddIssues adds n more unresolved errors, BACKEND-100 onwards.
func cmdAddIssues(s *e2e, n int) {
	for i := range n {
		id := strconv.Itoa(5000 + i)
		s.sentry.AddIssue(sentryfake.NewIssue(id, fmt.Sprintf("BACKEND-%X", 0x100+i), fmt.Sprintf("ValueError: case %d", i)))
	}
}

// cmdSearchPage reads a search reply: its result rows and its More
// button's value ("" when there is none).
func cmdSearchPage(t *testing.T, r cmdReply) (rows []string, more string) {
	t.Helper()
	if r.Blocks == nil {
		t.Fatalf("search reply without blocks: %s", r.Raw)
	}
	for _, b := range r.Blocks.BlockSet {
		switch v := b.(type) {
		case *slack.SectionBlock:
			if strings.HasPrefix(v.BlockID, blocks.BlockSearchResult) {
				rows = append(rows, v.Text.Text)
			}
		case *slack.ActionBlock:
			for _, el := range v.Elements.ElementSet {
				if btn, ok := el.(*slack.ButtonBlockElement); ok && btn.ActionID == blocks.ActionSearchMore {
					more = btn.Value
				}
			}
		}
	}
	return rows, more
}

func (c *cmdEnv) clickMore(user, value string) cmdReply {
	c.t.Helper()
	hook := c.slack.ResponseURL("actions")
	id, env := slackfake.BlockActionsEnvelope(slackfake.BlockAction{
		TeamID: cmdTeamID, UserID: user, ChannelID: cmdChannel,
		ActionID: blocks.ActionSearchMore, BlockID: blocks.BlockSearchMore, Value: value, Text: "More", ResponseURL: hook,
	})
	if ack := c.send(env, id); len(ack.Payload) != 0 {
		c.t.Errorf("the More click's ack carried %s", ack.Payload)
	}
	return c.replies(hook, 1)[0]
}

func cmdIssueSearches(reqs []sentryfake.Request) []sentryfake.Request {
	var out []sentryfake.Request
	for _, r := range reqs {
		if r.Method == http.MethodGet && r.Path == "/api/0/organizations/acme/issues/" {
			out = append(out, r)
		}
	}
	return out
}

func TestCommandSearchPages(t *testing.T) {
	c := cmdStart(t)
	cmdAddIssues(c.e2e, 23) // 25 with the two every test has
	const q = "is:unresolved level:error"

	m := c.mark()
	r := c.run("U0ALICE", "search "+q)
	rows1, more := cmdSearchPage(t, r)
	if len(rows1) != 10 || more == "" {
		t.Fatalf("page 1: %d rows, More %q; want 10 and a More button\n%s", len(rows1), more, r.Raw)
	}
	if r.ReplaceOriginal {
		t.Errorf("the first page replaces a message")
	}
	searches := cmdIssueSearches(c.since(m))
	if len(searches) != 1 || searches[0].Query.Get("query") != q || searches[0].Query.Get("limit") != "10" || searches[0].Query.Get("cursor") != "" {
		t.Fatalf("Sentry searches %s, want one for %q with limit 10", cmdDescribe(searches), q)
	}
	var mv struct {
		Cursor string `json:"c"`
	}
	if err := json.Unmarshal([]byte(more), &mv); err != nil || mv.Cursor == "" {
		t.Fatalf("More value %q carries no cursor (%v)", more, err)
	}

	m = c.mark()
	r2 := c.clickMore("U0ALICE", more)
	if !r2.ReplaceOriginal || r2.ResponseType != slack.ResponseTypeEphemeral {
		t.Errorf("page 2 replace_original=%v response_type=%q, want true and ephemeral", r2.ReplaceOriginal, r2.ResponseType)
	}
	rows2, more2 := cmdSearchPage(t, r2)
	cmdContainsAll(t, "page 2", r2.plain(), "page 2")
	if len(rows2) != 10 || more2 == "" {
		t.Fatalf("page 2: %d rows, More %q; want 10 and a More button", len(rows2), more2)
	}
	searches = cmdIssueSearches(c.since(m))
	if len(searches) != 1 || searches[0].Query.Get("cursor") != mv.Cursor || searches[0].Query.Get("query") != q {
		t.Errorf("page 2 searches %s, want the query with cursor %q", cmdDescribe(searches), mv.Cursor)
	}
	seen := map[string]bool{}
	for _, row := range rows1 {
		seen[row] = true
	}
	for _, row := range rows2 {
		if seen[row] {
			t.Errorf("page 2 repeats a row of page 1: %q", row)
		}
	}

	r3 := c.clickMore("U0ALICE", more2)
	rows3, more3 := cmdSearchPage(t, r3)
	if len(rows3) != 5 || more3 != "" {
		t.Errorf("last page: %d rows, More %q; want 5 and no More button", len(rows3), more3)
	}
	if !r3.ReplaceOriginal {
		t.Errorf("the last page does not replace the message")
	}
	cmdContainsAll(t, "last page", r3.plain(), "page 3")
}

func TestCommandSearchAssignedMe(t *testing.T) {
	c := cmdStart(t)
	c.link("U0ALICE")
	c.sentry.SetIssue("4321", func(is *sentry.Issue) {
		is.AssignedTo = &sentry.Assignee{Type: "user", ID: "1001", Name: "Alice", Email: "alice@acme.test"}
	})

	m := c.mark()
	r := c.run("U0ALICE", "search is:unresolved assigned:me")
	searches := cmdIssueSearches(c.since(m))
	if len(searches) != 1 || searches[0].Query.Get("query") != "is:unresolved assigned:alice@acme.test" {
		t.Fatalf("Sentry searches %s, want assigned:alice@acme.test", cmdDescribe(searches))
	}
	rows, _ := cmdSearchPage(t, r)
	if len(rows) != 1 || !strings.Contains(rows[0], "BACKEND-1A2") {
		t.Errorf("rows %q, want only BACKEND-1A2", rows)
	}

	m = c.mark()
	got := c.say("U0CAROL", "search assigned:me")
	cmdContainsAll(t, "unlinked assigned:me", got, "`assigned:me`", "`/sentry link`")
	if s := cmdIssueSearches(c.since(m)); len(s) != 0 {
		t.Errorf("an unlinked assigned:me reached Sentry: %s", cmdDescribe(s))
	}
}

func TestCommandSearchRejectedShowsSentryMessage(t *testing.T) {
	c := cmdStart(t)
	got := c.say("U0ALICE", "search browser.name:Firefox")
	cmdContainsAll(t, "rejected search", got, "Sentry couldn't run that search:", "does not support the key", "browser.name")
	if s := cmdIssueSearches(c.sentry.Requests()); len(s) != 1 || s[0].Query.Get("query") != "browser.name:Firefox" {
		t.Errorf("Sentry searches %s", cmdDescribe(s))
	}

	r := c.run("U0ALICE", "search level:fatal")
	cmdContainsAll(t, "search without results", r.plain(), "No issues match `level:fatal`.")
	if rows, more := cmdSearchPage(t, r); len(rows) != 0 || more != "" {
		t.Errorf("an empty search shows %d rows and More %q", len(rows), more)
	}
}

func TestCommandResolveAndUnresolve(t *testing.T) {
	c := cmdStart(t)
	c.link("U0ALICE")

	m := c.mark()
	r := c.run("U0ALICE", "resolve BACKEND-1A2")
	att := c.card(r)
	cmdContainsAll(t, "resolved card", cmdUnescapedJSON(att.Blocks), "Resolved by <@U0ALICE>")
	cmdContainsAll(t, "resolved card", blocks.PlainText(att.Blocks.BlockSet), "BACKEND-1A2", "[Unresolve]")
	if r.ReplaceOriginal {
		t.Errorf("a command's card replaced the original message")
	}
	if body := c.onePut(c.since(m), "4321"); body["status"] != "resolved" || body["statusDetails"] != nil {
		t.Errorf("PUT body %v, want just status resolved", body)
	}
	c.checkAudit(c.lastAudit("U0ALICE"), "resolve", "4321", "allow", "allowed_responder", "ok", "status=resolved")
	if e := c.lastAudit("U0ALICE"); e.SentryMemberID != "101" {
		t.Errorf("audit entry member %q, want 101", e.SentryMemberID)
	}

	m = c.mark()
	r = c.run("U0ALICE", "unresolve BACKEND-1A2")
	cmdContainsAll(t, "reopened card", cmdUnescapedJSON(c.card(r).Blocks), "Reopened by <@U0ALICE>")
	if body := c.onePut(c.since(m), "4321"); body["status"] != "unresolved" {
		t.Errorf("PUT body %v", body)
	}
	c.checkAudit(c.lastAudit("U0ALICE"), "unresolve", "4321", "allow", "allowed_responder", "ok", "status=unresolved")
	if is, _ := c.sentry.Issue("4321"); is.Status != sentry.StatusUnresolved {
		t.Errorf("issue status %q after unresolve", is.Status)
	}
}

func TestCommandResolveNextRelease(t *testing.T) {
	c := cmdStart(t)
	c.link("U0ALICE")

	m := c.mark()
	got := c.say("U0ALICE", "resolve BACKEND-1A2 next-release")
	cmdContainsAll(t, "next-release without releases", got, "no releases in Sentry yet")
	body := c.onePut(c.since(m), "4321")
	if sd, _ := body["statusDetails"].(map[string]any); body["status"] != "resolved" || sd["inNextRelease"] != true {
		t.Errorf("PUT body %v, want resolved inNextRelease", body)
	}
	c.checkAudit(c.lastAudit("U0ALICE"), "resolve", "4321", "allow", "allowed_responder", "error: ", "status=resolved inNextRelease")
	if is, _ := c.sentry.Issue("4321"); is.Status != sentry.StatusUnresolved {
		t.Errorf("issue status %q after a refused resolve", is.Status)
	}

	c.sentry.AddRelease("backend", "backend@2.4.0")
	m = c.mark()
	r := c.run("U0ALICE", "resolve BACKEND-1A2 next-release")
	cmdContainsAll(t, "card", cmdUnescapedJSON(c.card(r).Blocks), "Resolved in the next release by <@U0ALICE>")
	body = c.onePut(c.since(m), "4321")
	if sd, _ := body["statusDetails"].(map[string]any); body["status"] != "resolved" || sd["inNextRelease"] != true {
		t.Errorf("PUT body %v, want resolved inNextRelease", body)
	}
	c.checkAudit(c.lastAudit("U0ALICE"), "resolve", "4321", "allow", "allowed_responder", "ok", "status=resolved inNextRelease")
	if is, _ := c.sentry.Issue("4321"); is.Status != sentry.StatusResolved {
		t.Errorf("issue status %q", is.Status)
	}
}

func TestCommandArchiveAndUnarchive(t *testing.T) {
	c := cmdStart(t)
	c.link("U0ALICE")

	m := c.mark()
	r := c.run("U0ALICE", "archive BACKEND-1A2 1d")
	cmdContainsAll(t, "archived card", cmdUnescapedJSON(c.card(r).Blocks), "Archived for 1 day by <@U0ALICE>")
	body := c.onePut(c.since(m), "4321")
	sd, _ := body["statusDetails"].(map[string]any)
	if body["status"] != "ignored" || body["substatus"] != sentry.SubstatusArchivedUntilConditionMet || sd["ignoreDuration"] != float64(1440) {
		t.Errorf("PUT body %v, want ignored for 1440 minutes", body)
	}
	c.checkAudit(c.lastAudit("U0ALICE"), "archive", "4321", "allow", "allowed_responder", "ok", "status=ignored ignoreDuration=1440")

	m = c.mark()
	r = c.run("U0ALICE", "archive BACKEND-1A3 100")
	cmdContainsAll(t, "archived card", cmdUnescapedJSON(c.card(r).Blocks), "Archived until 100 more events by <@U0ALICE>")
	body = c.onePut(c.since(m), "4322")
	sd, _ = body["statusDetails"].(map[string]any)
	if body["status"] != "ignored" || sd["ignoreCount"] != float64(100) || sd["ignoreDuration"] != nil {
		t.Errorf("PUT body %v, want ignored until 100 events", body)
	}
	c.checkAudit(c.lastAudit("U0ALICE"), "archive", "4322", "allow", "allowed_responder", "ok", "status=ignored ignoreCount=100")

	m = c.mark()
	r = c.run("U0ALICE", "unarchive BACKEND-1A2")
	cmdContainsAll(t, "unarchived card", cmdUnescapedJSON(c.card(r).Blocks), "Unarchived by <@U0ALICE>")
	if body := c.onePut(c.since(m), "4321"); body["status"] != "unresolved" {
		t.Errorf("PUT body %v", body)
	}
	c.checkAudit(c.lastAudit("U0ALICE"), "unarchive", "4321", "allow", "allowed_responder", "ok", "status=unresolved")
	if is, _ := c.sentry.Issue("4321"); is.Status != sentry.StatusUnresolved {
		t.Errorf("issue status %q after unarchive", is.Status)
	}
}

func TestCommandAssign(t *testing.T) {
	c := cmdStart(t)
	c.link("U0ALICE")
	c.link("U0BOB")
	c.sentry.AddTeam(sentry.Team{ID: "7", Slug: "payments", Name: "Payments"})

	assigned := func(wantType, wantID string) {
		t.Helper()
		is, _ := c.sentry.Issue("4321")
		switch {
		case wantType == "" && is.AssignedTo != nil:
			t.Errorf("issue still assigned to %+v", is.AssignedTo)
		case wantType != "" && (is.AssignedTo == nil || is.AssignedTo.Type != wantType || is.AssignedTo.ID != wantID):
			t.Errorf("issue assigned to %+v, want %s:%s", is.AssignedTo, wantType, wantID)
		}
	}
	for _, tc := range []struct {
		text, actor, footer, action, wantType, wantID string
	}{
		{"assign BACKEND-1A2 <@U0BOB|bob>", "user:1002", "Assigned to <@U0BOB> by <@U0ALICE>", "assign", "user", "1002"},
		{"assign BACKEND-1A2 #payments", "team:7", "Assigned to #payments by <@U0ALICE>", "assign", "team", "7"},
		{"assign BACKEND-1A2 me", "user:1001", "Assigned to themselves by <@U0ALICE>", "assign", "user", "1001"},
		{"assign BACKEND-1A2 none", "", "Unassigned by <@U0ALICE>", "unassign", "", ""},
	} {
		m := c.mark()
		r := c.run("U0ALICE", tc.text)
		cmdContainsAll(t, tc.text, cmdUnescapedJSON(c.card(r).Blocks), tc.footer)
		if body := c.onePut(c.since(m), "4321"); body["assignedTo"] != tc.actor || len(body) != 1 {
			t.Errorf("%s: PUT body %v, want only assignedTo %q", tc.text, body, tc.actor)
		}
		c.checkAudit(c.lastAudit("U0ALICE"), tc.action, "4321", "allow", "allowed_responder", "ok", "assignedTo="+tc.actor)
		assigned(tc.wantType, tc.wantID)
	}

	for _, tc := range []struct{ text, want string }{
		{"assign BACKEND-1A2 <@U0CAROL|carol>", "<@U0CAROL> hasn't linked their Slack account to Sentry"},
		{"assign BACKEND-1A2 #growth", "There is no Sentry team `#growth` in the *acme* organization."},
	} {
		before := len(c.audit(store.AuditFilter{}))
		m := c.mark()
		got := c.say("U0ALICE", tc.text)
		cmdContainsAll(t, tc.text, got, tc.want)
		c.noPut(c.since(m), tc.text+" was refused")
		if after := len(c.audit(store.AuditFilter{})); after != before {
			t.Errorf("%s: %d audit entries added for a change never attempted", tc.text, after-before)
		}
	}
}

func TestCommandChangesRefusedLikeButtons(t *testing.T) {
	c := cmdStart(t)
	cmdAddSlackUser(c.e2e, "U0VIC", "vic@acme.test", true)
	c.sentry.AddMember(sentryfake.NewMember("107", "1007", "vic@acme.test", "Vic", "billing"))
	c.link("U0VIC")

	m := c.mark()
	got := c.say("U0VIC", "resolve BACKEND-1A2")
	cmdContainsAll(t, "viewer's resolve", got, "Your sentrybot role is *viewer*", "<@"+cmdAdmin+">")
	c.noPut(c.since(m), "a viewer was refused")
	c.checkAudit(c.lastAudit("U0VIC"), "resolve", "4321", "deny", "viewer_role", "", "status=resolved")

	m = c.mark()
	got = c.say("U0VIC", "assign BACKEND-1A2 me")
	cmdContainsAll(t, "viewer's assign", got, "*viewer*")
	c.noPut(c.since(m), "a viewer was refused")
	c.checkAudit(c.lastAudit("U0VIC"), "assign", "4321", "deny", "viewer_role", "", "")

	m = c.mark()
	got = c.say("U0CAROL", "archive BACKEND-1A2 forever")
	cmdContainsAll(t, "unlinked archive", got, "`/sentry link`")
	c.noPut(c.since(m), "an unlinked user was refused")
	c.checkAudit(c.lastAudit("U0CAROL"), "archive", "4321", "deny", "not_linked", "", "status=ignored substatus=archived_forever")

	if is, _ := c.sentry.Issue("4321"); is.Status != sentry.StatusUnresolved || is.AssignedTo != nil {
		t.Errorf("a refused command changed the issue: %s %+v", is.Status, is.AssignedTo)
	}
}

func TestCommandMixedCaseAndSpaces(t *testing.T) {
	c := cmdStart(t)
	c.link("U0ALICE")
	m := c.mark()
	r := c.run("U0ALICE", "  RESOLVE   backend-1a2  ")
	cmdContainsAll(t, "card", cmdUnescapedJSON(c.card(r).Blocks), "Resolved by <@U0ALICE>")
	if body := c.onePut(c.since(m), "4321"); body["status"] != "resolved" {
		t.Errorf("PUT body %v", body)
	}
	c.checkAudit(c.lastAudit("U0ALICE"), "resolve", "4321", "allow", "allowed_responder", "ok", "status=resolved")
}

func TestCommandRepliesAfterTheAck(t *testing.T) {
	c := cmdStart(t)
	c.sentry.SetLatency(300 * time.Millisecond)
	sent := time.Now()
	hook, ack := c.command("U0ALICE", "issue BACKEND-1A2")
	if d := ack.At.Sub(sent); d > 250*time.Millisecond {
		t.Errorf("the ack took %v: it waited for Sentry", d)
	}
	r := c.replies(hook, 1)[0]
	if !r.Call.At.After(ack.At) {
		t.Errorf("the reply (%v) did not come after the ack (%v)", r.Call.At, ack.At)
	}
	if len(ack.Payload) != 0 {
		t.Errorf("ack payload %s", ack.Payload)
	}
	c.card(r)
}

func TestCommandAdminRoleRefusedForNonAdmin(t *testing.T) {
	c := cmdStart(t)
	c.link("U0ALICE")
	got := c.say("U0ALICE", "admin role <@U0BOB|bob> viewer")
	cmdContainsAll(t, "non-admin's admin role", got, "Only sentrybot admins can change sentrybot roles", "<@"+cmdAdmin+">")
	if role, err := c.db.RoleOverride(c.ctx(), cmdTeamID, "U0BOB"); err != nil || role != "" {
		t.Errorf("bob's override is %q (err %v) after a refused admin role", role, err)
	}
	e := c.lastAudit("U0ALICE")
	if e.Action != "admin.role" || e.Decision != "deny" || e.Reason != "admin_only" || !strings.Contains(e.Detail, "U0BOB") || !strings.Contains(e.Detail, "viewer") {
		t.Errorf("audit entry %+v, want a denied admin.role naming U0BOB and viewer", e)
	}
}

func TestCommandAdminRoleByAdmin(t *testing.T) {
	c := cmdStart(t)
	c.link("U0BOB")

	got := c.say(cmdAdmin, "admin role <@U0BOB|bob> viewer")
	cmdContainsAll(t, "admin role reply", got, "<@U0BOB> is now a sentrybot *viewer*")
	if role, err := c.db.RoleOverride(c.ctx(), cmdTeamID, "U0BOB"); err != nil || role != "viewer" {
		t.Errorf("bob's override is %q (err %v), want viewer", role, err)
	}
	e := c.lastAudit(cmdAdmin)
	if e.Action != "admin.role" || e.Decision != "allow" || e.Reason != "allowed_admin" || e.Outcome != "ok" || !strings.Contains(e.Detail, "U0BOB") {
		t.Errorf("audit entry %+v", e)
	}

	m := c.mark()
	got = c.say("U0BOB", "resolve BACKEND-1A2")
	cmdContainsAll(t, "demoted bob's resolve", got, "*viewer*")
	c.noPut(c.since(m), "bob is a viewer now")
	c.checkAudit(c.lastAudit("U0BOB"), "resolve", "4321", "deny", "viewer_role", "", "status=resolved")

	got = c.say(cmdAdmin, "admin role <@U0BOB|bob> default")
	cmdContainsAll(t, "admin role default reply", got, "<@U0BOB> is back to the role their Sentry membership gives them")
	if role, err := c.db.RoleOverride(c.ctx(), cmdTeamID, "U0BOB"); err != nil || role != "" {
		t.Errorf("bob's override is %q (err %v) after default", role, err)
	}

	m = c.mark()
	r := c.run("U0BOB", "resolve BACKEND-1A2")
	cmdContainsAll(t, "bob's card", cmdUnescapedJSON(c.card(r).Blocks), "Resolved by <@U0BOB>")
	if body := c.onePut(c.since(m), "4321"); body["status"] != "resolved" {
		t.Errorf("PUT body %v", body)
	}
	c.checkAudit(c.lastAudit("U0BOB"), "resolve", "4321", "allow", "allowed_responder", "ok", "status=resolved")
}

func TestCommandAdminAudit(t *testing.T) {
	c := cmdStart(t)
	c.link("U0ALICE")
	c.link("U0BOB")
	c.run("U0ALICE", "resolve BACKEND-1A2")
	c.run("U0BOB", "archive BACKEND-1A3")
	c.say("U0CAROL", "unresolve BACKEND-1A2")

	all := c.say(cmdAdmin, "admin audit")
	cmdContainsAll(t, "admin audit", all, "*Audit log:* the last 20 attempted changes",
		"<@U0ALICE> resolve 4321: *allow* (allowed_responder) → ok",
		"<@U0BOB> archive 4322: *allow* (allowed_responder) → ok",
		"<@U0CAROL> unresolve 4321: *deny* (not_linked)")

	byIssue := c.say(cmdAdmin, "admin audit BACKEND-1A2")
	cmdContainsAll(t, "admin audit BACKEND-1A2", byIssue, "on issue 4321", "<@U0ALICE> resolve 4321", "<@U0CAROL> unresolve 4321")
	if strings.Contains(byIssue, "4322") {
		t.Errorf("the audit of 4321 lists 4322:\n%s", byIssue)
	}

	byUser := c.say(cmdAdmin, "admin audit <@U0BOB|bob>")
	cmdContainsAll(t, "admin audit @bob", byUser, "by <@U0BOB>", "<@U0BOB> archive 4322")
	if strings.Contains(byUser, "U0ALICE") || strings.Contains(byUser, "U0CAROL") {
		t.Errorf("the audit of bob lists others:\n%s", byUser)
	}

	for _, text := range []string{"admin audit", "admin audit BACKEND-1A2"} {
		got := c.say("U0ALICE", text)
		cmdContainsAll(t, "non-admin "+text, got, "Only sentrybot admins can read the audit log")
		if strings.Contains(got, "resolve 4321") {
			t.Errorf("a non-admin was shown the audit log:\n%s", got)
		}
	}
}
