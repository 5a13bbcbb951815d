package bot

import (
	"context"
	"errors"
	"time"
)

// execute runs one unit: it claims the unit's redelivery key, then runs the
// handler under its own deadline with panics recovered.
func (b *Bot) execute(base context.Context, u unit) {
	log := b.log.With().Str("kind", u.kind).Str("key", u.key).Logger()
	ctx, cancel := context.WithTimeout(base, b.cfg.UnitTimeout)
	defer cancel()

	if u.key != "" {
		first, err := b.seen.MarkSeen(ctx, u.key, b.cfg.SeenTTL)
		switch {
		case err != nil:
			// Losing the user's action is worse than the small chance of a
			// duplicate, so the work runs; the log says why it was not checked.
			log.Warn().Err(err).Msg("could not record envelope id; processing without redelivery check")
		case !first:
			b.stats.duplicates.Add(1)
			log.Info().Msg("redelivered envelope already handled; skipped")
			return
		}
	}

	start := time.Now()
	err := safely(log, u.kind, func() error { return u.run(ctx) })
	if err != nil {
		if errors.Is(err, errPanic) {
			b.stats.panics.Add(1)
			return
		}
		if errors.Is(err, context.DeadlineExceeded) {
			log.Error().Err(err).Dur("after", time.Since(start)).Msg("unit of work ran out of time")
			return
		}
		log.Error().Err(err).Dur("took", time.Since(start)).Msg("unit of work failed")
		return
	}
	log.Debug().Dur("took", time.Since(start)).Msg("unit of work done")
}
