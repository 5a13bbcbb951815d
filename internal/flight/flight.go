// Package flight runs one piece of work for every caller that needs it at
// the same moment: the first caller starts it, detached from its own
// context, and each caller waits for the result or for its own context,
// whichever comes first. A token refresh shared by many waiting requests
// is the case it was written for.
package flight

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrPanic is wrapped by the error Do returns when the work panicked.
var ErrPanic = errors.New("flight: the work panicked")

// Group runs work by key. The zero Group is ready to use; it must not be
// copied after first use.
type Group[K comparable, V any] struct {
	// OnJoin, when set, is called each time a caller waits for work that
	// another caller started. Tests use it to know that callers met.
	OnJoin func()

	mu    sync.Mutex
	calls map[K]*call[V]
}

type call[V any] struct {
	done chan struct{}
	val  V
	err  error
}

// Do returns the result of fn for key. If work for key is already running,
// Do waits for it instead of starting another. fn runs under a context of
// its own, which keeps ctx's values but not its cancellation and ends after
// timeout, so a caller that gives up fails no one else. A panic in fn is
// recovered and returned, wrapping ErrPanic, to every waiter. When ctx ends
// first, Do returns ctx's error and the work goes on for the others.
func (g *Group[K, V]) Do(ctx context.Context, key K, timeout time.Duration, fn func(ctx context.Context) (V, error)) (V, error) {
	g.mu.Lock()
	c, joined := g.calls[key]
	if !joined {
		c = &call[V]{done: make(chan struct{})}
		if g.calls == nil {
			g.calls = map[K]*call[V]{}
		}
		g.calls[key] = c
	}
	onJoin := g.OnJoin
	g.mu.Unlock()

	if joined {
		if onJoin != nil {
			onJoin()
		}
	} else {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		go func() {
			// Waiters must be released whatever happens, and a panic here
			// has no handler above it.
			defer func() {
				if r := recover(); r != nil {
					var zero V
					c.val, c.err = zero, fmt.Errorf("%w: %v", ErrPanic, r)
				}
				cancel()
				g.mu.Lock()
				delete(g.calls, key)
				g.mu.Unlock()
				close(c.done)
			}()
			c.val, c.err = fn(wctx)
		}()
	}

	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}
