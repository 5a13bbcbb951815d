package handlers

// The registry test finds every control sentrybot renders and every /sentry
// command its help lists, from the code rather than from a hand-written
// list, and drives each through the real handlers, the real authorization
// module and a real store. Whatever is not declared read-only below must be
// refused for an unlinked and for a viewer user, with a denial in the audit
// log, a private answer and no change anywhere, and must be allowed for an
// admin. A button, menu choice or command added later without going through
// the authorization module fails it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"sentrybot/authz"
	"sentrybot/blocks"
	"sentrybot/bot"
	"sentrybot/links"
	"sentrybot/sentry"
	"sentrybot/slashcmd"
	"sentrybot/store"
)

const (
	regOrg     = "acme"
	regTeam    = "T0001"
	regChannel = "C0REG"
	regIssue   = "4321"
	regShortID = "BACKEND-1A2"

	regAdmin    = "U0ADMIN" // configured admin, linked to an owner
	regViewer   = "U0VERA"  // linked to a billing member: a viewer
	regUnlinked = "U0CAROL" // not linked
	regBob      = "U0BOB"   // linked member, the target of assignments and roles
)

// regReadOnlyActions are the controls that change nothing anywhere, so need
// no decision. Anything else a card or message offers must be authorized.
var regReadOnlyActions = map[string]string{
	blocks.ActionSearchMore: "pages a search result",
	blocks.ActionLoginLink:  "opens the sign-in page in the browser",
}

// regReadOnlyCommands are the commands (verb, or "admin <sub>") that change
// nothing in Sentry or in sentrybot's shared state. link and unlink change
// only the caller's own link, proven by their Slack email.
var regReadOnlyCommands = map[string]string{
	"help":          "shows the commands",
	"link":          "links the caller by their confirmed email",
	"unlink":        "removes the caller's own link",
	"whoami":        "describes the caller",
	"issue":         "shows a card (share posts it in the channel)",
	"search":        "searches issues",
	"subscriptions": "lists subscriptions (all: admins, checked)",
	"admin audit":   "reads the audit log (admins, checked)",
}

// regSentry is Sentry: one issue, a few members and a team. It records
// every write.
type regSentry struct {
	mu     sync.Mutex
	issue  sentry.Issue
	writes []string
}

var (
	_ IssueChanger       = (*regSentry)(nil)
	_ IssueFetcher       = (*regSentry)(nil)
	_ IssueSearcher      = (*regSentry)(nil)
	_ SentryPinger       = (*regSentry)(nil)
	_ Directory          = (*regSentry)(nil)
	_ authz.MemberLookup = (*regSentry)(nil)
	_ SlackUserInfo      = regSlackUsers{}
	_ IssueMemo          = regMemo{}
	_ Replier            = (*regReplies)(nil)
	_ Responder          = (*regReplies)(nil)
	_ CardUpdater        = (*regReplies)(nil)
	_ MessagePoster      = (*regReplies)(nil)
)

type regMember struct {
	id, userID, email, role string
}

var regMembers = []regMember{
	{"301", "3001", "admin@acme.test", "owner"},
	{"302", "3002", "bob@acme.test", "member"},
	{"303", "3003", "vera@acme.test", "billing"},
}

func (s *regSentry) set(is sentry.Issue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issue = is
}

func (s *regSentry) writeCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.writes)
}

func (s *regSentry) writesSince(n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.writes[n:]...)
}

func (s *regSentry) Issue(ctx context.Context, org, issueID string) (*sentry.Issue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if org != regOrg || (issueID != s.issue.ID && !strings.EqualFold(issueID, s.issue.ShortID)) {
		return nil, &sentry.Error{Op: "get issue", StatusCode: 404, Kind: sentry.KindNotFound}
	}
	is := s.issue
	return &is, nil
}

func (s *regSentry) UpdateIssue(ctx context.Context, org, issueID string, u sentry.IssueUpdate) error {
	b, _ := json.Marshal(u)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, fmt.Sprintf("PUT %s/%s %s", org, issueID, b))
	return nil
}

func (s *regSentry) SearchIssues(ctx context.Context, org string, q sentry.IssueQuery) (*sentry.IssuePage, error) {
	return &sentry.IssuePage{}, nil
}

func (s *regSentry) Whoami(ctx context.Context) (*sentry.Auth, error) { return &sentry.Auth{}, nil }

func (s *regSentry) Members(ctx context.Context, org, query string) ([]sentry.Member, error) {
	email, _ := strings.CutPrefix(query, "email:")
	var out []sentry.Member
	for _, m := range regMembers {
		if query == "" || strings.EqualFold(m.email, email) {
			out = append(out, sentry.Member{ID: m.id, Email: m.email, Name: m.email, Role: m.role,
				User: &sentry.User{ID: m.userID, Email: m.email}})
		}
	}
	return out, nil
}

func (s *regSentry) Teams(ctx context.Context, org string) ([]sentry.Team, error) {
	return []sentry.Team{{ID: "31", Slug: "payments", Name: "Payments"}}, nil
}

func (s *regSentry) Member(ctx context.Context, org, memberID string) (authz.MemberInfo, error) {
	for _, m := range regMembers {
		if m.id == memberID {
			return authz.MemberInfo{ID: m.id, UserID: m.userID, Email: m.email, OrgRole: m.role}, nil
		}
	}
	return authz.MemberInfo{}, authz.ErrMemberNotFound
}

type regSlackUsers struct{}

func (regSlackUsers) GetUserInfoContext(ctx context.Context, user string, _ ...slack.GetUserInfoOption) (*slack.User, error) {
	return &slack.User{ID: user, TeamID: regTeam, IsEmailConfirmed: true,
		Profile: slack.UserProfile{Email: strings.ToLower(strings.TrimPrefix(user, "U0")) + "@acme.test"}}, nil
}

type regMemo struct{}

func (regMemo) Put(org, issueID string, is *sentry.Issue) {}
func (regMemo) Forget(org, issueID string)                {}

// regReply is one answer shown to a user or posted in a channel.
type regReply struct {
	kind, hook, user, text string
}

// regReplies is Slack: every answer, card update and post is recorded.
type regReplies struct {
	mu  sync.Mutex
	all []regReply
}

func (r *regReplies) add(x regReply) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, x)
	return nil
}

func (r *regReplies) since(n int) []regReply {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]regReply(nil), r.all[n:]...)
}

func (r *regReplies) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.all)
}

func (r *regReplies) Ephemeral(ctx context.Context, responseURL, channelID, userID, text string) error {
	return r.add(regReply{kind: "ephemeral", hook: responseURL, user: userID, text: text})
}

func (r *regReplies) ReplaceOriginal(ctx context.Context, responseURL string, att slack.Attachment) error {
	return r.add(regReply{kind: "replace", hook: responseURL, text: att.Fallback})
}

func (r *regReplies) EphemeralCard(ctx context.Context, responseURL string, att slack.Attachment) error {
	return r.add(regReply{kind: "card", hook: responseURL, text: att.Fallback})
}

func (r *regReplies) Respond(ctx context.Context, responseURL string, msg *slack.WebhookMessage) error {
	kind := "respond"
	if msg.ResponseType != slack.ResponseTypeEphemeral {
		kind = "respond-public"
	}
	return r.add(regReply{kind: kind, hook: responseURL, text: msg.Text})
}

func (r *regReplies) UnfurlMessageContext(ctx context.Context, channelID, ts string, u map[string]slack.Attachment, _ ...slack.MsgOption) (string, string, string, error) {
	return channelID, ts, "", r.add(regReply{kind: "unfurl", text: channelID + " " + ts})
}

func (r *regReplies) UpdateMessageContext(ctx context.Context, channelID, ts string, _ ...slack.MsgOption) (string, string, string, error) {
	return channelID, ts, "", r.add(regReply{kind: "update", text: channelID + " " + ts})
}

func (r *regReplies) PostMessageContext(ctx context.Context, channelID string, _ ...slack.MsgOption) (string, string, error) {
	return channelID, "1.000001", r.add(regReply{kind: "post", text: channelID})
}

// regWorld is the handlers wired as serve.go wires them, over fakes of
// Slack and Sentry, the real authorization module and a real store.
type regWorld struct {
	t        *testing.T
	ctx      context.Context
	db       *store.DB
	sentry   *regSentry
	replies  *regReplies
	router   *ActionRouter
	commands *Commands
	suggest  *Assignees
	hooks    int
}

func regStart(t *testing.T) *regWorld {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "registry.db"))
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	for _, l := range []struct {
		user string
		m    regMember
	}{{regAdmin, regMembers[0]}, {regBob, regMembers[1]}, {regViewer, regMembers[2]}} {
		if err := db.LinkIdentity(ctx, store.Identity{TeamID: regTeam, SlackUserID: l.user, MemberID: l.m.id,
			SentryUserID: l.m.userID, Email: l.m.email, OrgRole: l.m.role, Method: "email", LinkedBy: l.user}); err != nil {
			t.Fatalf("linking %s: %v", l.user, err)
		}
	}
	w := &regWorld{t: t, ctx: ctx, db: db, sentry: &regSentry{}, replies: &regReplies{}}
	w.sentry.set(regCardIssue(sentry.StatusUnresolved, false))
	auth := authz.New(db, w.sentry, nil, zerolog.Nop(), authz.Options{Org: regOrg, Admins: []string{regAdmin}})
	triage := NewTriage(regOrg, w.sentry, regMemo{}, auth, w.replies, w.replies, zerolog.Nop())
	w.commands = NewCommands(CommandDeps{
		Org: regOrg, Links: links.NewMatcher(regOrg, []string{"sentry.io"}), Issues: w.sentry, Search: w.sentry,
		Sentry: w.sentry, Directory: w.sentry, Identities: NewIdentities(regOrg, regSlackUsers{}, w.sentry, auth, db, nil),
		IDs: db, Triage: triage, Auth: auth, Roles: auth, Overrides: db, AuditLog: db, Poster: w.replies,
		Reply: w.replies, Subs: db, Log: zerolog.Nop(),
	})
	w.router = &ActionRouter{Triage: triage, Commands: w.commands}
	w.suggest = NewAssignees(regOrg, w.sentry, db, w.sentry, nil)
	return w
}

// regCardIssue is the issue in a state a card is drawn for.
func regCardIssue(status string, assigned bool) sentry.Issue {
	is := sentry.Issue{ID: regIssue, ShortID: regShortID, Title: "TypeError: boom", Level: "error", Status: status,
		Permalink: "https://acme.sentry.io/issues/" + regIssue + "/", Project: sentry.Project{ID: "2", Slug: "backend", Name: "backend"}}
	if status == sentry.StatusIgnored {
		sub := sentry.SubstatusArchivedForever
		is.Substatus = &sub
	}
	if assigned {
		is.AssignedTo = &sentry.Assignee{Type: "user", ID: "3009", Name: "Zed", Email: "zed@acme.test"}
	}
	return is
}

// regState is what the side effects a change could have look like now.
type regState struct {
	writes, replies int
	audit           int
	subs            int
	override        string
}

func (w *regWorld) state() regState {
	w.t.Helper()
	es, err := w.db.Audit(w.ctx, store.AuditFilter{})
	if err != nil {
		w.t.Fatalf("reading the audit log: %v", err)
	}
	subs, err := w.db.Subscriptions(w.ctx, "")
	if err != nil {
		w.t.Fatalf("reading subscriptions: %v", err)
	}
	o, err := w.db.RoleOverride(w.ctx, regTeam, regBob)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		w.t.Fatalf("reading %s's role override: %v", regBob, err)
	}
	return regState{writes: w.sentry.writeCount(), replies: w.replies.count(), audit: len(es), subs: len(subs), override: o}
}

// auditSince returns the audit entries added after the state was taken.
func (w *regWorld) auditSince(s regState) []store.AuditEntry {
	w.t.Helper()
	es, err := w.db.Audit(w.ctx, store.AuditFilter{})
	if err != nil {
		w.t.Fatalf("reading the audit log: %v", err)
	}
	return es[s.audit:]
}

func (w *regWorld) hook() string {
	w.hooks++
	return fmt.Sprintf("https://hooks.slack.com/actions/%s/%d/secret", regTeam, w.hooks)
}

// regDenial is what a refused user is told, by audit reason.
var regDenial = map[string]string{
	string(authz.ReasonNotLinked):  "`/sentry link`",
	string(authz.ReasonViewerRole): "*viewer*",
	string(authz.ReasonAdminOnly):  "Only sentrybot admins",
}

// checkRefused asserts that what happened since before was a refusal of
// user: one deny entry, one private answer to them that says why, and no
// change in Sentry, in the store or in any channel.
func (w *regWorld) checkRefused(t *testing.T, before regState, user, hook, wantReason string) {
	t.Helper()
	after := w.state()
	if writes := w.sentry.writesSince(before.writes); len(writes) != 0 {
		t.Errorf("refused, yet Sentry got %q", writes)
	}
	if after.subs != before.subs || after.override != before.override {
		t.Errorf("refused, yet the store changed: subscriptions %d→%d, %s's role override %q→%q",
			before.subs, after.subs, regBob, before.override, after.override)
	}
	es := w.auditSince(before)
	if len(es) != 1 {
		t.Fatalf("%d audit entries, want one denial: %+v", len(es), es)
	}
	e := es[0]
	if e.Decision != "deny" || e.Reason != wantReason || e.UserID != user || e.TeamID != regTeam || e.Outcome != "" {
		t.Errorf("audit entry %+v, want a denial of %s for %s with no outcome", e, user, wantReason)
	}
	replies := w.replies.since(before.replies)
	if len(replies) != 1 {
		t.Fatalf("%d answers, want one private answer: %+v", len(replies), replies)
	}
	r := replies[0]
	if (r.kind != "ephemeral" && r.kind != "respond") || r.hook != hook || (r.kind == "ephemeral" && r.user != user) {
		t.Errorf("answer %+v, want a private text to %s through %s", r, user, hook)
	}
	if want := regDenial[wantReason]; !strings.Contains(r.text, want) {
		t.Errorf("answer %q does not say %q", r.text, want)
	}
}

// checkAllowed asserts the admin's attempt was allowed and recorded, and,
// for a change to the issue, reached Sentry.
func (w *regWorld) checkAllowed(t *testing.T, before regState, sentryChange bool) {
	t.Helper()
	es := w.auditSince(before)
	allowed := slices.ContainsFunc(es, func(e store.AuditEntry) bool {
		return e.Decision == "allow" && e.UserID == regAdmin && strings.HasPrefix(e.Outcome, "ok")
	})
	if !allowed {
		t.Errorf("the admin's attempt was not allowed and done: audit %+v, answers %+v", es, w.replies.since(before.replies))
	}
	if writes := w.sentry.writesSince(before.writes); sentryChange && len(writes) == 0 {
		t.Errorf("the admin's change did not reach Sentry: audit %+v", es)
	}
}

// regControl is one thing a user can click or choose on something the bot
// rendered: a button, or one option of a menu.
type regControl struct {
	surface  string
	issue    *sentry.Issue // the card's issue, nil for other surfaces
	elType   string
	actionID string
	blockID  string
	value    string
}

func (c regControl) name() string { return c.actionID + "=" + c.value }

// regCollect walks rendered Block Kit JSON and returns every interactive
// element, each select option as its own control. External selects get
// their options from options.
func regCollect(t *testing.T, surface string, is *sentry.Issue, v any, options func(actionID, blockID string) []string) []regControl {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshalling %s: %v", surface, err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("decoding %s: %v", surface, err)
	}
	var out []regControl
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
			if aid, ok := x["action_id"].(string); ok {
				typ, _ := x["type"].(string)
				c := regControl{surface: surface, issue: is, elType: typ, actionID: aid, blockID: blockID}
				switch {
				case typ == "external_select":
					// The options come from an assigned issue (so that
					// Unassign is offered): that is the card's state.
					if is != nil {
						assigned := *is
						assigned.AssignedTo = &sentry.Assignee{Type: "user", ID: "3009", Name: "Zed", Email: "zed@acme.test"}
						c.issue = &assigned
					}
					for _, o := range options(aid, blockID) {
						c.value = o
						out = append(out, c)
					}
				case strings.HasSuffix(typ, "_select") || typ == "overflow" || typ == "radio_buttons" || typ == "checkboxes":
					var opts []any
					if os, ok := x["options"].([]any); ok {
						opts = append(opts, os...)
					}
					if gs, ok := x["option_groups"].([]any); ok {
						for _, g := range gs {
							if os, ok := g.(map[string]any)["options"].([]any); ok {
								opts = append(opts, os...)
							}
						}
					}
					if len(opts) == 0 {
						t.Fatalf("%s: %s %s offers no options the test can choose", surface, typ, aid)
					}
					for _, o := range opts {
						c.value, _ = o.(map[string]any)["value"].(string)
						out = append(out, c)
					}
				case typ == "button":
					c.value, _ = x["value"].(string)
					out = append(out, c)
				default:
					t.Fatalf("%s: element type %q (%s) is new to this test: teach it how to use one", surface, typ, aid)
				}
				return
			}
			for _, e := range x {
				walk(e, blockID)
			}
		}
	}
	walk(doc, "")
	return out
}

// controls renders every surface with controls, in every state a card can
// be in, and returns each distinct control once.
func (w *regWorld) controls() []regControl {
	t := w.t
	t.Helper()
	options := func(actionID, blockID string) []string {
		// The real option source, asked by the admin (who is linked, so
		// "me" is offered) about an assigned issue (so "unassign" is).
		w.sentry.set(regCardIssue(sentry.StatusUnresolved, true))
		var cb slack.InteractionCallback
		cb.Type, cb.ActionID, cb.BlockID = slack.InteractionTypeBlockSuggestion, actionID, blockID
		cb.Team.ID, cb.User.ID = regTeam, regAdmin
		res, err := w.suggest.Suggest(w.ctx, cb)
		if err != nil {
			t.Fatalf("options of %s: %v", actionID, err)
		}
		b, _ := json.Marshal(res)
		var got struct {
			Options []struct {
				Value string `json:"value"`
			} `json:"options"`
		}
		if err := json.Unmarshal(b, &got); err != nil || len(got.Options) == 0 {
			t.Fatalf("options of %s: %s (%v)", actionID, b, err)
		}
		var vs []string
		for _, o := range got.Options {
			vs = append(vs, o.Value)
		}
		return vs
	}
	var all []regControl
	for _, status := range []string{sentry.StatusUnresolved, sentry.StatusResolved, sentry.StatusIgnored, "reprocessing"} {
		for _, assigned := range []bool{false, true} {
			is := regCardIssue(status, assigned)
			surface := fmt.Sprintf("card %s assigned=%v", status, assigned)
			all = append(all, regCollect(t, surface, &is, blocks.IssueAttachment(is, blocks.CardOptions{}), options)...)
		}
	}
	more, _ := json.Marshal(moreValue{Query: "level:error", Cursor: "0:10:0", Page: 2})
	is := regCardIssue(sentry.StatusUnresolved, false)
	all = append(all, regCollect(t, "search results", nil, blocks.SearchResults("level:error", []sentry.Issue{is}, string(more), 1), options)...)
	all = append(all, regCollect(t, "link offer", nil, blocks.LinkOffer("Link your login", "https://sentrybot.example/start?g=x"), options)...)
	all = append(all, regCollect(t, "help", nil, blocks.Help(w.commands.helpEntries(), "intro"), options)...)

	var out []regControl
	seen := map[string]bool{}
	for _, c := range all {
		if !seen[c.name()] {
			seen[c.name()] = true
			out = append(out, c)
		}
	}
	return out
}

// click delivers a click on c by user, as Slack sends it.
func (w *regWorld) click(user string, c regControl, hook string) {
	w.t.Helper()
	act := map[string]any{"type": c.elType, "action_id": c.actionID, "block_id": c.blockID, "action_ts": "1732900000.000001"}
	if c.elType == "button" {
		act["value"] = c.value
	} else {
		act["selected_option"] = map[string]any{"value": c.value, "text": map[string]any{"type": "plain_text", "text": c.value}}
	}
	payload := map[string]any{
		"type": "block_actions", "team": map[string]any{"id": regTeam}, "user": map[string]any{"id": user, "team_id": regTeam},
		"channel": map[string]any{"id": regChannel}, "response_url": hook,
		"container": map[string]any{"type": "message_attachment", "message_ts": "1732900000.000100", "channel_id": regChannel, "is_app_unfurl": true},
		"actions":   []any{act},
	}
	b, _ := json.Marshal(payload)
	var cb slack.InteractionCallback
	if err := json.Unmarshal(b, &cb); err != nil {
		w.t.Fatalf("building the click: %v", err)
	}
	a := bot.Action{InteractionCallback: cb, AppUnfurlURL: "https://acme.sentry.io/issues/" + regIssue + "/"}
	if err := w.router.HandleAction(w.ctx, a); err != nil {
		w.t.Errorf("click %s by %s: %v", c.name(), user, err)
	}
}

func TestRegistryEveryControlIsAuthorized(t *testing.T) {
	w := regStart(t)
	controls := w.controls()
	// The enumeration finds what the cards are known to offer; if it did
	// not, it would prove nothing about what it missed.
	names := map[string]bool{}
	for _, c := range controls {
		names[c.actionID] = true
	}
	for _, id := range []string{blocks.ActionResolve, blocks.ActionResolveIn, blocks.ActionUnresolve, blocks.ActionArchive,
		blocks.ActionUnarchive, blocks.ActionAssign, blocks.ActionSearchMore, blocks.ActionLoginLink} {
		if !names[id] {
			t.Fatalf("the rendered surfaces offer no %s; found %d controls", id, len(controls))
		}
	}
	for id := range regReadOnlyActions {
		if !names[id] {
			t.Errorf("read-only action %s is no longer rendered anywhere; drop it from regReadOnlyActions", id)
		}
	}
	if len(controls) < 15 {
		t.Fatalf("only %d controls found", len(controls))
	}

	for _, c := range controls {
		t.Run(c.name(), func(t *testing.T) {
			if why, ok := regReadOnlyActions[c.actionID]; ok {
				for _, user := range []string{regUnlinked, regViewer} {
					before := w.state()
					w.click(user, c, w.hook())
					after := w.state()
					if after.writes != before.writes || after.audit != before.audit || after.subs != before.subs || after.override != before.override {
						t.Errorf("%s (%s) by %s changed something: %+v → %+v", c.actionID, why, user, before, after)
					}
				}
				return
			}
			for _, who := range []struct{ user, reason string }{
				{regUnlinked, string(authz.ReasonNotLinked)},
				{regViewer, string(authz.ReasonViewerRole)},
			} {
				w.sentry.set(*c.issue)
				before, hook := w.state(), w.hook()
				w.click(who.user, c, hook)
				w.checkRefused(t, before, who.user, hook, who.reason)
			}
			// The same click by an admin goes through: the refusals above
			// are the authorization module's, not a broken click.
			w.sentry.set(*c.issue)
			before := w.state()
			w.click(regAdmin, c, w.hook())
			w.checkAllowed(t, before, true)
		})
	}
}

// regInvocation is one way to type a command its help describes.
type regInvocation struct {
	key, text string
}

// regArg is what the test types for an argument a usage names; plain
// words are typed as they are.
func regArg(t *testing.T, usage, alt string) string {
	t.Helper()
	switch alt {
	case "issue", "SHORT-ID":
		return regShortID
	case "id":
		return regIssue
	case "url":
		return "https://acme.sentry.io/issues/" + regIssue + "/"
	case "@user":
		return "<@" + regBob + "|bob>"
	case "#team":
		return "#payments"
	case "project…":
		return "backend"
	case "query":
		return "level:error"
	}
	if !regexp.MustCompile(`^[a-z0-9-]+$`).MatchString(alt) {
		t.Fatalf("help usage %q names %q: teach regArg what to type for it", usage, alt)
	}
	return alt
}

// regExpand turns a usage such as "archive <issue> [forever | 1h]" into
// every invocation it allows: each alternative of each <…> and […] group,
// and each […] group left out.
func regExpand(t *testing.T, usage string) []string {
	t.Helper()
	texts := []string{""}
	for rest := strings.TrimSpace(usage); rest != ""; rest = strings.TrimSpace(rest) {
		var choices []string
		switch rest[0] {
		case '<', '[':
			closer := map[byte]string{'<': ">", '[': "]"}[rest[0]]
			end := strings.Index(rest, closer)
			if end < 0 {
				t.Fatalf("usage %q: unclosed %c", usage, rest[0])
			}
			for _, alt := range strings.Split(rest[1:end], "|") {
				choices = append(choices, regArg(t, usage, strings.TrimSpace(alt)))
			}
			if rest[0] == '[' {
				choices = append(choices, "")
			}
			rest = rest[end+1:]
		default:
			word, after, _ := strings.Cut(rest, " ")
			choices, rest = []string{word}, after
		}
		var next []string
		for _, t := range texts {
			for _, c := range choices {
				next = append(next, strings.TrimSpace(t+" "+c))
			}
		}
		texts = next
	}
	return texts
}

// commandKey is the verb, or "admin <sub>", of a usage.
func commandKey(usage string) string {
	f := strings.Fields(usage)
	if len(f) > 1 && f[0] == "admin" {
		return f[0] + " " + f[1]
	}
	return f[0]
}

// regCommandState is the issue state in which each change command has
// something to do, so the admin's run must reach Sentry.
var regCommandState = map[string]struct {
	status   string
	assigned bool
}{
	"resolve":   {sentry.StatusUnresolved, false},
	"unresolve": {sentry.StatusResolved, false},
	"archive":   {sentry.StatusUnresolved, false},
	"unarchive": {sentry.StatusIgnored, false},
	"assign":    {sentry.StatusUnresolved, true},
}

func (w *regWorld) command(user, text, hook string) {
	w.t.Helper()
	err := w.commands.HandleCommand(w.ctx, slack.SlashCommand{TeamID: regTeam, ChannelID: regChannel, UserID: user,
		Command: "/sentry", Text: text, ResponseURL: hook})
	if err != nil {
		w.t.Errorf("/sentry %s by %s: %v", text, user, err)
	}
}

func TestRegistryEveryChangeCommandIsAuthorized(t *testing.T) {
	w := regStart(t)
	var invocations []regInvocation
	keys := map[string]bool{}
	for _, h := range w.commands.helpEntries() {
		key := commandKey(h.Usage)
		keys[key] = true
		if _, ok := regReadOnlyCommands[key]; ok {
			continue
		}
		for _, text := range regExpand(t, h.Usage) {
			invocations = append(invocations, regInvocation{key: key, text: text})
		}
	}
	for key := range regReadOnlyCommands {
		if !keys[key] {
			t.Errorf("read-only command %q is no longer in the help; drop it from regReadOnlyCommands", key)
		}
	}
	for _, key := range []string{"resolve", "unresolve", "archive", "unarchive", "assign", "admin role", "subscribe", "unsubscribe"} {
		if !keys[key] {
			t.Fatalf("the help lists no %q; found %v", key, keys)
		}
	}
	if len(invocations) < 20 {
		t.Fatalf("only %d invocations: %+v", len(invocations), invocations)
	}

	for _, inv := range invocations {
		t.Run(inv.text, func(t *testing.T) {
			if _, err := slashcmd.Parse(inv.text); err != nil {
				// The usage allows what the parser refuses: nothing runs,
				// for anyone.
				for _, user := range []string{regUnlinked, regViewer, regAdmin} {
					before := w.state()
					w.command(user, inv.text, w.hook())
					after := w.state()
					if after.writes != before.writes || after.audit != before.audit || after.subs != before.subs ||
						after.override != before.override || after.replies != before.replies+1 {
						t.Errorf("/sentry %s (refused by the parser: %v) by %s: %+v → %+v", inv.text, err, user, before, after)
					}
				}
				return
			}
			st, sentryChange := regCommandState[inv.key]
			for _, who := range []struct{ user, reason string }{
				{regUnlinked, string(authz.ReasonNotLinked)},
				{regViewer, string(authz.ReasonViewerRole)},
			} {
				if inv.key == "admin role" {
					who.reason = string(authz.ReasonAdminOnly)
				}
				w.sentry.set(regCardIssue(st.status, st.assigned))
				before, hook := w.state(), w.hook()
				w.command(who.user, inv.text, hook)
				w.checkRefused(t, before, who.user, hook, who.reason)
			}
			if inv.key == "unsubscribe" {
				// Something to remove, so the admin's run changes the store.
				w.command(regAdmin, "subscribe backend level:error", w.hook())
			}
			w.sentry.set(regCardIssue(st.status, st.assigned))
			before := w.state()
			w.command(regAdmin, inv.text, w.hook())
			w.checkAllowed(t, before, sentryChange)
		})
	}
}
