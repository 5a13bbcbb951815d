package bot

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"sentrybot/store"
)

type replayKey struct{}

// Replayed reports whether the work of ctx is being run again after the
// process that took it ended before finishing it: what it was to change
// may have been changed already, by that earlier attempt.
func Replayed(ctx context.Context) bool {
	n, _ := ctx.Value(replayKey{}).(int)
	return n > 1
}

// finishTimeout bounds the write that marks a unit done; it runs on a
// context of its own, since the unit's may have ended.
const finishTimeout = 5 * time.Second

// execute runs one unit under its own deadline with panics recovered, then
// marks it done whatever the handler returned. Only a unit that shutdown
// cancelled stays recorded, to run again at the next start.
func (b *Bot) execute(base context.Context, u unit) {
	log := b.log.With().Str("kind", u.kind).Str("key", u.key).Logger()
	if u.attempt > 1 {
		log = log.With().Int("attempt", u.attempt).Logger()
	}
	if base.Err() != nil {
		log.Warn().Msg("shutting down: unit of work not started; it stays recorded for the next start")
		return
	}
	ctx, cancel := context.WithTimeout(base, b.cfg.UnitTimeout)
	defer cancel()
	if u.attempt > 1 {
		ctx = context.WithValue(ctx, replayKey{}, u.attempt)
	}

	start := time.Now()
	err := safely(log, u.kind, func() error { return u.run(ctx) })
	if errors.Is(err, errPanic) {
		b.stats.panics.Add(1)
	}
	if err != nil && base.Err() != nil {
		log.Warn().Err(err).Dur("after", time.Since(start)).Msg("shutdown cancelled the unit of work; it stays recorded for the next start")
		return
	}
	b.finish(base, u.key, log)

	switch {
	case err == nil:
		log.Debug().Dur("took", time.Since(start)).Msg("unit of work done")
	case errors.Is(err, errPanic):
		// safely logged the panic and its stack.
	case errors.Is(err, context.DeadlineExceeded):
		log.Error().Err(err).Dur("after", time.Since(start)).Msg("unit of work ran out of time")
	default:
		log.Error().Err(err).Dur("took", time.Since(start)).Msg("unit of work failed")
	}
}

// finish marks the unit of key done. If that fails the unit runs again after
// a restart, which is the lesser harm than losing it; the log says so.
func (b *Bot) finish(base context.Context, key string, log zerolog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(base), finishTimeout)
	defer cancel()
	if err := b.inbox.FinishEnvelope(ctx, key); err != nil {
		log.Error().Err(err).Msg("could not mark the unit of work done; it will run again after a restart")
	}
}

// pending reads the work an earlier process recorded and did not finish, and
// turns it back into units. Work already attempted MaxAttempts times is
// marked done instead: each attempt ended with the process, so running it
// again would likely end the process again.
func (b *Bot) pending(ctx context.Context) []unit {
	list, err := b.inbox.PendingEnvelopes(ctx)
	if err != nil {
		if ctx.Err() == nil {
			b.log.Error().Err(err).Msg("could not read unfinished work from the store; it stays recorded for the next start")
		}
		return nil
	}
	var units []unit
	for _, pe := range list {
		log := b.log.With().Str("envelope_id", pe.EnvelopeID).Str("kind", pe.Kind).Str("key", pe.Key).Int("attempts", pe.Attempts).Logger()
		if pe.Attempts >= b.cfg.MaxAttempts {
			log.Error().Int("max_attempts", b.cfg.MaxAttempts).Msg("unit of work never finished, every attempt ended with the process (poison envelope); given up")
			b.finish(ctx, pe.Key, log)
			continue
		}
		u, err := b.recorded(pe)
		if err != nil {
			log.Error().Err(err).Msg("recorded envelope cannot be decoded; dropped")
			b.finish(ctx, pe.Key, log)
			continue
		}
		if u.run == nil {
			log.Warn().Msg("no handler for recorded work; dropped")
			b.finish(ctx, pe.Key, log)
			continue
		}
		units = append(units, u)
	}
	return units
}

// recorded decodes a recorded envelope the way the read loop decoded it.
// The recorded key names the unit, whatever this build would compute.
func (b *Bot) recorded(pe store.PendingEnvelope) (unit, error) {
	req, err := parseEnvelope(pe.Envelope)
	if err != nil {
		return unit{}, err
	}
	w, err := decodeEnvelope(&req)
	if err != nil {
		return unit{}, err
	}
	u := b.unitOf(w)
	u.key = pe.Key
	u.attempt = pe.Attempts + 1
	return u, nil
}

// replay counts an attempt for each unit and queues it, until ctx ends.
// Units it does not reach stay recorded.
func (b *Bot) replay(ctx context.Context, p *pool, units []unit) {
	for _, u := range units {
		if ctx.Err() != nil {
			return
		}
		log := b.log.With().Str("kind", u.kind).Str("key", u.key).Int("attempt", u.attempt).Logger()
		// Counted before it runs: a run that kills the process must count.
		if err := b.inbox.RetryEnvelope(ctx, u.key); err != nil {
			if ctx.Err() == nil {
				log.Error().Err(err).Msg("could not count an attempt at unfinished work; not run now, it stays recorded")
			}
			continue
		}
		if !p.submit(ctx, u) {
			return
		}
		b.stats.replayed.Add(1)
		log.Info().Msg("work left unfinished by an earlier process queued again")
	}
}
