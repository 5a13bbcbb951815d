package sentry

import (
	"errors"
	"sync"
	"time"
)

// Defaults of the circuit breaker.
const (
	defaultBreakerThreshold = 5
	defaultBreakerCooldown  = 30 * time.Second
	// maxBreakerCooldown caps the cool-down, which doubles while probes fail.
	maxBreakerCooldown = 5 * time.Minute
	// maxRateLimitHold caps how long a rate limit holds calls back, whatever
	// reset time Sentry (or a proxy in front of it) names.
	maxRateLimitHold = 5 * time.Minute
	// sweepAt is how many rate-limited tokens are remembered before the
	// expired ones are swept.
	sweepAt = 64
)

// ErrCircuitOpen is the cause of a call that failed at once because Sentry
// failed the calls before it: the *Error has Kind KindUnreachable and
// RetryAt when the next call will be let through to Sentry.
var ErrCircuitOpen = errors.New("circuit open: Sentry keeps failing, so calls are held back until the retry time")

// ErrRateLimitHold is the cause of a call that failed at once because
// Sentry rate-limited an earlier one and named a reset time that has not
// come: the *Error has Kind KindRateLimited and RetryAt that time.
var ErrRateLimitHold = errors.New("held back: Sentry asked for no calls until the retry time")

// BreakerState says whether the client lets calls through to Sentry.
type BreakerState int

// States of the circuit breaker.
const (
	BreakerClosed   BreakerState = iota // calls go to Sentry
	BreakerOpen                         // Sentry kept failing; calls fail at once until the cool-down ends
	BreakerHalfOpen                     // the cool-down is over; one probe call goes to Sentry
)

func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return "BreakerState(?)"
}

// outcome is what one call says about Sentry's health.
type outcome int

const (
	outcomeNone    outcome = iota // says nothing: no request went out, or the caller gave up
	outcomeAnswer                 // Sentry answered, even if it said no
	outcomeFailure                // a transport failure, a timeout or a 5xx
)

// classify reads a call's result for the breaker.
func classify(err error) outcome {
	if err == nil {
		return outcomeAnswer
	}
	var e *Error
	if !errors.As(err, &e) {
		return outcomeNone
	}
	switch {
	case e.Kind == KindServer, e.Kind == KindTimeout, e.Kind == KindUnreachable:
		return outcomeFailure
	case e.StatusCode != 0:
		return outcomeAnswer
	}
	return outcomeNone
}

// breaker is a consecutive-failure circuit breaker, plus a hold on the
// tokens Sentry rate-limited. One breaker serves a Client and every copy
// made of it with another token: Sentry's health is the same for all.
type breaker struct {
	threshold int // consecutive failures that open it; <= 0 never opens
	base      time.Duration
	max       time.Duration
	now       func() time.Time

	mu       sync.Mutex
	state    BreakerState
	fails    int           // consecutive failures while closed
	cooldown time.Duration // of the current or next opening
	until    time.Time     // end of the cool-down while open
	probing  bool          // the half-open probe is in flight
	// limited holds rate-limited tokens back until the time Sentry named.
	// Sentry counts its limits per caller, so one user's limit does not hold
	// back the organization's token.
	limited map[string]time.Time
}

func newBreaker(threshold int, cooldown time.Duration, now func() time.Time) *breaker {
	if threshold == 0 {
		threshold = defaultBreakerThreshold
	}
	if cooldown <= 0 {
		cooldown = defaultBreakerCooldown
	}
	return &breaker{
		threshold: threshold,
		base:      cooldown,
		max:       max(cooldown, maxBreakerCooldown),
		now:       now,
		cooldown:  cooldown,
		limited:   map[string]time.Time{},
	}
}

// ticket is a call let through; done is told how it went.
type ticket struct {
	probe bool
}

// admit lets a call with token through, or returns the *Error it fails
// with at once.
func (b *breaker) admit(op, token string) (ticket, error) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if until, ok := b.limited[token]; ok {
		if now.Before(until) {
			return ticket{}, &Error{Op: op, Kind: KindRateLimited, RetryAt: until, Err: ErrRateLimitHold}
		}
		delete(b.limited, token)
	}
	switch b.state {
	case BreakerOpen:
		if now.Before(b.until) {
			return ticket{}, &Error{Op: op, Kind: KindUnreachable, RetryAt: b.until, Err: ErrCircuitOpen}
		}
		b.state = BreakerHalfOpen
		fallthrough
	case BreakerHalfOpen:
		if b.probing {
			// The probe decides; until it does, the next try is now.
			return ticket{}, &Error{Op: op, Kind: KindUnreachable, RetryAt: now, Err: ErrCircuitOpen}
		}
		b.probing = true
		return ticket{probe: true}, nil
	}
	return ticket{}, nil
}

// done records how an admitted call went.
func (b *breaker) done(t ticket, token string, err error) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	var e *Error
	if errors.As(err, &e) && e.Kind == KindRateLimited && e.RetryAt.After(now) {
		until := e.RetryAt
		if limit := now.Add(maxRateLimitHold); until.After(limit) {
			until = limit
		}
		b.hold(token, until, now)
	}
	switch classify(err) {
	case outcomeNone:
		if t.probe {
			b.probing = false // the next call probes instead
		}
	case outcomeAnswer:
		// A call let through before the breaker opened proves little;
		// only the probe closes it.
		if t.probe || b.state == BreakerClosed {
			b.state, b.fails, b.cooldown, b.probing = BreakerClosed, 0, b.base, false
		}
	case outcomeFailure:
		switch {
		case t.probe:
			b.probing = false
			b.cooldown = min(2*b.cooldown, b.max)
			b.open(now)
		case b.state == BreakerClosed && b.threshold > 0:
			b.fails++
			if b.fails >= b.threshold {
				b.open(now)
			}
		}
	}
}

func (b *breaker) open(now time.Time) {
	b.state = BreakerOpen
	b.fails = 0
	b.until = now.Add(b.cooldown)
}

// hold keeps token's calls back until until; b.mu must be held.
func (b *breaker) hold(token string, until, now time.Time) {
	if len(b.limited) >= sweepAt {
		for k, t := range b.limited {
			if !now.Before(t) {
				delete(b.limited, k)
			}
		}
	}
	if until.After(b.limited[token]) {
		b.limited[token] = until
	}
}

// current is the state as the next call would find it.
func (b *breaker) current() BreakerState {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == BreakerOpen && !now.Before(b.until) {
		return BreakerHalfOpen
	}
	return b.state
}

// BreakerState reports whether calls go to Sentry (closed), fail at once
// because Sentry kept failing (open), or wait on a probe (half-open). For
// metrics and health checks.
func (c *Client) BreakerState() BreakerState { return c.breaker.current() }
