// Package poller finds new Sentry issues by searching for them, for an
// organization whose webhooks cannot reach sentrybot. Each subscription's
// search is run on an interval, newest issues first; issues not seen before
// become alerts, once each, and changes to the status or assignee of issues
// already seen become issue alerts, so posted cards stay in sync.
package poller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"sentrybot/alerts"
	"sentrybot/sentry"
	"sentrybot/store"
)

// Sub is what the poller needs of a subscription.
type Sub struct {
	ID       int64
	Projects []string // project slugs; empty means every project
	Query    string   // Sentry search syntax
}

// Subscriptions lists the subscriptions to poll.
type Subscriptions interface {
	PollSubscriptions(ctx context.Context) ([]Sub, error)
}

// Searcher runs Sentry issue searches; *sentry.Client is one.
type Searcher interface {
	SearchIssues(ctx context.Context, org string, q sentry.IssueQuery) (*sentry.IssuePage, error)
}

// Receiver takes the alerts the poller finds.
type Receiver interface {
	Receive(ctx context.Context, a alerts.Alert) error
}

// Options configures a Poller. Zero values take the defaults.
type Options struct {
	Org      string        // organization slug
	Interval time.Duration // time between rounds; default 60s
	MaxPages int           // search pages per subscription per round; default 5
	PageSize int           // issues per page; default sentry.MaxIssueLimit
	Now      func() time.Time
}

const (
	defaultInterval = 60 * time.Second
	defaultMaxPages = 5
	// maxWait caps the wait after a rate limit.
	maxWait = 10 * time.Minute
	// lookback widens the watermark when deciding where to stop paging:
	// an issue's first-seen time is its first event's timestamp, which can
	// precede the moment the issue becomes searchable (ingestion delay,
	// client clocks), so an issue a little older than the watermark may be
	// new to us.
	lookback = 10 * time.Minute
)

// ErrBackingOff is returned by PollOnce when it is called before the wait
// imposed by a rate limit has passed.
var ErrBackingOff = errors.New("poller: backing off after a rate limit")

// Poller polls Sentry for the subscriptions. Rounds never overlap.
type Poller struct {
	db     *store.DB
	subs   Subscriptions
	search Searcher
	recv   Receiver
	log    zerolog.Logger
	opts   Options

	mu        sync.Mutex // held for a whole round
	lastStart time.Time  // when the last round began
	nextRun   time.Time  // no round before this, after a rate limit; zero when not limited
	limited   int        // consecutive rounds cut short by a rate limit
}

// New returns a Poller. It makes no calls.
func New(db *store.DB, subs Subscriptions, search Searcher, recv Receiver, log zerolog.Logger, o Options) *Poller {
	if o.Interval <= 0 {
		o.Interval = defaultInterval
	}
	if o.MaxPages <= 0 {
		o.MaxPages = defaultMaxPages
	}
	if o.PageSize <= 0 || o.PageSize > sentry.MaxIssueLimit {
		o.PageSize = sentry.MaxIssueLimit
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Poller{db: db, subs: subs, search: search, recv: recv, log: log, opts: o}
}

// Run polls at once and then every Interval, or later after a rate limit,
// until ctx ends; then it returns nil. Failures are logged, not returned.
func (p *Poller) Run(ctx context.Context) error {
	for {
		// PollOnce logs what went wrong; a failed round is retried by the next.
		_ = p.PollOnce(ctx)
		t := time.NewTimer(p.untilNext())
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// untilNext is how long Run sleeps before the next round.
func (p *Poller) untilNext() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := p.lastStart.Add(p.opts.Interval)
	if p.nextRun.After(next) {
		next = p.nextRun
	}
	return max(next.Sub(p.opts.Now()), 0)
}

// PollOnce runs one round over every subscription: it first drops the poll
// state of subscriptions that are gone, then searches for each one. A rate
// limit ends the round and sets when the next may start; before then
// PollOnce returns ErrBackingOff without calling Sentry. Other failures are
// logged and the round goes on with the next subscription. Everything that
// went wrong is logged and also returned, joined.
func (p *Poller) PollOnce(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	start := p.opts.Now()
	if start.Before(p.nextRun) {
		return fmt.Errorf("%w until %s", ErrBackingOff, p.nextRun.UTC().Format(time.RFC3339))
	}
	p.lastStart = start

	subs, err := p.subs.PollSubscriptions(ctx)
	if err != nil {
		err = fmt.Errorf("poller: list subscriptions: %w", err)
		p.log.Error().Err(err).Msg("poll round skipped")
		return err
	}
	var errs []error
	keep := make([]int64, len(subs))
	for i, s := range subs {
		keep[i] = s.ID
	}
	if n, err := p.db.PrunePoll(ctx, keep); err != nil {
		p.log.Error().Err(err).Msg("poll: prune state of removed subscriptions")
		errs = append(errs, err)
	} else if n > 0 {
		p.log.Info().Int64("subscriptions", n).Msg("poll: dropped state of removed subscriptions")
	}

	for _, sub := range subs {
		if ctx.Err() != nil {
			return errors.Join(append(errs, ctx.Err())...)
		}
		err := p.pollSub(ctx, sub, start)
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			// Shutting down: the round's end is not a failure worth a log line.
			return errors.Join(append(errs, err)...)
		}
		err = fmt.Errorf("poller: subscription %d: %w", sub.ID, err)
		errs = append(errs, err)
		var se *sentry.Error
		if errors.As(err, &se) && se.Kind == sentry.KindRateLimited {
			p.limited++
			p.nextRun = p.rateLimitedUntil(start, se.RetryAt)
			p.log.Warn().Err(err).Int64("subscription", sub.ID).
				Time("until", p.nextRun).Dur("wait", p.nextRun.Sub(start)).
				Msg("poll: rate limited by Sentry; waiting before the next round")
			return errors.Join(errs...)
		}
		p.log.Error().Err(err).Int64("subscription", sub.ID).Msg("poll failed")
	}
	p.limited, p.nextRun = 0, time.Time{}
	return errors.Join(errs...)
}

// rateLimitedUntil is when the next round may start after a rate limit:
// when Sentry said, or else after an exponential backoff from Interval; never
// sooner than Interval and never later than maxWait.
func (p *Poller) rateLimitedUntil(now, retryAt time.Time) time.Time {
	wait := maxWait
	if !retryAt.IsZero() {
		wait = retryAt.Sub(now)
	} else if p.limited < 20 { // past that the shift would overflow; maxWait holds anyway
		wait = p.opts.Interval << p.limited
	}
	return now.Add(min(max(wait, p.opts.Interval), maxWait))
}

// searchQuery is the subscription's query narrowed to its projects.
func searchQuery(sub Sub) string {
	var terms []string
	if q := strings.TrimSpace(sub.Query); q != "" {
		terms = append(terms, q)
	}
	var projects []string
	for _, p := range sub.Projects {
		if p = strings.TrimSpace(p); p != "" {
			projects = append(projects, p)
		}
	}
	switch len(projects) {
	case 0:
	case 1:
		terms = append(terms, "project:"+projects[0])
	default:
		terms = append(terms, "project:["+strings.Join(projects, ",")+"]")
	}
	return strings.Join(terms, " ")
}

// firstSeen is an issue's first-seen time; zero when Sentry did not say.
func firstSeen(is *sentry.Issue) time.Time {
	if is.FirstSeen == nil {
		return time.Time{}
	}
	return *is.FirstSeen
}

// walk runs the search newest first, page by page, until a page reaches
// issues first seen before stopBefore (never, when it is zero), the results
// end, or MaxPages pages were read; truncated reports the last case. Issues
// come back newest first, each once.
func (p *Poller) walk(ctx context.Context, q sentry.IssueQuery, stopBefore time.Time) (issues []sentry.Issue, truncated bool, err error) {
	have := map[string]bool{}
	for range p.opts.MaxPages {
		page, err := p.search.SearchIssues(ctx, p.opts.Org, q)
		if err != nil {
			return nil, false, err
		}
		for _, is := range page.Issues {
			// Offsets shift when issues arrive between pages; skip repeats.
			if is.ID != "" && !have[is.ID] {
				have[is.ID] = true
				issues = append(issues, is)
			}
		}
		if page.NextCursor == "" || len(page.Issues) == 0 {
			return issues, false, nil
		}
		if !stopBefore.IsZero() && firstSeen(&page.Issues[len(page.Issues)-1]).Before(stopBefore) {
			return issues, false, nil
		}
		q.Cursor = page.NextCursor
	}
	return issues, true, nil
}

// pollSub runs one subscription's search and acts on what it finds.
func (p *Poller) pollSub(ctx context.Context, sub Sub, roundStart time.Time) error {
	st, err := p.db.PollState(ctx, sub.ID)
	if err != nil {
		return err
	}
	q := sentry.IssueQuery{Query: searchQuery(sub), Sort: "new", Limit: p.opts.PageSize}
	var stopBefore time.Time
	if st.Initialized && !st.Watermark.IsZero() {
		stopBefore = st.Watermark.Add(-lookback)
	}
	issues, truncated, err := p.walk(ctx, q, stopBefore)
	if err != nil {
		return err
	}
	if !st.Initialized {
		return p.initialize(ctx, sub, issues, truncated)
	}
	if truncated {
		p.log.Warn().Int64("subscription", sub.ID).Int("pages", p.opts.MaxPages).
			Msg("poll: more new issues than the page limit; older ones are skipped")
	}

	ids := make([]string, len(issues))
	for i := range issues {
		ids[i] = issues[i].ID
	}
	seen, err := p.db.PollSeen(ctx, sub.ID, ids)
	if err != nil {
		return err
	}

	var errs []error
	for i := range issues {
		if prev, ok := seen[issues[i].ID]; ok {
			if err := p.noticeChange(ctx, sub, &issues[i], prev, roundStart); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// Oldest first, so a channel reads in the order issues appeared.
	for i := len(issues) - 1; i >= 0; i-- {
		if _, ok := seen[issues[i].ID]; !ok {
			if err := p.announce(ctx, sub, st, &issues[i]); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		// An issue that could not be posted keeps the watermark where it
		// is, so the next round pages back far enough to retry it.
		return errors.Join(errs...)
	}
	if newest := newestFirstSeen(issues); newest.After(st.Watermark) {
		return p.db.AdvancePoll(ctx, sub.ID, newest)
	}
	return nil
}

func newestFirstSeen(issues []sentry.Issue) time.Time {
	var newest time.Time
	for i := range issues {
		if fs := firstSeen(&issues[i]); fs.After(newest) {
			newest = fs
		}
	}
	return newest
}

// initialize records what a new subscription already matches, without
// posting it: subscribing must not flood the channel with old issues.
func (p *Poller) initialize(ctx context.Context, sub Sub, issues []sentry.Issue, truncated bool) error {
	states := make([]store.PollIssue, len(issues))
	for i := range issues {
		states[i] = stateOf(&issues[i])
	}
	var floor time.Time
	if truncated && len(issues) > 0 {
		floor = firstSeen(&issues[len(issues)-1])
	}
	if err := p.db.InitPoll(ctx, sub.ID, newestFirstSeen(issues), floor, states); err != nil {
		return err
	}
	p.log.Info().Int64("subscription", sub.ID).Int("issues", len(issues)).Bool("truncated", truncated).
		Msg("poll: subscription started; existing matches recorded, not posted")
	return nil
}

// announce posts an issue the subscription has not seen, then records it.
func (p *Poller) announce(ctx context.Context, sub Sub, st store.PollState, is *sentry.Issue) error {
	if !st.Floor.IsZero() && !firstSeen(is).After(st.Floor) {
		// It matched before the subscription began, beyond the pages the
		// first poll read: old news, recorded without posting.
		return p.db.MarkPollSeen(ctx, sub.ID, stateOf(is))
	}
	a := alerts.Alert{
		Kind:           alerts.KindPoll,
		Action:         "created",
		IssueID:        is.ID,
		Issue:          is,
		ProjectSlug:    is.Project.Slug,
		SubscriptionID: sub.ID,
		DeliveryID:     fmt.Sprintf("poll:%d:%s", sub.ID, is.ID),
		ReceivedAt:     p.opts.Now(),
	}
	if err := p.recv.Receive(ctx, a); err != nil {
		return fmt.Errorf("receive issue %s: %w", is.ID, err)
	}
	return p.db.MarkPollSeen(ctx, sub.ID, stateOf(is))
}

// noticeChange sends an issue alert when a seen issue's status, substatus
// or assignee differs from what was recorded, then records the new state.
// The delivery id names the round, so subscriptions that see the same
// change in one round deliver it once.
func (p *Poller) noticeChange(ctx context.Context, sub Sub, is *sentry.Issue, prev store.PollIssue, roundStart time.Time) error {
	cur := stateOf(is)
	if cur == prev {
		return nil
	}
	action := ""
	switch {
	case cur.Status != prev.Status || cur.Substatus != prev.Substatus:
		switch cur.Status {
		case sentry.StatusResolved, sentry.StatusUnresolved, sentry.StatusIgnored:
			action = cur.Status
		}
	case cur.Assignee != prev.Assignee:
		action = "assigned"
	}
	if action == "" {
		// A status cards do not show (reprocessing, pending deletion):
		// remember it without telling anyone.
		return p.db.MarkPollSeen(ctx, sub.ID, cur)
	}
	a := alerts.Alert{
		Kind:        alerts.KindIssue,
		Action:      action,
		IssueID:     is.ID,
		Issue:       is,
		ProjectSlug: is.Project.Slug,
		DeliveryID:  fmt.Sprintf("poll-change:%s:%s:%d", is.ID, cur.Status, roundStart.UnixMilli()),
		ReceivedAt:  p.opts.Now(),
	}
	if err := p.recv.Receive(ctx, a); err != nil {
		return fmt.Errorf("receive change of issue %s: %w", is.ID, err)
	}
	return p.db.MarkPollSeen(ctx, sub.ID, cur)
}

// stateOf is the part of an issue whose changes are noticed.
func stateOf(is *sentry.Issue) store.PollIssue {
	st := store.PollIssue{IssueID: is.ID, Status: is.Status}
	if is.Substatus != nil {
		st.Substatus = *is.Substatus
	}
	if is.AssignedTo != nil {
		st.Assignee = is.AssignedTo.Type + ":" + is.AssignedTo.ID
	}
	return st
}
