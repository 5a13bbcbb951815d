package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"sentrybot/blocks"
	"sentrybot/sentry"
	"sentrybot/store"
)

// outPayload is what an outbox item carries besides its issue.
type outPayload struct {
	Footer     string `json:"footer,omitempty"`      // the card's context line
	Lead       string `json:"lead,omitempty"`        // first words of the notification text
	Broadcast  bool   `json:"broadcast,omitempty"`   // a thread reply is also shown in the channel
	ThreadOnly bool   `json:"thread_only,omitempty"` // post only as a reply to an earlier alert
}

// dropError ends an inbox item without routing it; the reason is logged.
type dropError struct{ reason string }

func (e *dropError) Error() string { return e.reason }

// retryError asks for another attempt at a given time rather than after the
// usual backoff (Retry-After).
type retryError struct {
	at  time.Time
	err error
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// routeDue handles every inbox item that is due.
func (s *Service) routeDue(ctx context.Context) {
	for ctx.Err() == nil {
		items, err := s.db.DueInbox(ctx, s.now(), batch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error().Err(err).Msg("reading the alert inbox")
			}
			return
		}
		for _, it := range items {
			if ctx.Err() != nil {
				return
			}
			s.handleInbox(ctx, it)
		}
		if len(items) < batch {
			return
		}
	}
}

// handleInbox routes one item and records the outcome. A failure caused by
// ctx ending leaves the item as it was, for the next Run.
func (s *Service) handleInbox(ctx context.Context, it store.InboxItem) {
	log := s.log.With().Int64("inbox_id", it.ID).Str("job", it.Job).Str("delivery_id", it.DeliveryID).Logger()
	var err error
	switch it.Job {
	case store.JobAlert:
		err = s.handleAlert(ctx, log, it)
	case store.JobSync:
		err = s.handleSync(ctx, it)
	default:
		err = &dropError{reason: "unknown job " + strconv.Quote(it.Job)}
	}
	if err != nil && ctx.Err() != nil && !errors.As(err, new(*dropError)) {
		return
	}
	wctx, cancel := detached(ctx)
	defer cancel()

	var drop *dropError
	var retry *retryError
	now := s.now()
	switch {
	case err == nil:
		return
	case errors.As(err, &drop):
		log.Warn().Str("reason", drop.reason).Msg("alert dropped")
		err = s.db.CloseInbox(wctx, it.ID, store.ItemDone, "dropped: "+drop.reason)
	case now.Sub(it.CreatedAt) >= s.o.GiveUpAfter:
		log.Error().Err(err).Int("attempts", it.Attempts+1).Msg("alert given up after failing for too long")
		err = s.db.CloseInbox(wctx, it.ID, store.ItemFailed, err.Error())
	case errors.As(err, &retry):
		log.Warn().Err(err).Time("retry_at", retry.at).Msg("alert will be retried")
		err = s.db.RetryInbox(wctx, it.ID, retry.at, err.Error())
	default:
		next := now.Add(s.backoff(it.Attempts))
		log.Warn().Err(err).Time("retry_at", next).Msg("alert will be retried")
		err = s.db.RetryInbox(wctx, it.ID, next, err.Error())
	}
	if err != nil {
		log.Error().Err(err).Msg("recording the outcome of an alert")
	}
}

// handleSync updates the cards of a changed issue.
func (s *Service) handleSync(ctx context.Context, it store.InboxItem) error {
	var is sentry.Issue
	if err := json.Unmarshal(it.Payload, &is); err != nil || is.ID == "" {
		return &dropError{reason: fmt.Sprintf("sync payload is not an issue: %v", err)}
	}
	if err := s.syncCards(ctx, &is); err != nil {
		return err
	}
	wctx, cancel := detached(ctx)
	defer cancel()
	return s.db.CloseInbox(wctx, it.ID, store.ItemDone, "")
}

// handleAlert updates cards for a change, or decides where news goes and
// queues it, in one transaction with closing the inbox item.
func (s *Service) handleAlert(ctx context.Context, log zerolog.Logger, it store.InboxItem) error {
	var a Alert
	if err := json.Unmarshal(it.Payload, &a); err != nil {
		return &dropError{reason: fmt.Sprintf("undecodable alert: %v", err)}
	}
	deliveryKey := a.DeliveryID
	if deliveryKey == "" {
		deliveryKey = "inbox-" + strconv.FormatInt(it.ID, 10)
	}
	if !a.Changed() && !isNews(a) {
		return &dropError{reason: fmt.Sprintf("%s %q is neither news nor a change", a.Kind, a.Action)}
	}

	is, err := s.issueOf(ctx, a)
	if err != nil {
		return err
	}
	issueJSON, err := json.Marshal(is)
	if err != nil {
		return &dropError{reason: fmt.Sprintf("encode issue: %v", err)}
	}

	var items []store.OutboxItem
	if a.Changed() {
		if err := s.syncCards(ctx, is); err != nil {
			return err
		}
		if a.Action == "unresolved" {
			if items, err = s.threadReplies(ctx, a, is, issueJSON, deliveryKey); err != nil {
				return err
			}
		}
	} else {
		rs, err := s.route(ctx, a, is)
		if err != nil {
			return err
		}
		items = s.outboxItems(a, is, issueJSON, deliveryKey, rs)
	}

	wctx, cancel := detached(ctx)
	defer cancel()
	added, err := s.db.RouteInbox(wctx, it.ID, items)
	if err != nil {
		return err
	}
	if len(items) > 0 {
		chans := make([]string, 0, len(items))
		for _, o := range items {
			chans = append(chans, o.ChannelID)
		}
		log.Info().Str("issue", is.ID).Str("kind", a.Kind).Str("action", a.Action).Strs("channels", chans).
			Int("queued", added).Msg("alert routed")
	}
	s.signal()
	return nil
}

// isNews reports whether the alert announces something to post, as opposed
// to a change of an issue already shown.
func isNews(a Alert) bool {
	switch a.Kind {
	case KindEventAlert:
		return a.Action == "" || a.Action == "triggered"
	case KindIssue, KindPoll:
		return a.Action == "created"
	}
	return false
}

// issueOf returns the alert's issue, fetching it when the alert did not
// carry it. An issue Sentry no longer has drops the alert.
func (s *Service) issueOf(ctx context.Context, a Alert) (*sentry.Issue, error) {
	if a.Issue != nil && a.Issue.ID != "" {
		return a.Issue, nil
	}
	is, err := s.issues.Issue(ctx, s.o.Org, a.IssueID)
	switch {
	case errors.Is(err, sentry.ErrNotFound) || errors.Is(err, sentry.ErrGone):
		return nil, &dropError{reason: fmt.Sprintf("issue %s not found in Sentry: %v", a.IssueID, err)}
	case err != nil:
		var se *sentry.Error
		if errors.As(err, &se) && !se.RetryAt.IsZero() {
			return nil, &retryError{at: se.RetryAt, err: fmt.Errorf("fetch issue %s: %w", a.IssueID, err)}
		}
		return nil, fmt.Errorf("fetch issue %s: %w", a.IssueID, err)
	case is == nil:
		return nil, fmt.Errorf("fetch issue %s: no issue in the answer", a.IssueID)
	}
	return is, nil
}

// destination is one channel an alert goes to, and why.
type destination struct {
	channel string
	query   string // the matching subscription's query, when one decided
	subs    bool   // a subscription decided
}

// route decides where news goes: the channel the rule's action names, the
// configured channel of the rule, the subscriptions (the poller's own, for
// a poll alert), the default channel; otherwise nowhere, as a dropError.
func (s *Service) route(ctx context.Context, a Alert, is *sentry.Issue) ([]destination, error) {
	if ch := strings.TrimSpace(a.RuleChannel); ch != "" {
		return []destination{{channel: ch}}, nil
	}
	if a.Rule != "" {
		if ch := strings.TrimSpace(s.o.RuleChannels[a.Rule]); ch != "" {
			return []destination{{channel: ch}}, nil
		}
	}
	if a.Kind == KindPoll && a.SubscriptionID != 0 {
		sub, err := s.db.Subscription(ctx, a.SubscriptionID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, &dropError{reason: fmt.Sprintf("subscription %d that found issue %s no longer exists", a.SubscriptionID, is.ID)}
		}
		if err != nil {
			return nil, err
		}
		return []destination{{channel: sub.ChannelID, query: sub.Query, subs: true}}, nil
	}

	subs, err := s.db.Subscriptions(ctx, "")
	if err != nil {
		return nil, err
	}
	project := is.Project.Slug
	if project == "" {
		project = a.ProjectSlug
	}
	var out []destination
	for _, sub := range subs {
		if len(sub.Projects) > 0 && !slices.ContainsFunc(sub.Projects, func(p string) bool { return strings.EqualFold(p, project) }) {
			continue
		}
		if !MatchQuery(sub.Query, is) {
			continue
		}
		// One message per channel; the oldest matching subscription names it.
		if slices.ContainsFunc(out, func(d destination) bool { return d.channel == sub.ChannelID }) {
			continue
		}
		out = append(out, destination{channel: sub.ChannelID, query: sub.Query, subs: true})
	}
	if len(out) > 0 {
		return out, nil
	}
	if s.o.DefaultChannel != "" {
		return []destination{{channel: s.o.DefaultChannel}}, nil
	}
	return nil, &dropError{reason: fmt.Sprintf("no channel for issue %s: the alert names none, rule %q is not in alerts.rule_channels, no subscription matches and no default channel is set", is.ID, a.Rule)}
}

// outboxItems turns destinations into outbox items. A new issue is posted
// once per channel whichever source told of it; other alerts once per
// delivery and channel.
func (s *Service) outboxItems(a Alert, is *sentry.Issue, issueJSON []byte, deliveryKey string, ds []destination) []store.OutboxItem {
	created := a.ReceivedAt
	if now := s.now(); created.IsZero() || created.After(now) {
		created = now
	}
	items := make([]store.OutboxItem, 0, len(ds))
	for _, d := range ds {
		p := outPayload{Broadcast: escalation(a, is)}
		key := "alert:" + deliveryKey + ":" + d.channel
		if a.Kind == KindEventAlert {
			p.Lead = "Alert rule " + a.Rule
			p.Footer = ":rotating_light: Alert rule *" + blocks.Escape(oneLine(a.Rule)) + "*"
			if a.Rule == "" {
				p.Lead, p.Footer = "Alert", ":rotating_light: Alert"
			}
		} else {
			key = "new:" + is.ID + ":" + d.channel
			p.Lead, p.Footer = "New issue", "New issue"
			if d.subs && strings.TrimSpace(d.query) != "" {
				p.Footer = "New issue matching your subscription " + blocks.InlineCode(d.query)
			}
		}
		payload, _ := json.Marshal(p) // a struct of strings and bools always encodes
		items = append(items, store.OutboxItem{
			Key: key, ChannelID: d.channel, IssueID: is.ID, Issue: issueJSON, Payload: payload, CreatedAt: created,
		})
	}
	return items
}

// threadReplies queues, for an issue unresolved again, a reply broadcast
// to the channel in each alert thread of the issue still within
// ThreadWindow. Channels without one get nothing: the card updates say it.
func (s *Service) threadReplies(ctx context.Context, a Alert, is *sentry.Issue, issueJSON []byte, deliveryKey string) ([]store.OutboxItem, error) {
	cards, err := s.db.CardsForIssue(ctx, is.ID, s.now().Add(-s.o.ThreadWindow))
	if err != nil {
		return nil, err
	}
	lead, footer := "Unresolved", ":arrows_counterclockwise: Unresolved again"
	if is.Substatus != nil {
		switch *is.Substatus {
		case sentry.SubstatusRegressed:
			lead, footer = "Regressed", ":arrows_counterclockwise: Regressed"
		case sentry.SubstatusEscalating:
			lead, footer = "Escalating", ":chart_with_upwards_trend: Escalating"
		}
	}
	payload, _ := json.Marshal(outPayload{Lead: lead, Footer: footer, Broadcast: true, ThreadOnly: true})
	var items []store.OutboxItem
	seen := map[string]bool{}
	for _, c := range cards {
		if !c.Alert || c.Kind != store.CardMessage || seen[c.ChannelID] {
			continue
		}
		seen[c.ChannelID] = true
		items = append(items, store.OutboxItem{
			Key: "unresolved:" + deliveryKey + ":" + c.ChannelID, ChannelID: c.ChannelID,
			IssueID: is.ID, Issue: issueJSON, Payload: payload, CreatedAt: s.now(),
		})
	}
	return items, nil
}

// escalation reports whether a repeat alert deserves to be seen in the
// channel and not only in the thread.
func escalation(a Alert, is *sentry.Issue) bool {
	if a.Action == "unresolved" {
		return true
	}
	if is.Substatus == nil {
		return false
	}
	return *is.Substatus == sentry.SubstatusEscalating || *is.Substatus == sentry.SubstatusRegressed
}

// oneLine folds white space so a name cannot break a one-line footer.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
