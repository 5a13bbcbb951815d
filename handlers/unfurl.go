// Package handlers holds sentrybot's behaviour: what happens when a link is
// shared, a command typed or a button clicked. Each handler asks for the
// narrow interfaces it needs, declared here.
package handlers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"sentrybot/blocks"
	"sentrybot/bot"
	"sentrybot/links"
	"sentrybot/sentry"
	"sentrybot/store"
)

// IssueFetcher retrieves one Sentry issue by numeric or short ID.
type IssueFetcher interface {
	Issue(ctx context.Context, org, issueID string) (*sentry.Issue, error)
}

// LinkMatcher recognises Sentry issue links that may unfurl.
type LinkMatcher interface {
	Match(rawURL string) (links.Link, bool)
}

// UnfurlPoster is the part of Slack's Web API that attaches cards to links.
type UnfurlPoster interface {
	UnfurlMessageContext(ctx context.Context, channelID, timestamp string, unfurls map[string]slack.Attachment, options ...slack.MsgOption) (string, string, string, error)
	UnfurlMessageByIDContext(ctx context.Context, unfurlID, source string, unfurls map[string]slack.Attachment, options ...slack.MsgOption) (string, string, string, error)
}

// CardRecorder remembers where a card was posted or unfurled, so it can be
// redrawn when its issue changes.
type CardRecorder interface {
	RecordCard(ctx context.Context, c store.Card) error
}

// maxIssuesPerMessage bounds the issues one message unfurls, and so the
// Sentry calls one message can cost.
const maxIssuesPerMessage = 10

// Unfurler turns Sentry issue links in a message into issue cards.
type Unfurler struct {
	cards  CardRecorder    // may be nil
	notice EphemeralPoster // may be nil: failures are only logged
	org    string
	links  LinkMatcher
	issues IssueFetcher
	slack  UnfurlPoster
	log    zerolog.Logger
	// fetchers bounds concurrent Sentry fetches for one message.
	fetchers int
}

// NewUnfurler builds an Unfurler for the Sentry organization org. cards,
// when not nil, records every card unfurled in a posted message.
func NewUnfurler(org string, m LinkMatcher, issues IssueFetcher, s UnfurlPoster, cards CardRecorder, log zerolog.Logger) *Unfurler {
	return &Unfurler{org: org, links: m, issues: issues, slack: s, cards: cards, log: log, fetchers: 8}
}

var _ bot.LinkSharedHandler = (*Unfurler)(nil)

// TellFailures makes the Unfurler tell the person who shared a link,
// privately, when Sentry could not be reached for its card.
func (u *Unfurler) TellFailures(p EphemeralPoster) { u.notice = p }

// HandleLinkShared fetches every distinct issue the links name, at once, and
// unfurls all the cards in one chat.unfurl call. A link whose issue cannot be
// fetched is left out and logged; the others still unfurl.
func (u *Unfurler) HandleLinkShared(ctx context.Context, ev bot.LinkShared) error {
	log := u.log.With().Str("channel", ev.Channel).Str("event_id", ev.EventID).Logger()

	// Several URLs may name one issue (an events path, another query):
	// one fetch, one card per URL.
	byIssue := map[string][]string{}
	var order []string
	for _, raw := range ev.URLs {
		l, ok := u.links.Match(raw)
		if !ok {
			log.Debug().Str("url", raw).Msg("not a Sentry issue link of this organization; ignored")
			continue
		}
		if _, seen := byIssue[l.IssueID]; !seen {
			order = append(order, l.IssueID)
		}
		byIssue[l.IssueID] = append(byIssue[l.IssueID], raw)
	}
	if len(order) == 0 {
		return nil
	}
	if len(order) > maxIssuesPerMessage {
		// One message must not spend the organization's rate limit.
		log.Warn().Int("issues", len(order)).Int("unfurled", maxIssuesPerMessage).Msg("message names too many issues; only the first ones unfurl")
		order = order[:maxIssuesPerMessage]
	}

	cards, failed := u.fetchAll(ctx, log, order)
	u.tellFailed(ctx, log, ev, failed)

	unfurls := make(map[string]slack.Attachment, len(ev.URLs))
	for _, id := range order {
		is := cards[id]
		if is == nil {
			continue
		}
		att := blocks.IssueAttachment(*is, blocks.CardOptions{})
		for _, raw := range byIssue[id] {
			unfurls[raw] = att
		}
	}
	if len(unfurls) == 0 {
		return nil
	}

	var err error
	if ev.InComposer() && ev.UnfurlID != "" {
		_, _, _, err = u.slack.UnfurlMessageByIDContext(ctx, ev.UnfurlID, ev.Source, unfurls)
	} else {
		_, _, _, err = u.slack.UnfurlMessageContext(ctx, ev.Channel, ev.MessageTS, unfurls)
	}
	if err != nil {
		return fmt.Errorf("unfurling %d link(s) with chat.unfurl: %w", len(unfurls), err)
	}
	log.Info().Int("cards", len(unfurls)).Msg("unfurled")
	// A card in the composer has no message yet; only posted ones can be
	// redrawn later.
	if u.cards != nil && !ev.InComposer() {
		for _, id := range order {
			if cards[id] == nil {
				continue
			}
			for _, raw := range byIssue[id] {
				c := store.Card{IssueID: cards[id].ID, ChannelID: ev.Channel, TS: ev.MessageTS, UnfurlURL: raw, Kind: store.CardUnfurl}
				if err := u.cards.RecordCard(ctx, c); err != nil {
					log.Warn().Err(err).Msg("unfurled card not recorded; it won't follow changes")
				}
			}
		}
	}
	return nil
}

// fetchAll fetches issues concurrently; a failed fetch leaves a nil card,
// and its error in failed.
func (u *Unfurler) fetchAll(ctx context.Context, log zerolog.Logger, ids []string) (cards map[string]*sentry.Issue, failed map[string]error) {
	out := make(map[string]*sentry.Issue, len(ids))
	failed = map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, u.fetchers)
	for _, id := range ids {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			is, err := u.issues.Issue(ctx, u.org, id)
			if err != nil {
				log.Warn().Err(err).Str("issue", id).Msg("issue left out of the unfurl")
				mu.Lock()
				failed[id] = err
				mu.Unlock()
				return
			}
			mu.Lock()
			out[id] = is
			mu.Unlock()
		})
	}
	wg.Wait()
	return out, failed
}

// tellFailed tells the sharer which links got no card because Sentry could
// not be reached or refused sentrybot. A link to an issue Sentry says does
// not exist stays quiet, like any link that is not an issue's. Links still
// in the composer have no channel to answer in.
func (u *Unfurler) tellFailed(ctx context.Context, log zerolog.Logger, ev bot.LinkShared, failed map[string]error) {
	if u.notice == nil || ev.InComposer() || ev.User == "" || len(failed) == 0 {
		return
	}
	var ids []string
	rateLimited := false
	for id, err := range failed {
		if errors.Is(err, sentry.ErrNotFound) || errors.Is(err, sentry.ErrGone) || errors.Is(err, context.Canceled) {
			continue
		}
		rateLimited = rateLimited || errors.Is(err, sentry.ErrRateLimited)
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return
	}
	sort.Strings(ids)
	why := "Couldn't reach Sentry"
	if rateLimited {
		why = "Sentry is rate limiting sentrybot, so it couldn't fetch"
	}
	text := fmt.Sprintf("%s for issue %s, so the link was left without a card. Paste it again in a minute to try again.", why, strings.Join(ids, ", "))
	if _, err := u.notice.PostEphemeralContext(ctx, ev.Channel, ev.User, slack.MsgOptionText(text, false)); err != nil {
		log.Warn().Err(err).Msg("could not tell the sharer that the unfurl failed")
	}
}
