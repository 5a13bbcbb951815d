// Package bot owns the Socket Mode connection to Slack: it opens the socket,
// records each envelope that carries work before acknowledging it, recognises
// redeliveries, and runs the work on a bounded pool of workers, each unit
// with its own deadline. Work that a killed process left unfinished is run
// again when the next one starts. Handlers never see an envelope: they get
// decoded values.
package bot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"sentrybot/store"
)

// LinkShared is a link_shared event, decoded from the raw inner event because
// slack-go's LinkSharedEvent drops unfurl_id, source and is_bot_user_member.
type LinkShared struct {
	TeamID          string
	EventID         string
	Channel         string // "COMPOSER" while the message is still being written
	User            string
	MessageTS       string
	ThreadTS        string
	UnfurlID        string
	Source          string // "composer" or "conversations_history"
	IsBotUserMember bool
	URLs            []string
}

// InComposer reports whether the links are still in the message composer, in
// which case an unfurl must address them by unfurl_id and source.
func (l LinkShared) InComposer() bool {
	return l.Source == "composer" || l.Channel == "COMPOSER"
}

// LinkSharedHandler unfurls shared links.
type LinkSharedHandler interface {
	HandleLinkShared(ctx context.Context, ev LinkShared) error
}

// CommandHandler answers slash commands. The envelope is acknowledged before
// it is called, so it replies through the command's response_url.
type CommandHandler interface {
	HandleCommand(ctx context.Context, cmd slack.SlashCommand) error
}

// Action is a block_actions interaction: a button clicked or a menu choice
// made. For a card inside an unfurl, AppUnfurlURL is the link the card is
// attached to; slack-go's Container drops that field, so it is decoded here.
type Action struct {
	slack.InteractionCallback
	AppUnfurlURL string
}

// InUnfurl reports whether the action came from a card in a link unfurl.
func (a *Action) InUnfurl() bool { return a.Container.IsAppUnfurl && a.AppUnfurlURL != "" }

// ActionHandler handles block_actions (button clicks, menu choices).
type ActionHandler interface {
	HandleAction(ctx context.Context, a Action) error
}

// SuggestionHandler answers block_suggestion requests of external selects. Its
// answer travels in the acknowledgement, so it must be quick.
type SuggestionHandler interface {
	Suggest(ctx context.Context, cb slack.InteractionCallback) (any, error)
}

// Handlers routes decoded work. A nil handler means the kind is acknowledged
// and logged, and nothing else happens.
type Handlers struct {
	LinkShared  LinkSharedHandler
	Commands    CommandHandler
	Actions     ActionHandler
	Suggestions SuggestionHandler
}

// Inbox records envelopes that carry work before they are acknowledged and
// keeps them until their work is done, so that a redelivery is recognised
// and work survives a process killed halfway. *store.DB implements it.
type Inbox interface {
	// AdmitEnvelope records an envelope: true when it is new, false when
	// its key or its envelope id was admitted before and is still pending or
	// done less than ttl ago. Its row counts as the first attempt.
	AdmitEnvelope(ctx context.Context, key, envelopeID, kind string, envelope []byte, ttl time.Duration) (bool, error)
	// FinishEnvelope marks the work of key done, whatever its outcome.
	FinishEnvelope(ctx context.Context, key string) error
	// RetryEnvelope counts one more attempt at the pending work of key.
	RetryEnvelope(ctx context.Context, key string) error
	// PendingEnvelopes returns the work not done, oldest first.
	PendingEnvelopes(ctx context.Context) ([]store.PendingEnvelope, error)
	// PurgeEnvelopes deletes done envelopes older than their ttl.
	PurgeEnvelopes(ctx context.Context) (int64, error)
	// PurgeExpired deletes expired seen keys. The webhook intake keeps its
	// replay guard there and nothing else purges it, so the bot's purge
	// loop does.
	PurgeExpired(ctx context.Context) (int64, error)
}

// SocketOpener is the Slack Web API call that hands out a Socket Mode URL
// (apps.connections.open); *slack.Client implements it.
type SocketOpener interface {
	StartSocketModeContext(ctx context.Context) (*slack.SocketModeConnection, string, error)
}

// DefaultWorkers is how many units of work run at once unless Config says
// otherwise. A unit spends nearly all its time waiting on Sentry and
// Slack, so the number bounds throughput at DefaultWorkers divided by a
// unit's latency (about 900 envelopes/s for 64 workers at the load test's
// 70 ms average), long before CPU does; idle workers cost a few KB each.
const DefaultWorkers = 256

// Config tunes the bot. Zero values take the defaults.
type Config struct {
	Workers         int           // concurrent units of work; default DefaultWorkers
	Queue           int           // units waiting for a worker; default 4096
	UnitTimeout     time.Duration // deadline of one unit; default 30s
	SuggestTimeout  time.Duration // deadline of a block_suggestion answer; default 2s
	DrainTimeout    time.Duration // how long shutdown waits for in-flight work; default 10s
	SeenTTL         time.Duration // how long a handled envelope is remembered; default 24h
	PurgeInterval   time.Duration // how often expired envelopes and seen keys are deleted; default 10m
	MaxAttempts     int           // runs of one unit, across restarts, before it is given up; default 3
	ReadTimeout     time.Duration // no message or ping for this long means the socket is dead; default 75s
	BackoffBase     time.Duration // first reconnect delay after a short-lived connection; default 500ms
	BackoffMax      time.Duration // longest reconnect delay; default 1m
	HealthyAfter    time.Duration // a connection that lived this long resets the backoff; default 30s
	LinkDisabledMax int           // consecutive link_disabled answers before giving up; default 3
	// TeamID, when set, is the one workspace served: a link_shared event
	// from any other is acknowledged and dropped before it is recorded.
	TeamID string
	// Observe, when set, is told of every envelope: its type and how long
	// it took from arriving on the socket to its ack being written.
	Observe func(kind string, ack time.Duration)
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.Queue <= 0 {
		c.Queue = 4096
	}
	if c.LinkDisabledMax <= 0 {
		c.LinkDisabledMax = 3
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 3
	}
	def(&c.UnitTimeout, 30*time.Second)
	def(&c.SuggestTimeout, 2*time.Second)
	def(&c.DrainTimeout, 10*time.Second)
	def(&c.SeenTTL, 24*time.Hour)
	def(&c.PurgeInterval, 10*time.Minute)
	def(&c.ReadTimeout, 75*time.Second)
	def(&c.BackoffBase, 500*time.Millisecond)
	def(&c.BackoffMax, time.Minute)
	def(&c.HealthyAfter, 30*time.Second)
	return c
}

// ErrLinkDisabled is returned by Run when Slack refuses every socket because
// Socket Mode is turned off for the app.
var ErrLinkDisabled = errors.New("slack: Socket Mode is turned off for this app (disconnect reason link_disabled); turn it on under the app's Settings › Socket Mode")

// FatalAuthError is returned by Run when Slack rejects the app-level token or
// its scopes; reconnecting cannot help.
type FatalAuthError struct{ Code string }

func (e *FatalAuthError) Error() string {
	return fmt.Sprintf("slack: apps.connections.open refused the app-level token (%s); check slack.app_token and its connections:write scope", e.Code)
}

// Bot is a Socket Mode client that dispatches work to handlers.
type Bot struct {
	opener   SocketOpener
	inbox    Inbox
	handlers Handlers
	log      zerolog.Logger
	cfg      Config
	dialer   dialer

	connected atomic.Bool
	stats     counters
	// suggesting bounds concurrent block_suggestion answers; background
	// tracks them so shutdown waits for them.
	suggesting chan struct{}
	background sync.WaitGroup
}

type counters struct {
	envelopes  atomic.Int64
	duplicates atomic.Int64
	panics     atomic.Int64
	replayed   atomic.Int64
}

// Stats is a snapshot of the bot's counters.
type Stats struct {
	Envelopes  int64 // envelopes received
	Duplicates int64 // redeliveries recognised and skipped
	Panics     int64 // handler panics recovered
	Replayed   int64 // units an earlier process left unfinished, queued again at start
}

// New builds a Bot. It makes no network call.
func New(opener SocketOpener, inbox Inbox, h Handlers, log zerolog.Logger, cfg Config) *Bot {
	cfg = cfg.withDefaults()
	return &Bot{
		opener:     opener,
		inbox:      inbox,
		handlers:   h,
		log:        log,
		cfg:        cfg,
		dialer:     newDialer(),
		suggesting: make(chan struct{}, cfg.Workers),
	}
}

// Connected reports whether a socket is open and Slack has said hello.
func (b *Bot) Connected() bool { return b.connected.Load() }

// Stats returns the bot's counters.
func (b *Bot) Stats() Stats {
	return Stats{
		Envelopes:  b.stats.envelopes.Load(),
		Duplicates: b.stats.duplicates.Load(),
		Panics:     b.stats.panics.Load(),
		Replayed:   b.stats.replayed.Load(),
	}
}

// Run first queues the work an earlier process recorded but did not finish,
// then connects to Slack and serves until ctx is cancelled. Then it stops
// taking work, lets in-flight work finish for up to DrainTimeout, and returns
// nil; work the drain cut short stays recorded for the next start. It
// returns early with an error only when reconnecting cannot help.
func (b *Bot) Run(ctx context.Context) error {
	// Work outlives ctx by the drain period, so it gets its own context.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	p := newPool(workCtx, b.cfg.Workers, b.cfg.Queue, b.execute)

	// The replay and purge loops end with the connection, whether ctx ended
	// or Slack refused us for good.
	intakeCtx, stopIntake := context.WithCancel(ctx)
	var wg sync.WaitGroup
	pending := b.pending(intakeCtx)
	wg.Go(func() { b.replay(intakeCtx, p, pending) })
	wg.Go(func() { b.purgeLoop(intakeCtx) })

	err := b.connectLoop(ctx, p)
	stopIntake()
	wg.Wait() // the replay loop must be done submitting before the queue closes

	p.close()
	drained := p.wait(b.cfg.DrainTimeout)
	if !drained {
		b.log.Warn().Dur("waited", b.cfg.DrainTimeout).Msg("shutdown: in-flight work did not finish in time; cancelling it, it stays recorded for the next start")
		cancelWork()
		p.wait(time.Second)
	}
	b.background.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (b *Bot) purgeLoop(ctx context.Context) {
	t := time.NewTicker(b.cfg.PurgeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, purge := range []struct {
				what string
				fn   func(context.Context) (int64, error)
			}{
				{"envelopes", b.inbox.PurgeEnvelopes},
				{"seen keys", b.inbox.PurgeExpired},
			} {
				n, err := purge.fn(ctx)
				if err != nil && ctx.Err() == nil {
					b.log.Warn().Err(err).Msg("purging expired " + purge.what)
				} else if n > 0 {
					b.log.Debug().Int64("purged", n).Msg("expired " + purge.what + " purged")
				}
			}
		}
	}
}
