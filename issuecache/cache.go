// Package issuecache shares Sentry issue fetches for a short time: one link
// pasted in five channels at once costs one call to Sentry.
package issuecache

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"sentrybot/sentry"
)

// Fetcher retrieves one issue from Sentry.
type Fetcher interface {
	Issue(ctx context.Context, org, issueID string) (*sentry.Issue, error)
}

// Cache is a Fetcher that remembers answers for TTL and merges concurrent
// fetches of the same issue into one.
type Cache struct {
	next    Fetcher
	max     int
	ttl     time.Duration
	timeout time.Duration
	now     func() time.Time

	group   singleflight.Group
	mu      sync.Mutex
	entries map[string]entry
	// order lists stores oldest first. The TTL is the same for all, so it
	// is also expiry order, and the oldest live entry is the one to evict.
	// A key stored again, or forgotten, leaves a stale item behind, told
	// apart by seq.
	order []stored
	head  int
	seq   uint64
}

type entry struct {
	issue   *sentry.Issue
	expires time.Time
	seq     uint64
}

type stored struct {
	key string
	seq uint64
}

// Options tune a Cache. Zero values take the defaults.
type Options struct {
	TTL     time.Duration    // how long an answer is reused; default 15s
	Timeout time.Duration    // deadline of one shared fetch; default 10s
	Now     func() time.Time // clock; default time.Now
	MaxSize int              // entries kept before old ones are swept; default 10000
}

// New wraps next.
func New(next Fetcher, o Options) *Cache {
	if o.TTL <= 0 {
		o.TTL = 15 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxSize <= 0 {
		o.MaxSize = 10000
	}
	return &Cache{next: next, max: o.MaxSize, ttl: o.TTL, timeout: o.Timeout, now: o.Now, entries: make(map[string]entry)}
}

func key(org, id string) string { return org + "/" + id }

// Issue returns the issue, from memory when a fresh copy is there. The
// returned issue is shared with other callers and must not be modified.
// Errors are not remembered: the next caller asks Sentry again.
func (c *Cache) Issue(ctx context.Context, org, issueID string) (*sentry.Issue, error) {
	k := key(org, issueID)
	if is, ok := c.lookup(k); ok {
		return is, nil
	}
	// The shared fetch must not die with the first caller's context, or
	// every caller waiting on it would fail with that caller's cancellation.
	ch := c.group.DoChan(k, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		defer cancel()
		is, err := c.next.Issue(fctx, org, issueID)
		if err != nil {
			return nil, err
		}
		c.store(k, is)
		return is, nil
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*sentry.Issue), nil
	}
}

// Put records a copy of an issue known to be current (after a change).
func (c *Cache) Put(org, issueID string, is *sentry.Issue) { c.store(key(org, issueID), is) }

// Forget drops an issue so the next read asks Sentry.
func (c *Cache) Forget(org, issueID string) {
	c.mu.Lock()
	delete(c.entries, key(org, issueID))
	c.mu.Unlock()
}

func (c *Cache) lookup(k string) (*sentry.Issue, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok || !c.now().Before(e.expires) {
		return nil, false
	}
	return e.issue, true
}

func (c *Cache) store(k string, is *sentry.Issue) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	c.entries[k] = entry{issue: is, expires: now.Add(c.ttl), seq: c.seq}
	c.order = append(c.order, stored{key: k, seq: c.seq})
	c.evict(now)
}

// evict drops expired entries and, past MaxSize, the oldest live ones. Each
// store costs amortised constant time, however full the cache is.
func (c *Cache) evict(now time.Time) {
	for c.head < len(c.order) {
		front := c.order[c.head]
		e, ok := c.entries[front.key]
		live := ok && e.seq == front.seq
		if live && now.Before(e.expires) && len(c.entries) <= c.max {
			break
		}
		if live {
			delete(c.entries, front.key)
		}
		c.order[c.head] = stored{}
		c.head++
	}
	if c.head > 64 && c.head*2 > len(c.order) {
		c.order = append(c.order[:0], c.order[c.head:]...)
		c.head = 0
	}
}
