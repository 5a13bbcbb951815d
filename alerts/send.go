package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"sentrybot/blocks"
	"sentrybot/sentry"
	"sentrybot/store"
)

// plan is an outbox item decoded and ready to send.
type plan struct {
	item  store.OutboxItem
	issue sentry.Issue
	p     outPayload
	root  string // ts of the alert message to reply to; "" for a new message
}

// resolve maps a channel name to the id Slack answered with for it, once
// known, so that pacing, threading and cards all use the id.
func (s *Service) resolve(channel string) string {
	if id, ok := s.names[channel]; ok {
		return id
	}
	return channel
}

// learn remembers the id Slack answered for a channel named by name, here
// and in the store for the next process.
func (s *Service) learn(ctx context.Context, name, id string) {
	if id == "" || id == name || s.names[name] == id {
		return
	}
	s.names[name] = id
	wctx, cancel := detached(ctx)
	defer cancel()
	if err := s.db.RememberChannelName(wctx, name, id); err != nil {
		s.log.Warn().Err(err).Str("channel", name).Msg("channel id not remembered; threads may restart after a restart")
	}
	if t, ok := s.ready[name]; ok && t.After(s.ready[id]) {
		s.ready[id] = t
	}
	delete(s.ready, name)
}

// sendDue posts, for each channel whose pace allows it, its next message:
// a digest when many new alerts wait for it, otherwise the oldest item. It
// returns when it next has something to do (zero for nothing known).
func (s *Service) sendDue(ctx context.Context) time.Time {
	if ctx.Err() != nil {
		return time.Time{}
	}
	now := s.now()
	if now.Before(s.pausedUntil) {
		return s.pausedUntil
	}
	for ch, t := range s.ready {
		if now.Sub(t) > time.Minute {
			delete(s.ready, ch)
		}
	}
	items, err := s.db.DueOutbox(ctx, now, batch)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error().Err(err).Msg("reading the alert outbox")
		}
		return time.Time{}
	}
	groups := map[string][]store.OutboxItem{}
	var order []string
	for _, it := range items {
		key := s.resolve(it.ChannelID)
		if groups[key] == nil {
			order = append(order, key)
		}
		groups[key] = append(groups[key], it)
	}

	var wake time.Time
	earliest := func(t time.Time) {
		if wake.IsZero() || t.Before(wake) {
			wake = t
		}
	}
	for _, key := range order {
		if ctx.Err() != nil {
			return wake
		}
		if t := s.ready[key]; s.now().Before(t) {
			earliest(t)
			continue
		}
		s.sendChannel(ctx, key, groups[key])
		if s.now().Before(s.pausedUntil) {
			return s.pausedUntil
		}
		if t, ok := s.ready[s.resolve(key)]; ok && t.After(s.now()) {
			earliest(t)
		}
	}
	return wake
}

// sendChannel posts one message to a channel: a digest of the new alerts
// when there are DigestThreshold or more, otherwise the oldest item (which
// goes into the thread of an earlier alert for its issue, if there is one).
func (s *Service) sendChannel(ctx context.Context, key string, items []store.OutboxItem) {
	since := s.now().Add(-s.o.ThreadWindow)
	var plans, fresh []plan
	for _, it := range items {
		pl, err := decodePlan(it)
		if err != nil {
			s.closeItems(ctx, []store.OutboxItem{it}, store.ItemFailed, err)
			continue
		}
		root, err := s.db.FirstAlertCard(ctx, it.IssueID, key, since)
		switch {
		case err == nil:
			pl.root = root.TS
		case !errors.Is(err, store.ErrNotFound):
			if ctx.Err() == nil {
				s.log.Error().Err(err).Str("channel", key).Msg("looking for an alert thread")
			}
			return
		}
		if pl.p.ThreadOnly && pl.root == "" {
			s.closeItems(ctx, []store.OutboxItem{it}, store.ItemDropped, errors.New("no alert thread to reply in"))
			continue
		}
		plans = append(plans, pl)
		if pl.root == "" {
			fresh = append(fresh, pl)
		}
	}
	switch {
	case len(fresh) >= s.o.DigestThreshold:
		s.postDigest(ctx, key, fresh)
	case len(plans) > 0:
		s.postCard(ctx, key, plans[0])
	}
}

func decodePlan(it store.OutboxItem) (plan, error) {
	pl := plan{item: it}
	if err := json.Unmarshal(it.Issue, &pl.issue); err != nil {
		return plan{}, fmt.Errorf("undecodable issue in outbox item %d: %w", it.ID, err)
	}
	if err := json.Unmarshal(it.Payload, &pl.p); err != nil {
		return plan{}, fmt.Errorf("undecodable outbox item %d: %w", it.ID, err)
	}
	return pl, nil
}

// postCard posts one issue card, then marks the item done and records the
// card in one transaction.
func (s *Service) postCard(ctx context.Context, key string, pl plan) {
	att := blocks.IssueAttachment(pl.issue, blocks.CardOptions{Footer: pl.p.Footer})
	opts := []slack.MsgOption{
		slack.MsgOptionText(notificationText(pl), false),
		slack.MsgOptionAttachments(att),
	}
	if pl.root != "" {
		opts = append(opts, slack.MsgOptionTS(pl.root))
		if pl.p.Broadcast {
			opts = append(opts, slack.MsgOptionBroadcast())
		}
	}
	cctx, cancel := detached(ctx)
	defer cancel()
	channel, ts, err := s.api.PostMessageContext(cctx, key, opts...)
	s.ready[key] = s.now().Add(s.o.ChannelInterval)
	if err != nil {
		s.postFailed(ctx, key, []store.OutboxItem{pl.item}, err)
		return
	}
	if channel == "" {
		channel = key
	}
	s.learn(ctx, key, channel)
	card := store.Card{
		IssueID: pl.item.IssueID, ChannelID: channel, TS: ts, Kind: store.CardMessage,
		Alert: pl.root == "", Footer: pl.p.Footer, PostedAt: s.now(),
	}
	log := s.log.Info().Str("channel", channel).Str("ts", ts).Str("issue", pl.item.IssueID).Int64("outbox_id", pl.item.ID)
	if pl.root != "" {
		log = log.Str("thread_ts", pl.root).Bool("broadcast", pl.p.Broadcast)
	}
	s.deliver(ctx, []store.OutboxItem{pl.item}, ts, []store.Card{card})
	log.Msg("alert posted")
}

// postDigest posts one message listing the new alerts instead of a card each.
func (s *Service) postDigest(ctx context.Context, key string, plans []plan) {
	text, bs := digestMessage(key, plans, s.now())
	items := make([]store.OutboxItem, len(plans))
	for i, pl := range plans {
		items[i] = pl.item
	}
	cctx, cancel := detached(ctx)
	defer cancel()
	channel, ts, err := s.api.PostMessageContext(cctx, key, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(bs...))
	s.ready[key] = s.now().Add(s.o.ChannelInterval)
	if err != nil {
		s.postFailed(ctx, key, items, err)
		return
	}
	if channel == "" {
		channel = key
	}
	s.learn(ctx, key, channel)
	s.deliver(ctx, items, ts, nil)
	s.log.Info().Str("channel", channel).Str("ts", ts).Int("alerts", len(items)).Msg("alert digest posted")
}

// deliver records a post. Were this to fail, the item would stay pending
// and be posted again: say so loudly.
func (s *Service) deliver(ctx context.Context, items []store.OutboxItem, ts string, cards []store.Card) {
	wctx, cancel := detached(ctx)
	defer cancel()
	if err := s.db.DeliverOutbox(wctx, itemIDs(items), ts, cards); err != nil {
		s.log.Error().Err(err).Str("ts", ts).Ints64("outbox_ids", itemIDs(items)).
			Msg("alert posted but not recorded; it may be posted again")
	}
}

// postFailed schedules another attempt at items Slack did not take, or gives
// them up when Slack refused them for good or they have failed for too long.
func (s *Service) postFailed(ctx context.Context, channel string, items []store.OutboxItem, err error) {
	kind, wait := classify(err)
	now := s.now()
	oldest, attempts := items[0].CreatedAt, 0
	for _, it := range items {
		if it.CreatedAt.Before(oldest) {
			oldest = it.CreatedAt
		}
		attempts = max(attempts, it.Attempts)
	}
	switch {
	case kind == failPermanent:
		s.closeItems(ctx, items, store.ItemFailed, err)
		return
	case now.Sub(oldest) >= s.o.GiveUpAfter:
		s.closeItems(ctx, items, store.ItemFailed, fmt.Errorf("given up after %d attempts: %w", attempts+1, err))
		return
	}
	next := now.Add(s.backoff(attempts))
	if kind == failRateLimited {
		if wait <= 0 {
			wait = s.backoff(attempts)
		}
		// Slack's limits on posting are per workspace as well as per
		// channel: hold every post, not only this channel's.
		next = now.Add(wait)
		s.pausedUntil = next
	}
	s.log.Warn().Err(err).Str("channel", channel).Ints64("outbox_ids", itemIDs(items)).Time("retry_at", next).
		Msg("alert not posted; will retry")
	wctx, cancel := detached(ctx)
	defer cancel()
	if err := s.db.RetryOutbox(wctx, itemIDs(items), next, err.Error()); err != nil {
		s.log.Error().Err(err).Msg("recording an alert retry")
	}
}

// closeItems ends items as failed (logged as an error) or dropped.
func (s *Service) closeItems(ctx context.Context, items []store.OutboxItem, state string, reason error) {
	ids := itemIDs(items)
	ev := s.log.Error()
	msg := "alert not posted and not retried"
	if state == store.ItemDropped {
		ev, msg = s.log.Info(), "alert not posted: nothing to post it into"
	}
	ev.Err(reason).Str("channel", items[0].ChannelID).Str("issue", items[0].IssueID).Ints64("outbox_ids", ids).Msg(msg)
	wctx, cancel := detached(ctx)
	defer cancel()
	if err := s.db.CloseOutbox(wctx, ids, state, reason.Error()); err != nil {
		s.log.Error().Err(err).Msg("recording an alert failure")
	}
}

func itemIDs(items []store.OutboxItem) []int64 {
	ids := make([]int64, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	return ids
}

// notificationText is the message text: what notifications and screen
// readers show, e.g. "Alert rule Errors: WEB-1 TypeError: …".
func notificationText(pl plan) string {
	title := oneLine(pl.issue.Title)
	if title == "" {
		title = oneLine(pl.issue.Metadata.Title)
	}
	lead := oneLine(pl.p.Lead)
	if lead == "" {
		lead = "Alert"
	}
	return blocks.Escape(strings.TrimSpace(lead + ": " + oneLine(pl.issue.ShortID) + " " + blocks.Truncate(title, 200)))
}
