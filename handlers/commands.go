package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"sentrybot/authz"
	"sentrybot/blocks"
	"sentrybot/bot"
	"sentrybot/sentry"
	"sentrybot/slashcmd"
	"sentrybot/store"
)

// IssueSearcher runs Sentry issue searches.
type IssueSearcher interface {
	SearchIssues(ctx context.Context, org string, q sentry.IssueQuery) (*sentry.IssuePage, error)
}

// SentryPinger asks Sentry who the token is: the cheapest "can we reach it".
type SentryPinger interface {
	Whoami(ctx context.Context) (*sentry.Auth, error)
}

// RoleKeeper reads roles and keeps the local role overrides and audit log.
type RoleKeeper interface {
	Role(ctx context.Context, s authz.Subject) (authz.Role, authz.Facts, error)
	Admins() []string
}

// OverrideStore stores local role overrides.
type OverrideStore interface {
	SetRoleOverride(ctx context.Context, teamID, slackUserID, role, setBy string) error
}

// AuditReader reads the audit log.
type AuditReader interface {
	Audit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error)
}

// MessagePoster posts a message in a channel.
type MessagePoster interface {
	PostMessageContext(ctx context.Context, channelID string, options ...slack.MsgOption) (string, string, error)
}

// Responder answers a command through its response_url.
type Responder interface {
	Respond(ctx context.Context, responseURL string, msg *slack.WebhookMessage) error
}

// CommandDeps are what the /sentry commands use.
type CommandDeps struct {
	Org        string
	Links      LinkMatcher
	Issues     IssueFetcher // cached reads
	Search     IssueSearcher
	Sentry     SentryPinger
	Directory  Directory
	Identities *Identities
	IDs        IdentityReader
	Triage     *Triage
	Auth       Authorizer
	Roles      RoleKeeper
	Overrides  OverrideStore
	AuditLog   AuditReader
	Poster     MessagePoster
	Reply      Responder
	Subs       SubscriptionStore // nil: subscriptions are not offered
	Cards      CardRecorder      // nil: shared cards are not kept in sync
	Logins     LoginLinks        // nil: linking by Sentry login is not offered
	Log        zerolog.Logger
}

// Commands answers /sentry. Every reply is private unless a command says
// otherwise, and goes through the command's response_url: the envelope is
// acknowledged before any of this runs.
type Commands struct{ d CommandDeps }

// NewCommands builds the /sentry handler.
func NewCommands(d CommandDeps) *Commands { return &Commands{d: d} }

var _ bot.CommandHandler = (*Commands)(nil)

// helpEntries is the command list /sentry help shows.
func (c *Commands) helpEntries() []blocks.CommandHelp {
	entries := []blocks.CommandHelp{
		{Usage: "help", Example: "/sentry help", Summary: "this list"},
		{Usage: "link", Example: "/sentry link", Summary: c.linkSummary()},
		{Usage: "unlink", Example: "/sentry unlink", Summary: "remove that link"},
		{Usage: "whoami", Example: "/sentry whoami", Summary: "your link, Sentry role, sentrybot role, and whether Sentry is reachable"},
		{Usage: "issue <id | SHORT-ID | url> [share]", Example: "/sentry issue BACKEND-12 share", Summary: "show an issue's card; share posts it in the channel"},
		{Usage: "search <query>", Example: "/sentry search is:unresolved level:error assigned:me", Summary: "search issues with Sentry's search syntax"},
		{Usage: "resolve <issue> [next-release | current-release]", Example: "/sentry resolve BACKEND-12 next-release", Summary: "resolve an issue"},
		{Usage: "unresolve <issue>", Example: "/sentry unresolve BACKEND-12", Summary: "reopen a resolved issue"},
		{Usage: "archive <issue> [escalating | forever | 1h | 1d | 1w | 10 | 100 | 1000]", Example: "/sentry archive BACKEND-12 1d", Summary: "archive an issue (until escalating by default)"},
		{Usage: "unarchive <issue>", Example: "/sentry unarchive BACKEND-12", Summary: "bring an archived issue back"},
		{Usage: "assign <issue> <@user | #team | me | none>", Example: "/sentry assign BACKEND-12 @alice", Summary: "assign an issue, or unassign it with none"},
		{Usage: "admin role <@user> <admin | responder | viewer | default>", Example: "/sentry admin role @alice responder", Summary: "set someone's sentrybot role (admins only)"},
		{Usage: "admin audit [issue | @user]", Example: "/sentry admin audit BACKEND-12", Summary: "recent attempted changes (admins only)"},
	}
	if c.d.Subs != nil {
		entries = append(entries,
			blocks.CommandHelp{Usage: "subscribe <project… | query>", Example: "/sentry subscribe backend level:error is:unresolved", Summary: "post new matching issues in this channel (give projects, a query, or both)"},
			blocks.CommandHelp{Usage: "unsubscribe [project…] [query]", Example: "/sentry unsubscribe backend", Summary: "remove this channel's matching subscriptions (all of them without arguments)"},
			blocks.CommandHelp{Usage: "subscriptions [all]", Example: "/sentry subscriptions", Summary: "this channel's subscriptions; every channel's for admins"})
	}
	return entries
}

func (c *Commands) linkSummary() string {
	if c.d.Logins != nil {
		return "link your Slack account to your Sentry member (by your Slack email), and offer linking your Sentry login so changes are made as you"
	}
	return "link your Slack account to your Sentry member (by your Slack email)"
}

// HandleCommand runs one /sentry command.
func (c *Commands) HandleCommand(ctx context.Context, cmd slack.SlashCommand) error {
	subj := authz.Subject{TeamID: cmd.TeamID, UserID: cmd.UserID, ChannelID: cmd.ChannelID}
	log := c.d.Log.With().Str("user", cmd.UserID).Str("channel", cmd.ChannelID).Logger()
	parsed, err := slashcmd.Parse(cmd.Text)
	var perr *slashcmd.Error
	switch {
	case errors.Is(err, slashcmd.ErrEmpty):
		return c.help(ctx, cmd, "")
	case errors.As(err, &perr):
		if strings.HasPrefix(perr.Msg, "Unknown command") {
			return c.help(ctx, cmd, escapeAmp(perr.Msg))
		}
		return c.private(ctx, cmd, escapeAmp(perr.Msg)+"\nType `/sentry help` for every command.")
	case err != nil:
		return c.private(ctx, cmd, "sentrybot couldn't read that command. Type `/sentry help` for every command.")
	}
	log.Debug().Str("verb", string(parsed.Verb)).Msg("command")

	switch parsed.Verb {
	case slashcmd.VerbHelp:
		return c.help(ctx, cmd, "")
	case slashcmd.VerbLink:
		return c.link(ctx, cmd, subj)
	case slashcmd.VerbUnlink:
		return c.answer(ctx, cmd, func() (string, error) { return c.unlink(ctx, subj) })
	case slashcmd.VerbWhoami:
		return c.whoami(ctx, cmd, subj)
	case slashcmd.VerbIssue:
		return c.issue(ctx, cmd, parsed)
	case slashcmd.VerbSearch:
		return c.search(ctx, cmd.ResponseURL, cmd.UserID, cmd.TeamID, parsed.Query, "", 1, false)
	case slashcmd.VerbResolve, slashcmd.VerbUnresolve, slashcmd.VerbArchive, slashcmd.VerbUnarchive, slashcmd.VerbAssign:
		return c.change(ctx, cmd, subj, parsed)
	case slashcmd.VerbAdmin:
		return c.admin(ctx, cmd, subj, parsed)
	case slashcmd.VerbSubscribe, slashcmd.VerbUnsubscribe, slashcmd.VerbSubscriptions:
		return c.subscriptions(ctx, cmd, subj, parsed)
	}
	return c.help(ctx, cmd, "Unknown command.")
}

func (c *Commands) help(ctx context.Context, cmd slack.SlashCommand, lead string) error {
	intro := "*sentrybot* brings Sentry issues into Slack. Commands:"
	if lead != "" {
		intro = lead + "\n" + intro
	}
	bs := blocks.Help(c.helpEntries(), intro)
	return c.d.Reply.Respond(ctx, cmd.ResponseURL, &slack.WebhookMessage{
		Text: "sentrybot commands", Blocks: &slack.Blocks{BlockSet: bs}, ResponseType: slack.ResponseTypeEphemeral})
}

// private answers the user alone.
func (c *Commands) private(ctx context.Context, cmd slack.SlashCommand, text string) error {
	return c.d.Reply.Respond(ctx, cmd.ResponseURL, &slack.WebhookMessage{
		Text: text, Blocks: &slack.Blocks{BlockSet: blocks.Notice(text)}, ResponseType: slack.ResponseTypeEphemeral})
}

// answer runs fn and says its result privately; an error becomes a short
// apology, the details go to the log.
func (c *Commands) answer(ctx context.Context, cmd slack.SlashCommand, fn func() (string, error)) error {
	text, err := fn()
	if err != nil {
		c.d.Log.Error().Err(err).Str("user", cmd.UserID).Msg("command failed")
		return c.private(ctx, cmd, c.sorry(err))
	}
	return c.private(ctx, cmd, text)
}

// sorry is what a user reads when a command fails on Sentry or Slack.
func (c *Commands) sorry(err error) string {
	switch {
	case errors.Is(err, sentry.ErrForbidden):
		return "Sentry refused: sentrybot's token lacks a scope it needs (`member:read`, `event:read`, `event:write`). Ask whoever runs sentrybot to check with `sentrybot doctor`."
	case errors.Is(err, sentry.ErrNotFound):
		return "Sentry doesn't know that (it may have been deleted, or belongs to another organization)."
	case errors.Is(err, sentry.ErrRateLimited):
		return "Sentry is rate limiting sentrybot right now. Try again in a few seconds."
	case errors.Is(err, sentry.ErrInvalid):
		var se *sentry.Error
		if errors.As(err, &se) && se.Detail != "" {
			return "Sentry didn't accept that: " + escapeAmp(se.Detail)
		}
		return "Sentry didn't accept that."
	case errors.Is(err, sentry.ErrUnauthorized):
		return "Sentry rejected sentrybot's token. Ask whoever runs sentrybot to check it with `sentrybot doctor`."
	}
	var se *sentry.Error
	if errors.As(err, &se) {
		return "Couldn't reach Sentry. Nothing was changed; try again in a minute."
	}
	return "Something went wrong on sentrybot's side; nothing was changed. Try again, and tell whoever runs sentrybot if it keeps happening."
}

// link links the user by their Slack email and, when Sentry logins are
// configured, offers the button that links their Sentry login too.
func (c *Commands) link(ctx context.Context, cmd slack.SlashCommand, subj authz.Subject) error {
	text, err := c.d.Identities.Link(ctx, subj)
	if err != nil {
		c.d.Log.Error().Err(err).Str("user", cmd.UserID).Msg("link failed")
		text = c.sorry(err)
	}
	if c.d.Logins == nil {
		return c.private(ctx, cmd, text)
	}
	st, err := c.d.Logins.Login(ctx, subj.TeamID, subj.UserID)
	if err != nil {
		c.d.Log.Error().Err(err).Str("user", cmd.UserID).Msg("link: reading the Sentry login link")
	} else if st.Linked && !st.Stale {
		return c.private(ctx, cmd, text+"\nYou're also linked with your Sentry login, so your changes are made as you in Sentry.")
	}
	start, err := c.d.Logins.StartURL(ctx, subj)
	if err != nil {
		c.d.Log.Error().Err(err).Str("user", cmd.UserID).Msg("link: creating a Sentry login grant")
		return c.private(ctx, cmd, text+"\nLinking with your Sentry login isn't available right now; try `/sentry link` again later.")
	}
	offer := "To act in Sentry *as yourself* (Sentry then shows your name on the change and applies your own permissions), link your Sentry login. The button works once, for the next 10 minutes."
	if st.Stale {
		offer = ":warning: Your Sentry login link has expired or was revoked. " + offer
	}
	return c.d.Reply.Respond(ctx, cmd.ResponseURL, &slack.WebhookMessage{
		Text:         text,
		Blocks:       &slack.Blocks{BlockSet: blocks.LinkOffer(text+"\n"+offer, start)},
		ResponseType: slack.ResponseTypeEphemeral})
}

// unlink removes the user's link and any Sentry login tokens stored for
// them; the tokens go first, so that none outlives the link.
func (c *Commands) unlink(ctx context.Context, subj authz.Subject) (string, error) {
	if c.d.Logins != nil {
		if err := c.d.Logins.Forget(ctx, subj.TeamID, subj.UserID); err != nil {
			return "", fmt.Errorf("unlink: deleting the Sentry login tokens: %w", err)
		}
	}
	return c.d.Identities.Unlink(ctx, subj)
}

func (c *Commands) whoami(ctx context.Context, cmd slack.SlashCommand, subj authz.Subject) error {
	var b strings.Builder
	role, facts, err := c.d.Roles.Role(ctx, subj)
	if err != nil {
		c.d.Log.Error().Err(err).Msg("whoami: reading the role")
		return c.private(ctx, cmd, c.sorry(err))
	}
	if facts.Linked {
		id := facts.Identity
		fmt.Fprintf(&b, "*Linked* to Sentry member *%s* (member %s, user %s) since %s, by %s.\n", id.Email, id.MemberID, id.SentryUserID,
			slackDate(id.LinkedAt), id.Method)
		fmt.Fprintf(&b, "*Sentry org role:* %s\n", orDash(id.OrgRole))
		c.whoamiLogin(ctx, &b, subj)
	} else {
		b.WriteString("*Not linked* to Sentry. Run `/sentry link` to link your account.\n")
	}
	fmt.Fprintf(&b, "*sentrybot role:* %s", role)
	switch {
	case facts.ConfiguredAdmin:
		b.WriteString(" (listed in auth.admins)")
	case facts.WorkspaceAdmin:
		b.WriteString(" (Slack workspace admin)")
	case facts.Override != "":
		b.WriteString(" (set by a sentrybot admin)")
	}
	b.WriteString("\n")
	if _, err := c.d.Sentry.Whoami(ctx); err != nil {
		fmt.Fprintf(&b, "*Sentry:* :warning: sentrybot can't reach Sentry right now (%s).", kindOf(err))
	} else {
		b.WriteString("*Sentry:* reachable.")
	}
	return c.private(ctx, cmd, b.String())
}

// whoamiLogin says whose credential makes the user's changes.
func (c *Commands) whoamiLogin(ctx context.Context, b *strings.Builder, subj authz.Subject) {
	if c.d.Logins == nil {
		return
	}
	st, err := c.d.Logins.Login(ctx, subj.TeamID, subj.UserID)
	switch {
	case err != nil:
		c.d.Log.Error().Err(err).Msg("whoami: reading the Sentry login link")
		b.WriteString("*Acts as:* unknown (sentrybot couldn't read your Sentry login link just now).\n")
	case st.Stale:
		b.WriteString("*Acts as:* nobody: :warning: your Sentry login link has expired or was revoked, so your changes are refused. Run `/sentry link` to link again.\n")
	case st.Linked:
		fmt.Fprintf(b, "*Acts as:* you, through your Sentry login; the current token expires %s and is renewed before then.\n", slackDate(st.ExpiresAt))
	default:
		b.WriteString("*Acts as:* sentrybot's organization token. Run `/sentry link` to link your Sentry login, so changes are made as you.\n")
	}
}

func kindOf(err error) string {
	var se *sentry.Error
	if errors.As(err, &se) {
		return se.Kind.String()
	}
	return "error"
}

// issueID turns an issue reference into what Sentry's issue path takes: a
// numeric id or a short ID. A URL must be one of this organization's.
func (c *Commands) issueID(ref string) (string, error) {
	if strings.HasPrefix(ref, "http://") || strings.HasPrefix(ref, "https://") {
		l, ok := c.d.Links.Match(ref)
		if !ok {
			return "", userErr("that link isn't a Sentry issue link of the *%s* organization", c.d.Org)
		}
		return l.IssueID, nil
	}
	return ref, nil
}

func (c *Commands) issue(ctx context.Context, cmd slack.SlashCommand, p slashcmd.Command) error {
	id, err := c.issueID(p.Issue)
	if err != nil {
		return c.private(ctx, cmd, err.Error()+".")
	}
	is, err := c.d.Issues.Issue(ctx, c.d.Org, id)
	if err != nil {
		if errors.Is(err, sentry.ErrNotFound) {
			return c.private(ctx, cmd, fmt.Sprintf("There is no issue `%s` in the *%s* organization.", blocks.Escape(id), c.d.Org))
		}
		return c.private(ctx, cmd, c.sorry(err))
	}
	att := blocks.IssueAttachment(*is, blocks.CardOptions{})
	if !p.Share {
		return c.d.Reply.Respond(ctx, cmd.ResponseURL, &slack.WebhookMessage{Text: att.Fallback, Attachments: []slack.Attachment{att}, ResponseType: slack.ResponseTypeEphemeral})
	}
	channel, ts, err := c.d.Poster.PostMessageContext(ctx, cmd.ChannelID, slack.MsgOptionText(att.Fallback, false), slack.MsgOptionAttachments(att))
	if err == nil && c.d.Cards != nil {
		if rerr := c.d.Cards.RecordCard(ctx, store.Card{IssueID: is.ID, ChannelID: channel, TS: ts, Kind: store.CardMessage}); rerr != nil {
			c.d.Log.Warn().Err(rerr).Msg("shared card not recorded; it won't follow changes")
		}
	}
	if err != nil {
		var se slack.SlackErrorResponse
		if errors.As(err, &se) && (se.Err == "not_in_channel" || se.Err == "channel_not_found") {
			return c.private(ctx, cmd, "sentrybot isn't in this channel, so it can't post here. Invite it with `/invite @sentrybot`, then try again.")
		}
		c.d.Log.Error().Err(err).Msg("sharing a card")
		return c.private(ctx, cmd, "Slack didn't take the card; try again.")
	}
	return nil
}

// moreValue is the state a search's "More" button carries.
type moreValue struct {
	Query  string `json:"q"`
	Cursor string `json:"c"`
	Page   int    `json:"p"`
}

func (c *Commands) search(ctx context.Context, responseURL, userID, teamID, query, cursor string, page int, replace bool) error {
	q, err := c.expandMe(ctx, teamID, userID, query)
	if err != nil {
		return c.d.Reply.Respond(ctx, responseURL, ephemeralText(err.Error(), replace))
	}
	res, err := c.d.Search.SearchIssues(ctx, c.d.Org, sentry.IssueQuery{Query: q, Cursor: cursor, Limit: 10})
	if err != nil {
		if errors.Is(err, sentry.ErrInvalid) {
			var se *sentry.Error
			errors.As(err, &se)
			return c.d.Reply.Respond(ctx, responseURL, ephemeralText("Sentry couldn't run that search: "+escapeAmp(se.Detail), replace))
		}
		return c.d.Reply.Respond(ctx, responseURL, ephemeralText(c.sorry(err), replace))
	}
	more := ""
	if res.NextCursor != "" {
		b, _ := json.Marshal(moreValue{Query: query, Cursor: res.NextCursor, Page: page + 1})
		more = string(b)
	}
	bs := blocks.SearchResults(query, res.Issues, more, page)
	return c.d.Reply.Respond(ctx, responseURL, &slack.WebhookMessage{
		Text: fmt.Sprintf("%d issues", len(res.Issues)), Blocks: &slack.Blocks{BlockSet: bs},
		ResponseType: slack.ResponseTypeEphemeral, ReplaceOriginal: replace})
}

// expandMe replaces assigned:me with the caller's linked Sentry user, as
// the token sentrybot uses is not the caller's.
func (c *Commands) expandMe(ctx context.Context, teamID, userID, query string) (string, error) {
	fields := strings.Fields(query)
	found := false
	for i, f := range fields {
		neg := strings.HasPrefix(f, "!")
		if strings.EqualFold(strings.TrimPrefix(f, "!"), "assigned:me") {
			found = true
			id, err := c.d.IDs.Identity(ctx, teamID, userID)
			if errors.Is(err, store.ErrNotFound) {
				return "", userErr("`assigned:me` needs to know who you are in Sentry: run `/sentry link` first.")
			}
			if err != nil {
				return "", userErr("sentrybot couldn't read your link just now; try again.")
			}
			fields[i] = "assigned:" + id.Email
			if neg {
				fields[i] = "!" + fields[i]
			}
		}
	}
	if !found {
		return query, nil
	}
	return strings.Join(fields, " "), nil
}

// HandleMore pages a search result in place.
func (c *Commands) HandleMore(ctx context.Context, a bot.Action) error {
	act := a.ActionCallback.BlockActions[0]
	var mv moreValue
	if err := json.Unmarshal([]byte(act.Value), &mv); err != nil || mv.Cursor == "" || mv.Page < 2 {
		return c.d.Reply.Respond(ctx, a.ResponseURL, ephemeralText("That search has expired; run it again.", false))
	}
	return c.search(ctx, a.ResponseURL, a.User.ID, a.Team.ID, mv.Query, mv.Cursor, mv.Page, true)
}

func ephemeralText(text string, replace bool) *slack.WebhookMessage {
	return &slack.WebhookMessage{Text: text, Blocks: &slack.Blocks{BlockSet: blocks.Notice(text)}, ResponseType: slack.ResponseTypeEphemeral, ReplaceOriginal: replace}
}

// change runs resolve / unresolve / archive / unarchive / assign typed as a
// command: the same change, authorization and audit as the card's buttons.
func (c *Commands) change(ctx context.Context, cmd slack.SlashCommand, subj authz.Subject, p slashcmd.Command) error {
	id, err := c.issueID(p.Issue)
	if err != nil {
		return c.private(ctx, cmd, err.Error()+".")
	}
	var ch Change
	switch p.Verb {
	case slashcmd.VerbResolve:
		switch p.ResolveIn {
		case slashcmd.ResolveNextRelease:
			ch = ResolveInNextRelease()
		case slashcmd.ResolveCurrentRelease:
			ch = ResolveInCurrentRelease()
		default:
			ch = ResolveNow()
		}
	case slashcmd.VerbUnresolve:
		ch = Unresolve()
	case slashcmd.VerbUnarchive:
		ch = Unarchive()
	case slashcmd.VerbArchive:
		a := p.Archive
		ch, err = Archive(blocks.ArchiveChoice{UntilEscalating: a.UntilEscalating, Forever: a.Forever, For: a.For, Count: a.Count})
	case slashcmd.VerbAssign:
		ch, err = c.assignee(ctx, cmd, p.Assignee)
	}
	if err != nil {
		return c.private(ctx, cmd, err.Error())
	}
	// Sentry's issue path takes a short ID too, but the lock, the cache and
	// the audit log want one id per issue: resolve it first.
	is, err := c.d.Issues.Issue(ctx, c.d.Org, id)
	if err != nil {
		if errors.Is(err, sentry.ErrNotFound) {
			return c.private(ctx, cmd, fmt.Sprintf("There is no issue `%s` in the *%s* organization.", blocks.Escape(id), c.d.Org))
		}
		return c.private(ctx, cmd, c.sorry(err))
	}
	return c.d.Triage.Apply(ctx, subj, is.ID, ch, cardRef{responseURL: cmd.ResponseURL, channelID: cmd.ChannelID, private: true})
}

// assignee maps a command's target to a Sentry actor: a Slack user through
// their identity link, a team by slug, an email through the member list.
func (c *Commands) assignee(ctx context.Context, cmd slack.SlashCommand, t slashcmd.Target) (Change, error) {
	switch t.Kind {
	case slashcmd.TargetMe:
		return AssignMe(), nil
	case slashcmd.TargetNobody:
		return Unassign(), nil
	case slashcmd.TargetSlackUser:
		if t.ID == "" {
			return Change{}, userErr("Pick the person from Slack's @-mention list so the command carries their Slack account (typed `@%s` isn't enough).", blocks.Escape(t.Label))
		}
		id, err := c.d.IDs.Identity(ctx, cmd.TeamID, t.ID)
		if errors.Is(err, store.ErrNotFound) {
			return Change{}, userErr("<@%s> hasn't linked their Slack account to Sentry, so sentrybot doesn't know who they are there. They can run `/sentry link`; or assign by email.", t.ID)
		}
		if err != nil {
			return Change{}, userErr("sentrybot couldn't read their link just now; try again.")
		}
		if id.SentryUserID == "" {
			return Change{}, userErr("<@%s>'s Sentry invitation isn't accepted yet, so they can't be assigned.", t.ID)
		}
		return AssignTo("user:"+id.SentryUserID, "<@"+t.ID+">")
	case slashcmd.TargetTeam:
		teams, err := c.d.Directory.Teams(ctx, c.d.Org)
		if err != nil {
			return Change{}, userErr("%s", c.sorry(err))
		}
		for _, tm := range teams {
			if strings.EqualFold(tm.Slug, t.ID) {
				return AssignTo(tm.Actor(), "#"+tm.Slug)
			}
		}
		return Change{}, userErr("There is no Sentry team `#%s` in the *%s* organization.", blocks.Escape(t.ID), c.d.Org)
	case slashcmd.TargetEmail:
		members, err := c.d.Directory.Members(ctx, c.d.Org, "email:"+t.ID)
		if err != nil {
			return Change{}, userErr("%s", c.sorry(err))
		}
		for _, m := range members {
			if actor, ok := m.Actor(); ok && !m.Pending && strings.EqualFold(m.Email, t.ID) {
				return AssignTo(actor, t.ID)
			}
		}
		return Change{}, userErr("No active Sentry member has the email address %s.", blocks.Escape(t.ID))
	}
	return Change{}, userErr("Say who to assign: `@person`, `#team`, `me` or `none`.")
}

func (c *Commands) admin(ctx context.Context, cmd slack.SlashCommand, subj authz.Subject, p slashcmd.Command) error {
	action := authz.ActionAdminAudit
	if p.AdminVerb == slashcmd.AdminRole {
		action = authz.ActionAdminRole
	}
	res := authz.Resource{Org: c.d.Org}
	d, facts, err := c.d.Auth.Authorize(ctx, subj, action, res)
	if err != nil {
		c.d.Log.Error().Err(err).Msg("admin: authorization failed")
		return c.private(ctx, cmd, "sentrybot couldn't check your permissions just now, so nothing was changed. Try again in a minute.")
	}
	if !d.Allow {
		if action == authz.ActionAdminRole {
			c.recordAdmin(ctx, subj, action, res, d, facts, "", "role "+p.RoleUser+"="+p.Role)
		}
		return c.private(ctx, cmd, d.Message)
	}
	if action == authz.ActionAdminAudit {
		return c.auditLog(ctx, cmd, p.AuditFilter)
	}
	role := p.Role
	if role == "default" {
		role = ""
	}
	detail := "role " + p.RoleUser + "=" + p.Role
	if err := c.d.Overrides.SetRoleOverride(ctx, cmd.TeamID, p.RoleUser, role, cmd.UserID); err != nil {
		c.recordAdmin(ctx, subj, action, res, d, facts, authz.Outcome(err), detail)
		c.d.Log.Error().Err(err).Msg("admin role")
		return c.private(ctx, cmd, "sentrybot couldn't store that role; nothing changed. Try again.")
	}
	c.recordAdmin(ctx, subj, action, res, d, facts, "ok", detail)
	if role == "" {
		return c.private(ctx, cmd, fmt.Sprintf("<@%s> is back to the role their Sentry membership gives them.", p.RoleUser))
	}
	return c.private(ctx, cmd, fmt.Sprintf("<@%s> is now a sentrybot *%s*.", p.RoleUser, role))
}

func (c *Commands) recordAdmin(ctx context.Context, s authz.Subject, a authz.Action, r authz.Resource, d authz.Decision, f authz.Facts, outcome, detail string) {
	if err := c.d.Auth.Record(ctx, s, a, r, d, f, outcome, detail); err != nil {
		c.d.Log.Error().Err(err).Msg("could not write the audit log")
	}
}

func (c *Commands) auditLog(ctx context.Context, cmd slack.SlashCommand, t slashcmd.Target) error {
	f := store.AuditFilter{Limit: 20}
	what := "the last 20 attempted changes"
	switch t.Kind {
	case slashcmd.TargetSlackUser:
		f.UserID = t.ID
		what += " by <@" + t.ID + ">"
	case slashcmd.TargetIssue:
		id, err := c.issueID(t.ID)
		if err != nil {
			return c.private(ctx, cmd, err.Error()+".")
		}
		if is, err := c.d.Issues.Issue(ctx, c.d.Org, id); err == nil {
			id = is.ID
		}
		f.IssueID = id
		what += " on issue " + blocks.Escape(id)
	}
	entries, err := c.d.AuditLog.Audit(ctx, f)
	if err != nil {
		c.d.Log.Error().Err(err).Msg("admin audit")
		return c.private(ctx, cmd, "sentrybot couldn't read the audit log just now; try again.")
	}
	if len(entries) == 0 {
		return c.private(ctx, cmd, "No attempted changes recorded for "+strings.TrimPrefix(what, "the last 20 attempted changes")+".")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*Audit log:* %s (oldest first)\n", what)
	for _, e := range entries {
		outcome := e.Outcome
		if outcome == "" {
			outcome = "—"
		}
		fmt.Fprintf(&b, "• %s <@%s> %s %s: *%s* (%s) → %s\n", slackDate(e.At), e.UserID, e.Action, orDash(e.IssueID), e.Decision, e.Reason, blocks.Escape(outcome))
	}
	return c.private(ctx, cmd, b.String())
}

func slackDate(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

// userError is an answer for the user, already worded for Slack.
type userError struct{ msg string }

func (e *userError) Error() string { return e.msg }

func userErr(format string, a ...any) error { return &userError{msg: fmt.Sprintf(format, a...)} }

// escapeAmp makes text safe as mrkdwn where it may hold & but no markup.
func escapeAmp(s string) string { return strings.ReplaceAll(s, "&", "&amp;") }

// ActionRouter sends each card action to the handler for its action id.
type ActionRouter struct {
	Triage   *Triage
	Commands *Commands
}

var _ bot.ActionHandler = (*ActionRouter)(nil)

// HandleAction routes by the first action's id.
func (r *ActionRouter) HandleAction(ctx context.Context, a bot.Action) error {
	if len(a.ActionCallback.BlockActions) == 0 {
		return nil
	}
	switch a.ActionCallback.BlockActions[0].ActionID {
	case blocks.ActionSearchMore:
		return r.Commands.HandleMore(ctx, a)
	case blocks.ActionLoginLink:
		// The button opened the sign-in page in the browser; Slack's
		// report of the click needs nothing more.
		return nil
	}
	return r.Triage.HandleAction(ctx, a)
}
