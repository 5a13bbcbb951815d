package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/slack-go/slack"

	"sentrybot/blocks"
	"sentrybot/sentry"
	"sentrybot/store"
)

// syncCards redraws every card of the issue posted or unfurled within
// SyncWindow, and refreshes the issue in messages not yet posted. A card
// Slack refuses for good (deleted, channel gone) is skipped with a log line;
// any other failure is returned, after the other cards were tried, so the
// whole change is retried: redrawing a card twice is harmless.
func (s *Service) syncCards(ctx context.Context, is *sentry.Issue) error {
	raw, err := json.Marshal(is)
	if err != nil {
		return &dropError{reason: fmt.Sprintf("encode issue %s: %v", is.ID, err)}
	}
	if _, err := s.db.RefreshOutboxIssue(ctx, is.ID, raw); err != nil {
		return err
	}
	cards, err := s.db.CardsForIssue(ctx, is.ID, s.now().Add(-s.o.SyncWindow))
	if err != nil {
		return err
	}

	// One chat.unfurl per message, however many of its links show the issue.
	type msg struct{ channel, ts string }
	unfurls := map[msg]map[string]slack.Attachment{}
	var order []msg
	var failed error
	for _, c := range cards {
		if err := ctx.Err(); err != nil {
			return err // stopping: the change is redone by the next Run
		}
		att := blocks.IssueAttachment(*is, blocks.CardOptions{Footer: c.Footer})
		switch c.Kind {
		case store.CardMessage:
			if err := s.updateCard(ctx, c, att); err != nil {
				if errors.As(err, new(*retryError)) {
					return err
				}
				if failed == nil {
					failed = err
				}
			}
		case store.CardUnfurl:
			m := msg{c.ChannelID, c.TS}
			if unfurls[m] == nil {
				unfurls[m] = map[string]slack.Attachment{}
				order = append(order, m)
			}
			unfurls[m][c.UnfurlURL] = att
		}
	}
	for _, m := range order {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.unfurlCard(ctx, m.channel, m.ts, is.ID, unfurls[m]); err != nil {
			if errors.As(err, new(*retryError)) {
				return err
			}
			if failed == nil {
				failed = err
			}
		}
	}
	if failed == nil && len(cards) > 0 {
		s.log.Info().Str("issue", is.ID).Str("status", is.Status).Int("cards", len(cards)).Msg("cards updated")
	}
	return failed
}

func (s *Service) updateCard(ctx context.Context, c store.Card, att slack.Attachment) error {
	cctx, cancel := detached(ctx)
	defer cancel()
	_, _, _, err := s.api.UpdateMessageContext(cctx, c.ChannelID, c.TS,
		slack.MsgOptionText(blocks.Escape(att.Fallback), false), slack.MsgOptionAttachments(att))
	return s.cardError(err, "chat.update", c.ChannelID, c.TS, c.IssueID)
}

func (s *Service) unfurlCard(ctx context.Context, channel, ts, issueID string, unfurls map[string]slack.Attachment) error {
	cctx, cancel := detached(ctx)
	defer cancel()
	_, _, _, err := s.api.UnfurlMessageContext(cctx, channel, ts, unfurls)
	return s.cardError(err, "chat.unfurl", channel, ts, issueID)
}

// cardError turns a failed card update into nil (permanent: logged and
// skipped), a retryError (rate limited) or the error (try again later).
func (s *Service) cardError(err error, method, channel, ts, issueID string) error {
	if err == nil {
		return nil
	}
	kind, wait := classify(err)
	switch kind {
	case failPermanent:
		s.log.Warn().Err(err).Str("method", method).Str("channel", channel).Str("ts", ts).Str("issue", issueID).
			Msg("card cannot be updated; skipped")
		return nil
	case failRateLimited:
		return &retryError{at: s.now().Add(max(wait, s.o.RetryBase)), err: fmt.Errorf("%s %s/%s: %w", method, channel, ts, err)}
	}
	return fmt.Errorf("%s %s/%s: %w", method, channel, ts, err)
}
