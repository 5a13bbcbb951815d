package handlers

import (
	"context"
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
)

// IssueChanger reads an issue fresh from Sentry and changes it.
type IssueChanger interface {
	Issue(ctx context.Context, org, issueID string) (*sentry.Issue, error)
	UpdateIssue(ctx context.Context, org, issueID string, u sentry.IssueUpdate) error
}

// IssueMemo is the short-lived issue cache; after a change it is told the news.
type IssueMemo interface {
	Put(org, issueID string, is *sentry.Issue)
	Forget(org, issueID string)
}

// Authorizer decides who may change what, and keeps the audit log.
type Authorizer interface {
	Authorize(ctx context.Context, s authz.Subject, a authz.Action, r authz.Resource) (authz.Decision, authz.Facts, error)
	Record(ctx context.Context, s authz.Subject, a authz.Action, r authz.Resource, d authz.Decision, f authz.Facts, outcome, detail string) error
}

// CardUpdater is the part of Slack's Web API that changes a card in place.
type CardUpdater interface {
	UnfurlMessageContext(ctx context.Context, channelID, timestamp string, unfurls map[string]slack.Attachment, options ...slack.MsgOption) (string, string, string, error)
	UpdateMessageContext(ctx context.Context, channelID, timestamp string, options ...slack.MsgOption) (string, string, string, error)
}

// Replier answers one user privately.
type Replier interface {
	// Ephemeral shows text to the user only: through responseURL when Slack
	// gave one, else as an ephemeral message in the channel.
	Ephemeral(ctx context.Context, responseURL, channelID, userID, text string) error
	// ReplaceOriginal replaces the message a response_url belongs to.
	ReplaceOriginal(ctx context.Context, responseURL string, att slack.Attachment) error
	// EphemeralCard shows a card to the user only (a command's answer).
	EphemeralCard(ctx context.Context, responseURL string, att slack.Attachment) error
}

// Change is one triage change asked for on an issue.
type Change struct {
	Action authz.Action
	Update sentry.IssueUpdate
	// Done is the past-tense phrase for the card's footer: "Resolved".
	Done string
	// Detail describes the change for the audit log.
	Detail string
	// Me asks for the update to assign the acting user; filled in once
	// their Sentry identity is known.
	Me bool
}

// CardFooters keeps the footer a recorded card is redrawn with.
type CardFooters interface {
	SetCardFooter(ctx context.Context, channelID, ts, unfurlURL, footer string) (bool, error)
}

// Triage applies Resolve / Archive / Assign changes from Slack to Sentry,
// after the authorization module allows them.
type Triage struct {
	org     string
	sentry  IssueChanger
	memo    IssueMemo
	auth    Authorizer
	cards   CardUpdater
	replies Replier
	log     zerolog.Logger
	locks   *keyedMutex
	footers CardFooters // may be nil
	as      SentryAs    // may be nil: the organization's token makes every change
}

// ActAs makes changes as each user's own Sentry login where they have one.
func (t *Triage) ActAs(a SentryAs) { t.as = a }

// KeepFooters keeps the acted-on card's "… by @user" line in f, so that a
// later redraw of the card (when Sentry reports the change) shows it too.
func (t *Triage) KeepFooters(f CardFooters) { t.footers = f }

// NewTriage builds the triage handler.
func NewTriage(org string, s IssueChanger, memo IssueMemo, auth Authorizer, cards CardUpdater, replies Replier, log zerolog.Logger) *Triage {
	return &Triage{org: org, sentry: s, memo: memo, auth: auth, cards: cards, replies: replies, log: log, locks: newKeyedMutex()}
}

// cardRef says where the card that was clicked lives, so it can be updated
// in place for everyone.
type cardRef struct {
	unfurlURL   string // set for a card in a link unfurl
	channelID   string
	messageTS   string
	responseURL string
	// private: the change came from a command, so the new card is shown to
	// the user alone rather than replacing a message.
	private bool
}

// HandleAction routes a click on an issue card.
func (t *Triage) HandleAction(ctx context.Context, a bot.Action) error {
	if len(a.ActionCallback.BlockActions) == 0 {
		return nil
	}
	act := a.ActionCallback.BlockActions[0]
	issueID, ok := blocks.IssueIDFromBlockID(act.BlockID)
	if !ok {
		issueID = act.Value
	}
	subj := authz.Subject{TeamID: a.Team.ID, UserID: a.User.ID, ChannelID: a.Channel.ID}
	if subj.ChannelID == "" {
		subj.ChannelID = a.Container.ChannelID
	}
	ref := cardRef{channelID: a.Container.ChannelID, messageTS: a.Container.MessageTs, responseURL: a.ResponseURL}
	if a.InUnfurl() {
		ref.unfurlURL = a.AppUnfurlURL
	}

	change, err := ChangeFromAction(act)
	if err != nil {
		t.log.Warn().Err(err).Str("action_id", act.ActionID).Msg("unrecognised card action")
		return t.replies.Ephemeral(ctx, ref.responseURL, ref.channelID, subj.UserID,
			"That button isn't one sentrybot knows. Paste the issue link again to get a fresh card.")
	}
	if !isIssueID(issueID) {
		return t.replies.Ephemeral(ctx, ref.responseURL, ref.channelID, subj.UserID,
			"That card doesn't say which issue it is. Paste the issue link again to get a fresh card.")
	}
	return t.Apply(ctx, subj, issueID, change, ref)
}

// Apply authorizes, applies and records one change, then updates the card.
// Refusals and failures reach only the acting user.
func (t *Triage) Apply(ctx context.Context, subj authz.Subject, issueID string, c Change, ref cardRef) error {
	res := authz.Resource{IssueID: issueID, Org: t.org}
	log := t.log.With().Str("user", subj.UserID).Str("issue", issueID).Str("action", string(c.Action)).Logger()
	say := func(text string) error {
		return t.replies.Ephemeral(ctx, ref.responseURL, ref.channelID, subj.UserID, text)
	}

	d, facts, err := t.auth.Authorize(ctx, subj, c.Action, res)
	if err != nil {
		// The decision could not be made: nothing is changed, and nothing
		// is recorded as allowed.
		log.Error().Err(err).Msg("authorization failed")
		return say("sentrybot couldn't check your permissions just now, so nothing was changed. Try again in a minute.")
	}
	if !d.Allow {
		t.record(ctx, log, subj, c, res, d, facts, "", c.Detail)
		return say(d.Message)
	}
	if c.Me {
		if facts.Identity.SentryUserID == "" {
			t.record(ctx, log, subj, c, res, d, facts, "error: no linked Sentry user", c.Detail)
			return say("You can't assign an issue to yourself until your Slack account is linked to Sentry. Run `/sentry link` first.")
		}
		c.Update = sentry.AssignTo("user:" + facts.Identity.SentryUserID)
		c.Detail = "assignedTo=user:" + facts.Identity.SentryUserID
	}

	client, err := t.clientFor(ctx, subj, &c)
	if errors.Is(err, ErrLoginStale) {
		t.record(ctx, log, subj, c, res, d, facts, "error: Sentry login link stale", c.Detail)
		return say("Your Sentry login link has expired or was revoked, so sentrybot can't act as you in Sentry. Nothing was changed. Run `/sentry link` to link again.")
	}
	if err != nil {
		t.record(ctx, log, subj, c, res, d, facts, "error: "+outcomeText(err), c.Detail)
		return t.failed(ctx, log, subj, issueID, err, ref)
	}

	// One change per issue at a time: a double click, or two people at
	// once, are applied in turn against Sentry's current state.
	unlock := t.locks.lock(issueID)
	defer unlock()

	current, err := client.Issue(ctx, t.org, issueID)
	if err != nil {
		t.record(ctx, log, subj, c, res, d, facts, "error: "+outcomeText(err), c.Detail)
		return t.failed(ctx, log, subj, issueID, err, ref)
	}
	if alreadyDone(current, c) {
		t.memo.Put(t.org, issueID, current)
		if bot.Replayed(ctx) {
			// The process that took this click ended before finishing it,
			// perhaps after the change reached Sentry: the change is
			// reported as made, the card drawn as if just made.
			t.record(ctx, log, subj, c, res, d, facts, "ok: already so when resumed after a restart", c.Detail)
			footer := fmt.Sprintf("%s by <@%s>", c.Done, subj.UserID)
			t.refreshCard(ctx, log, current, footer, ref)
			return say(fmt.Sprintf("Done (finished after sentrybot restarted): %s: %s.", current.ShortID, c.Done))
		}
		t.record(ctx, log, subj, c, res, d, facts, "ok: already so, nothing sent", c.Detail)
		t.refreshCard(ctx, log, current, "", ref)
		return say(alreadyText(current, c))
	}

	// Sentry changes an archived issue's substatus only when its status
	// changes, so switching between archive modes reopens it first.
	if c.Action == authz.ActionArchive && current.Status == sentry.StatusIgnored && substatus(current) != c.Update.Substatus &&
		c.Update.Substatus != sentry.SubstatusArchivedUntilConditionMet {
		if err := client.UpdateIssue(ctx, t.org, current.ID, sentry.Unresolve()); err != nil {
			t.record(ctx, log, subj, c, res, d, facts, "error: "+outcomeText(err), c.Detail)
			return t.failed(ctx, log, subj, issueID, err, ref)
		}
	}
	if err := client.UpdateIssue(ctx, t.org, current.ID, c.Update); err != nil {
		t.record(ctx, log, subj, c, res, d, facts, "error: "+outcomeText(err), c.Detail)
		return t.failed(ctx, log, subj, issueID, err, ref)
	}
	t.record(ctx, log, subj, c, res, d, facts, "ok", c.Detail)
	log.Info().Msg("issue changed")

	updated, err := client.Issue(ctx, t.org, current.ID)
	if err != nil {
		// The change is made; only the card's refresh failed.
		t.memo.Forget(t.org, issueID)
		log.Warn().Err(err).Msg("changed, but could not re-read the issue for the card")
		return say(fmt.Sprintf("Done: %s in Sentry, but the card couldn't be refreshed (%s).", strings.ToLower(c.Done), outcomeText(err)))
	}
	t.memo.Put(t.org, issueID, updated)
	footer := fmt.Sprintf("%s by <@%s>", c.Done, subj.UserID)
	t.refreshCard(ctx, log, updated, footer, ref)
	if t.footers != nil && !ref.private && ref.channelID != "" && ref.messageTS != "" {
		if _, err := t.footers.SetCardFooter(ctx, ref.channelID, ref.messageTS, ref.unfurlURL, footer); err != nil {
			log.Warn().Err(err).Msg("card footer not recorded")
		}
	}
	return nil
}

// clientFor is the client that makes subj's change: their own Sentry login
// when they linked one, else the organization's token. The audit detail
// says which, so a change is never made under a credential the log hides.
func (t *Triage) clientFor(ctx context.Context, subj authz.Subject, c *Change) (IssueChanger, error) {
	if t.as == nil {
		return t.sentry, nil
	}
	client, own, err := t.as.For(ctx, subj)
	if err != nil {
		return nil, err
	}
	if !own {
		c.Detail = strings.TrimSpace(c.Detail + " via=org-token")
		return t.sentry, nil
	}
	c.Detail = strings.TrimSpace(c.Detail + " via=user-login")
	return client, nil
}

func (t *Triage) record(ctx context.Context, log zerolog.Logger, subj authz.Subject, c Change, res authz.Resource, d authz.Decision, f authz.Facts, outcome, detail string) {
	if err := t.auth.Record(ctx, subj, c.Action, res, d, f, outcome, detail); err != nil {
		log.Error().Err(err).Str("outcome", outcome).Msg("could not write the audit log")
	}
}

// failed tells the user what went wrong with Sentry and what to do; the
// card stays as it was, except for an issue that is gone.
func (t *Triage) failed(ctx context.Context, log zerolog.Logger, subj authz.Subject, issueID string, err error, ref cardRef) error {
	say := func(text string) error {
		return t.replies.Ephemeral(ctx, ref.responseURL, ref.channelID, subj.UserID, text)
	}
	var se *sentry.Error
	errors.As(err, &se)
	switch {
	case errors.Is(err, ErrLoginStale):
		return say("Your Sentry login link has expired or was revoked, so sentrybot can't act as you in Sentry. Nothing was changed. Run `/sentry link` to link again.")
	case sentry.IsNoReleaseData(err):
		return say("This project has no releases in Sentry yet, so it can't be resolved *in the next release*. Resolve it now instead, or set up releases for the project.")
	case errors.Is(err, sentry.ErrNotFound), errors.Is(err, sentry.ErrGone):
		log.Warn().Err(err).Msg("issue is gone")
		t.memo.Forget(t.org, issueID)
		t.goneCard(ctx, log, issueID, ref)
		return say("This issue no longer exists in Sentry (it may have been deleted or merged). Nothing was changed.")
	case errors.Is(err, sentry.ErrForbidden):
		log.Warn().Err(err).Msg("sentry refused the change")
		return say("Sentry refused the change: sentrybot's token lacks the `event:write` scope, or your Sentry member can't access this project. Ask a Sentry admin to check.")
	case errors.Is(err, sentry.ErrRateLimited):
		wait := "a few seconds"
		if se != nil && !se.RetryAt.IsZero() {
			// Sentry's reset is in whole seconds: never say "0s".
			wait = max(time.Until(se.RetryAt).Round(time.Second), time.Second).String()
		}
		return say("Sentry is rate limiting sentrybot right now. Nothing was changed; try again in " + wait + ".")
	case errors.Is(err, sentry.ErrInvalid):
		detail := "it didn't accept the change"
		if se != nil && se.Detail != "" {
			detail = se.Detail
		}
		return say("Sentry refused the change: " + detail)
	default:
		log.Warn().Err(err).Msg("couldn't reach Sentry")
		return say("Couldn't reach Sentry, so nothing was changed and the card is as it was. Try again in a minute.")
	}
}

// refreshCard shows the issue's current state on the card, for everyone.
func (t *Triage) refreshCard(ctx context.Context, log zerolog.Logger, is *sentry.Issue, footer string, ref cardRef) {
	att := blocks.IssueAttachment(*is, blocks.CardOptions{Footer: footer})
	if err := t.updateCard(ctx, att, ref); err != nil {
		log.Warn().Err(err).Msg("could not update the card")
	}
}

func (t *Triage) goneCard(ctx context.Context, log zerolog.Logger, issueID string, ref cardRef) {
	is := &sentry.Issue{ID: issueID, ShortID: "Issue " + issueID, Title: "This issue no longer exists in Sentry", Level: "info"}
	att := blocks.IssueAttachment(*is, blocks.CardOptions{NoActions: true, Footer: "Deleted or merged in Sentry"})
	if err := t.updateCard(ctx, att, ref); err != nil {
		log.Warn().Err(err).Msg("could not mark the card as gone")
	}
}

// updateCard changes the card where it lives: an unfurl through chat.unfurl
// on its message, a message of the bot's through chat.update, and only as a
// last resort through the response_url.
func (t *Triage) updateCard(ctx context.Context, att slack.Attachment, ref cardRef) error {
	if ref.private {
		return t.replies.EphemeralCard(ctx, ref.responseURL, att)
	}
	var err error
	switch {
	case ref.unfurlURL != "" && ref.channelID != "" && ref.messageTS != "":
		_, _, _, err = t.cards.UnfurlMessageContext(ctx, ref.channelID, ref.messageTS, map[string]slack.Attachment{ref.unfurlURL: att})
	case ref.channelID != "" && ref.messageTS != "":
		_, _, _, err = t.cards.UpdateMessageContext(ctx, ref.channelID, ref.messageTS,
			slack.MsgOptionAttachments(att), slack.MsgOptionText(att.Fallback, false))
	default:
		err = errors.New("no message to update")
	}
	if err != nil && ref.responseURL != "" {
		if rerr := t.replies.ReplaceOriginal(ctx, ref.responseURL, att); rerr == nil {
			return nil
		}
	}
	return err
}

// alreadyDone reports whether the issue already is as the change would
// leave it, so nothing needs sending.
func alreadyDone(is *sentry.Issue, c Change) bool {
	sub := substatus(is)
	switch c.Action {
	case authz.ActionResolve:
		return is.Status == sentry.StatusResolved
	case authz.ActionUnresolve:
		return is.Status == sentry.StatusUnresolved
	case authz.ActionUnarchive:
		return is.Status != sentry.StatusIgnored
	case authz.ActionArchive:
		// A condition (for an hour, until 100 events) is always re-applied:
		// it restarts the count. The open-ended ones are not.
		return is.Status == sentry.StatusIgnored && c.Update.Substatus != sentry.SubstatusArchivedUntilConditionMet && sub == c.Update.Substatus
	case authz.ActionAssign:
		return c.Update.AssignedTo != nil && is.AssignedTo != nil && is.AssignedTo.Type+":"+is.AssignedTo.ID == *c.Update.AssignedTo
	case authz.ActionUnassign:
		return is.AssignedTo == nil
	}
	return false
}

// alreadyText tells the user their change was already so.
func alreadyText(is *sentry.Issue, c Change) string {
	switch c.Action {
	case authz.ActionAssign:
		return fmt.Sprintf("%s is already assigned to %s.", is.ShortID, blocks.AssigneeName(is.AssignedTo))
	case authz.ActionUnassign:
		return fmt.Sprintf("%s is already unassigned.", is.ShortID)
	}
	return fmt.Sprintf("%s is already %s.", is.ShortID, strings.ToLower(stateWords(is)))
}

func substatus(is *sentry.Issue) string {
	if is.Substatus == nil {
		return ""
	}
	return *is.Substatus
}

func stateWords(is *sentry.Issue) string {
	switch is.Status {
	case sentry.StatusResolved:
		return "Resolved"
	case sentry.StatusIgnored:
		return "Archived"
	}
	return "Unresolved"
}

// outcomeText is an error as the audit log and users read it.
func outcomeText(err error) string {
	if errors.Is(err, ErrLoginStale) {
		return "Sentry login link stale"
	}
	var se *sentry.Error
	if errors.As(err, &se) {
		if se.Detail != "" {
			return fmt.Sprintf("%s (%d): %s", se.Kind, se.StatusCode, se.Detail)
		}
		if se.StatusCode != 0 {
			return fmt.Sprintf("%s (%d)", se.Kind, se.StatusCode)
		}
		return se.Kind.String()
	}
	return err.Error()
}

// isIssueID accepts a numeric id or a short ID; anything else never reaches
// a URL path.
func isIssueID(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
