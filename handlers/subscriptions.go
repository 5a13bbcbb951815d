package handlers

import (
	"context"
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"sentrybot/authz"
	"sentrybot/blocks"
	"sentrybot/slashcmd"
	"sentrybot/store"
)

// SubscriptionStore keeps channels' alert subscriptions.
type SubscriptionStore interface {
	AddSubscription(ctx context.Context, s store.Subscription) (store.Subscription, bool, error)
	RemoveSubscriptions(ctx context.Context, channelID string, projects []string, query string) (int64, error)
	Subscriptions(ctx context.Context, channelID string) ([]store.Subscription, error)
}

// subscriptions answers subscribe, unsubscribe and subscriptions.
func (c *Commands) subscriptions(ctx context.Context, cmd slack.SlashCommand, subj authz.Subject, p slashcmd.Command) error {
	if c.d.Subs == nil {
		return c.private(ctx, cmd, "Alert subscriptions aren't set up in this sentrybot.")
	}
	switch p.Verb {
	case slashcmd.VerbSubscriptions:
		return c.listSubscriptions(ctx, cmd, subj, p.All)
	case slashcmd.VerbSubscribe:
		return c.subscribe(ctx, cmd, subj, p)
	default:
		return c.unsubscribe(ctx, cmd, subj, p)
	}
}

func (c *Commands) subscribe(ctx context.Context, cmd slack.SlashCommand, subj authz.Subject, p slashcmd.Command) error {
	res := authz.Resource{Org: c.d.Org}
	detail := describeSub(p.Projects, p.Query)
	d, facts, err := c.d.Auth.Authorize(ctx, subj, authz.ActionSubscribe, res)
	if err != nil {
		c.d.Log.Error().Err(err).Msg("subscribe: authorization failed")
		return c.private(ctx, cmd, "sentrybot couldn't check your permissions just now, so nothing was changed. Try again in a minute.")
	}
	if !d.Allow {
		c.recordAdmin(ctx, subj, authz.ActionSubscribe, res, d, facts, "", detail)
		return c.private(ctx, cmd, d.Message)
	}
	sub, created, err := c.d.Subs.AddSubscription(ctx, store.Subscription{
		TeamID: cmd.TeamID, ChannelID: cmd.ChannelID, Projects: p.Projects, Query: p.Query, CreatedBy: cmd.UserID})
	if err != nil {
		c.recordAdmin(ctx, subj, authz.ActionSubscribe, res, d, facts, authz.Outcome(err), detail)
		c.d.Log.Error().Err(err).Msg("subscribe")
		return c.private(ctx, cmd, "sentrybot couldn't store the subscription; nothing changed. Try again.")
	}
	c.recordAdmin(ctx, subj, authz.ActionSubscribe, res, d, facts, "ok", detail)
	if !created {
		return c.private(ctx, cmd, fmt.Sprintf("This channel already has that subscription (#%d): %s.", sub.ID, detail))
	}
	return c.private(ctx, cmd, fmt.Sprintf("Subscribed this channel to %s (#%d). New issues that match are posted here.", detail, sub.ID))
}

func (c *Commands) unsubscribe(ctx context.Context, cmd slack.SlashCommand, subj authz.Subject, p slashcmd.Command) error {
	res := authz.Resource{Org: c.d.Org}
	detail := "unsubscribe " + describeSub(p.Projects, p.Query)
	if len(p.Projects) == 0 && p.Query == "" {
		detail = "unsubscribe everything in the channel"
	}
	d, facts, err := c.d.Auth.Authorize(ctx, subj, authz.ActionSubscribe, res)
	if err != nil {
		return c.private(ctx, cmd, "sentrybot couldn't check your permissions just now, so nothing was changed. Try again in a minute.")
	}
	if !d.Allow {
		c.recordAdmin(ctx, subj, authz.ActionSubscribe, res, d, facts, "", detail)
		return c.private(ctx, cmd, d.Message)
	}
	n, err := c.d.Subs.RemoveSubscriptions(ctx, cmd.ChannelID, p.Projects, p.Query)
	if err != nil {
		c.recordAdmin(ctx, subj, authz.ActionSubscribe, res, d, facts, authz.Outcome(err), detail)
		return c.private(ctx, cmd, "sentrybot couldn't remove the subscription; nothing changed. Try again.")
	}
	c.recordAdmin(ctx, subj, authz.ActionSubscribe, res, d, facts, "ok", detail)
	if n == 0 {
		return c.private(ctx, cmd, "This channel has no subscription like that. `/sentry subscriptions` lists them.")
	}
	return c.private(ctx, cmd, fmt.Sprintf("Removed %d subscription(s) from this channel.", n))
}

func (c *Commands) listSubscriptions(ctx context.Context, cmd slack.SlashCommand, subj authz.Subject, all bool) error {
	channel := cmd.ChannelID
	if all {
		d, _, err := c.d.Auth.Authorize(ctx, subj, authz.ActionAdminSubscriptions, authz.Resource{Org: c.d.Org})
		if err != nil {
			return c.private(ctx, cmd, "sentrybot couldn't check your permissions just now. Try again in a minute.")
		}
		if !d.Allow {
			return c.private(ctx, cmd, d.Message)
		}
		channel = ""
	}
	subs, err := c.d.Subs.Subscriptions(ctx, channel)
	if err != nil {
		c.d.Log.Error().Err(err).Msg("subscriptions")
		return c.private(ctx, cmd, "sentrybot couldn't read the subscriptions just now; try again.")
	}
	if len(subs) == 0 {
		if all {
			return c.private(ctx, cmd, "No channel has alert subscriptions. `/sentry subscribe &lt;project… | query&gt;` in a channel adds one.")
		}
		return c.private(ctx, cmd, "This channel has no alert subscriptions. `/sentry subscribe &lt;project… | query&gt;` adds one.")
	}
	var b strings.Builder
	if all {
		b.WriteString("*Alert subscriptions of every channel:*\n")
	} else {
		b.WriteString("*Alert subscriptions of this channel:*\n")
	}
	for _, s := range subs {
		where := ""
		if all {
			where = "<#" + s.ChannelID + "> "
		}
		fmt.Fprintf(&b, "• #%d %s%s, by <@%s> %s\n", s.ID, where, describeSub(s.Projects, s.Query), s.CreatedBy, slackDate(s.CreatedAt))
	}
	return c.private(ctx, cmd, b.String())
}

func describeSub(projects []string, query string) string {
	what := "all projects"
	if len(projects) > 0 {
		what = "project(s) " + strings.Join(projects, ", ")
	}
	if query != "" {
		what += " matching " + blocks.InlineCode(query)
	}
	return what
}
