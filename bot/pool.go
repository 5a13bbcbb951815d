package bot

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

var errPanic = errors.New("panic")

// unit is one piece of work taken from an envelope.
type unit struct {
	kind    string // "link_shared", "command", "action": for logs
	key     string // its record in the inbox
	attempt int    // 1 for work straight off the socket, more when replayed
	run     func(ctx context.Context) error
}

// pool runs units on a fixed number of workers fed by a bounded queue.
type pool struct {
	ctx   context.Context
	queue chan unit
	exec  func(ctx context.Context, u unit)
	wg    sync.WaitGroup
	once  sync.Once
}

func newPool(ctx context.Context, workers, queue int, exec func(ctx context.Context, u unit)) *pool {
	p := &pool{ctx: ctx, queue: make(chan unit, queue), exec: exec}
	for range workers {
		p.wg.Go(func() {
			for u := range p.queue {
				p.exec(p.ctx, u)
			}
		})
	}
	return p
}

// submit queues u, waiting while the queue is full. It reports false when ctx
// ended first; the caller then decides what happens to the work.
func (p *pool) submit(ctx context.Context, u unit) bool {
	select {
	case p.queue <- u:
		return true
	default:
	}
	select {
	case p.queue <- u:
		return true
	case <-ctx.Done():
		return false
	}
}

// close stops taking work; queued units still run.
func (p *pool) close() { p.once.Do(func() { close(p.queue) }) }

// wait waits up to d for every worker to finish and reports whether they did.
func (p *pool) wait(d time.Duration) bool {
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// safely runs fn, turning a panic into an error; the stack goes to the log.
func safely(log zerolog.Logger, kind string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			log.Error().Str("kind", kind).Interface("panic", r).Bytes("stack", debug.Stack()).Msg("handler panicked; recovered")
			err = fmt.Errorf("%s handler: %w: %v", kind, errPanic, r)
		}
	}()
	return fn()
}
