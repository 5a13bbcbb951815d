package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"sentrybot/sentry"
	"sentrybot/store"
)

// IssueFetcher retrieves one Sentry issue; *sentry.Client and the issue
// cache are ones.
type IssueFetcher interface {
	Issue(ctx context.Context, org, issueID string) (*sentry.Issue, error)
}

// Slack is the part of Slack's Web API the service calls; *slack.Client is
// one.
type Slack interface {
	PostMessageContext(ctx context.Context, channelID string, options ...slack.MsgOption) (string, string, error)
	UpdateMessageContext(ctx context.Context, channelID, timestamp string, options ...slack.MsgOption) (string, string, string, error)
	UnfurlMessageContext(ctx context.Context, channelID, timestamp string, unfurls map[string]slack.Attachment, options ...slack.MsgOption) (string, string, string, error)
}

// Options configures a Service. Zero values take the defaults.
type Options struct {
	Org string // Sentry organization slug, for fetching issues

	// RuleChannels maps alert rule names to channels (ids or #names), for
	// rules whose action names no channel.
	RuleChannels map[string]string
	// DefaultChannel takes alerts that no rule or subscription routes; ""
	// drops them.
	DefaultChannel string

	// DigestThreshold is how many alerts waiting at once for one channel
	// are posted as one digest message instead; default 5.
	DigestThreshold int
	// ChannelInterval is the least time between two posts to one channel;
	// default 1s, Slack's sustained rate for chat.postMessage.
	ChannelInterval time.Duration
	// ThreadWindow is how long after an alert message later alerts for
	// the issue in that channel go into its thread; default 24h.
	ThreadWindow time.Duration
	// SyncWindow is how old a card may be and still be updated when its
	// issue changes; default 7 days.
	SyncWindow time.Duration
	// PollEvery is how often the worker looks at the queues without being
	// woken; default 1s.
	PollEvery time.Duration
	// RetryBase is the wait after the first failed attempt; it doubles
	// with each further attempt up to RetryMax. Defaults 1s and 5m.
	RetryBase time.Duration
	RetryMax  time.Duration
	// GiveUpAfter is how long after it arrived an alert that keeps failing
	// is given up; default 24h, by when it is old news.
	GiveUpAfter time.Duration

	Now func() time.Time // clock; default time.Now
}

// Defaults.
const (
	defaultDigestThreshold = 5
	defaultChannelInterval = time.Second
	defaultThreadWindow    = 24 * time.Hour
	defaultSyncWindow      = 7 * 24 * time.Hour
	defaultPollEvery       = time.Second
	defaultRetryBase       = time.Second
	defaultRetryMax        = 5 * time.Minute
	defaultGiveUpAfter     = 24 * time.Hour

	// keepFinished is how long finished queue items are kept, for looking
	// into what happened and to refuse redeliveries of their delivery ids.
	keepFinished = 7 * 24 * time.Hour
	purgeEvery   = time.Hour
	// batch bounds the items read from a queue at once.
	batch = 500
	// callTimeout bounds one Slack call.
	callTimeout = 30 * time.Second
)

// Service routes alerts into Slack and keeps cards in sync. Receive and
// IssueChanged may be called from any goroutine; Run does the work.
//
// Work flows through two tables. Receive and IssueChanged add to the inbox
// and return. Run takes each due inbox item: a change redraws the issue's
// cards; news is routed, and one outbox item per channel is added in the
// same transaction that closes the inbox item. Run then posts the outbox,
// one message per channel per ChannelInterval, and marks each item done
// in the same transaction that records its card. A failure leaves the
// item pending with a later due time, so a restart or an outage loses
// nothing. The one gap is a crash between Slack's answer to a post and
// that transaction, a few milliseconds: the item is then posted again.
type Service struct {
	db     *store.DB
	issues IssueFetcher
	api    Slack
	log    zerolog.Logger
	o      Options

	wake    chan struct{}
	running atomic.Bool

	// Owned by the Run goroutine.
	ready       map[string]time.Time // channel -> earliest time of its next post
	names       map[string]string    // "#name" -> channel id, as chat.postMessage answered
	pausedUntil time.Time            // no posts before this, after a 429
	lastPurge   time.Time
}

// New returns a Service. It makes no calls; Run starts the work.
func New(db *store.DB, issues IssueFetcher, api Slack, log zerolog.Logger, o Options) *Service {
	if o.DigestThreshold <= 0 {
		o.DigestThreshold = defaultDigestThreshold
	}
	if o.ChannelInterval <= 0 {
		o.ChannelInterval = defaultChannelInterval
	}
	if o.ThreadWindow <= 0 {
		o.ThreadWindow = defaultThreadWindow
	}
	if o.SyncWindow <= 0 {
		o.SyncWindow = defaultSyncWindow
	}
	if o.PollEvery <= 0 {
		o.PollEvery = defaultPollEvery
	}
	if o.RetryBase <= 0 {
		o.RetryBase = defaultRetryBase
	}
	if o.RetryMax <= 0 {
		o.RetryMax = defaultRetryMax
	}
	if o.GiveUpAfter <= 0 {
		o.GiveUpAfter = defaultGiveUpAfter
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{
		db: db, issues: issues, api: api, log: log, o: o,
		wake:  make(chan struct{}, 1),
		ready: map[string]time.Time{},
		names: map[string]string{},
	}
}

func (s *Service) now() time.Time { return s.o.Now() }

// signal wakes Run without blocking; one pending wake-up is enough.
func (s *Service) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Receive keeps an alert durably for Run to route and returns. A second
// alert with the DeliveryID of one already received is ignored.
func (s *Service) Receive(ctx context.Context, a Alert) error {
	if a.IssueID == "" && a.Issue != nil {
		a.IssueID = a.Issue.ID
	}
	if a.IssueID == "" {
		return fmt.Errorf("alerts: receive %s %s (delivery %q): no issue id", a.Kind, a.Action, a.DeliveryID)
	}
	now := s.now()
	if a.ReceivedAt.IsZero() {
		a.ReceivedAt = now
	}
	payload, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("alerts: receive issue %s: encode: %w", a.IssueID, err)
	}
	added, err := s.db.EnqueueInbox(ctx, store.InboxItem{
		DeliveryID: a.DeliveryID, Job: store.JobAlert, Payload: payload, CreatedAt: now,
	})
	if err != nil {
		return fmt.Errorf("alerts: receive issue %s: %w", a.IssueID, err)
	}
	if !added {
		s.log.Debug().Str("delivery_id", a.DeliveryID).Str("issue", a.IssueID).Msg("alert already received; ignored")
		return nil
	}
	s.signal()
	return nil
}

// IssueChanged queues an update of every card of the issue posted or
// unfurled within SyncWindow to show it as it is now. Call it after
// changing an issue; it returns once the update is queued.
func (s *Service) IssueChanged(ctx context.Context, is *sentry.Issue) error {
	if is == nil || is.ID == "" {
		return errors.New("alerts: issue changed: no issue")
	}
	payload, err := json.Marshal(is)
	if err != nil {
		return fmt.Errorf("alerts: issue %s changed: encode: %w", is.ID, err)
	}
	if _, err := s.db.EnqueueInbox(ctx, store.InboxItem{Job: store.JobSync, Payload: payload, CreatedAt: s.now()}); err != nil {
		return fmt.Errorf("alerts: issue %s changed: %w", is.ID, err)
	}
	s.signal()
	return nil
}

// Depth counts the alerts and changes received and not yet in Slack.
func (s *Service) Depth(ctx context.Context) (int, error) {
	return s.db.OutboxDepth(ctx)
}

// Run routes received alerts into the outbox and posts the outbox to Slack,
// paced per channel, until ctx ends; then it returns nil. A Slack call in
// progress is finished and recorded first. Work left over is resumed by
// the next Run, in this process or another on the same database. Only one
// Run may be active per Service.
func (s *Service) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("alerts: Run is already running")
	}
	defer s.running.Store(false)
	if names, err := s.db.ChannelNames(ctx); err != nil {
		s.log.Warn().Err(err).Msg("channel ids of named channels not loaded; they are learned again as posts go out")
	} else {
		for name, id := range names {
			s.names[name] = id
		}
	}
	s.log.Info().Msg("alert delivery started")
	for {
		s.routeDue(ctx)
		wakeAt := s.sendDue(ctx)
		s.purge(ctx)
		if ctx.Err() != nil {
			s.log.Info().Msg("alert delivery stopped")
			return nil
		}

		now := s.now()
		wait := s.o.PollEvery
		if !wakeAt.IsZero() {
			wait = min(wait, wakeAt.Sub(now))
		}
		if next, ok, err := s.db.NextAlertDue(ctx, now); err != nil {
			if ctx.Err() == nil {
				s.log.Error().Err(err).Msg("reading the alert queues")
			}
		} else if ok {
			wait = min(wait, next.Sub(now))
		}
		t := time.NewTimer(max(wait, time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			s.log.Info().Msg("alert delivery stopped")
			return nil
		case <-s.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// purge drops finished queue items and old cards, at most once an hour.
func (s *Service) purge(ctx context.Context) {
	now := s.now()
	if ctx.Err() != nil || now.Sub(s.lastPurge) < purgeEvery {
		return
	}
	s.lastPurge = now
	cards := max(s.o.SyncWindow, s.o.ThreadWindow)
	n, err := s.db.PurgeAlerts(ctx, now.Add(-keepFinished), now.Add(-cards))
	if err != nil {
		s.log.Warn().Err(err).Msg("purging old alert records")
		return
	}
	if n > 0 {
		s.log.Debug().Int64("rows", n).Msg("purged old alert records")
	}
}

// backoff is the wait before attempt number attempts+1.
func (s *Service) backoff(attempts int) time.Duration {
	d := s.o.RetryBase
	for range min(attempts, 30) {
		d *= 2
		if d >= s.o.RetryMax {
			return s.o.RetryMax
		}
	}
	return min(d, s.o.RetryMax)
}

// detached is ctx without its cancellation and with a deadline, for work
// that must finish once started: a Slack call and the record of it.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
}
