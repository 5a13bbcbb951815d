// Package handlers holds sentrybot's behaviour: what happens when a link is
// shared, a command typed or a button clicked. Each handler asks for the
// narrow interfaces it needs, declared here.
package handlers

import (
	"context"
	"fmt"
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

// Unfurler turns Sentry issue links in a message into issue cards.
type Unfurler struct {
	cards  CardRecorder // may be nil
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

	cards := u.fetchAll(ctx, log, order)

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

// fetchAll fetches issues concurrently; a failed fetch leaves a nil card.
func (u *Unfurler) fetchAll(ctx context.Context, log zerolog.Logger, ids []string) map[string]*sentry.Issue {
	out := make(map[string]*sentry.Issue, len(ids))
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
				return
			}
			mu.Lock()
			out[id] = is
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}
