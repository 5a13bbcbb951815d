package poller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"sentrybot/alerts"
	"sentrybot/internal/sentryfake"
	"sentrybot/internal/testkit"
	"sentrybot/sentry"
	"sentrybot/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// mockSubs is a Subscriptions whose answer the test sets.
type mockSubs struct {
	PollSubscriptionsFn func(ctx context.Context) ([]Sub, error)
}

func (m *mockSubs) PollSubscriptions(ctx context.Context) ([]Sub, error) {
	return m.PollSubscriptionsFn(ctx)
}

var _ Subscriptions = (*mockSubs)(nil)

// recorder is a Receiver that keeps what it accepted; ReceiveFn, when set,
// decides first and may refuse.
type recorder struct {
	mu        sync.Mutex
	got       []alerts.Alert
	attempts  []string // delivery ids of every call, accepted or not
	ReceiveFn func(a alerts.Alert) error
}

func (r *recorder) Receive(ctx context.Context, a alerts.Alert) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts = append(r.attempts, a.DeliveryID)
	if r.ReceiveFn != nil {
		if err := r.ReceiveFn(a); err != nil {
			return err
		}
	}
	r.got = append(r.got, a)
	return nil
}

func (r *recorder) alerts() []alerts.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

var _ Receiver = (*recorder)(nil)

// rig is a poller wired to a fake Sentry and a real store.
type rig struct {
	fake  *sentryfake.Server
	db    *store.DB
	recv  *recorder
	clock *testkit.Clock
	p     *Poller
	logs  *testkit.LogBuffer

	mu   sync.Mutex
	subs []Sub
}

func (r *rig) setSubs(subs ...Sub) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subs = subs
}

// base is the time issues in these tests are first seen around.
var base = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newRig(t *testing.T, fakeOpts sentryfake.Options, o Options, subs ...Sub) *rig {
	t.Helper()
	fake := sentryfake.New(fakeOpts)
	t.Cleanup(fake.Close)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	// The client and the poller share the test's clock: the client holds
	// calls back until a rate limit's reset by its own clock.
	clk := testkit.NewClock(time.Now())
	client, err := sentry.New(sentry.Config{BaseURL: fake.URL(), Token: fake.Token(), Now: clk.Now,
		HTTPClient: &http.Client{Transport: tr, Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "sentrybot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	r := &rig{fake: fake, db: db, recv: &recorder{}, clock: clk, logs: &testkit.LogBuffer{}, subs: subs}
	o.Org = fake.Org()
	if o.Now == nil {
		o.Now = r.clock.Now
	}
	ms := &mockSubs{PollSubscriptionsFn: func(context.Context) ([]Sub, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		return slices.Clone(r.subs), nil
	}}
	r.p = New(db, ms, client, r.recv, zerolog.New(r.logs), o)
	return r
}

// addIssue adds an unresolved issue of project slug, first seen at
// base+offset; ids order issues too, so tests give later issues larger ids.
func (r *rig) addIssue(id, slug string, offset time.Duration) sentry.Issue {
	is := sentryfake.NewIssue(id, strings.ToUpper(slug)+"-"+id, "ValueError: issue "+id)
	fs := base.Add(offset)
	is.FirstSeen = &fs
	ls := fs.Add(time.Minute)
	is.LastSeen = &ls
	is.Project = sentry.Project{ID: slug + "-id", Name: slug, Slug: slug}
	return r.fake.AddIssue(is)
}

func (r *rig) pollOnce(t *testing.T) {
	t.Helper()
	if err := r.p.PollOnce(context.Background()); err != nil {
		t.Fatalf("PollOnce: %v", err)
	}
}

// searches are the issue searches the fake received.
func (r *rig) searches() []sentryfake.Request {
	var out []sentryfake.Request
	for _, req := range r.fake.Requests() {
		if strings.HasSuffix(req.Path, "/issues/") {
			out = append(out, req)
		}
	}
	return out
}

func issueIDs(as []alerts.Alert) []string {
	ids := make([]string, len(as))
	for i, a := range as {
		ids[i] = a.IssueID
	}
	return ids
}

func TestFirstPollPostsNothing(t *testing.T) {
	r := newRig(t, sentryfake.Options{}, Options{}, Sub{ID: 1})
	for i := range 3 {
		r.addIssue(fmt.Sprint(i+1), "backend", time.Duration(i)*time.Hour)
	}
	r.pollOnce(t)
	if got := r.recv.alerts(); len(got) != 0 {
		t.Fatalf("first poll posted %v, want nothing", issueIDs(got))
	}
	st, err := r.db.PollState(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Initialized || !st.Watermark.Equal(base.Add(2*time.Hour)) || !st.Floor.IsZero() {
		t.Errorf("state after first poll = %+v, want initialized, watermark %v, no floor", st, base.Add(2*time.Hour))
	}
	seen, err := r.db.PollSeen(context.Background(), 1, []string{"1", "2", "3"})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 {
		t.Errorf("first poll recorded %d issues, want 3", len(seen))
	}
	// Nothing changed: polling again posts nothing either.
	r.pollOnce(t)
	if got := r.recv.alerts(); len(got) != 0 {
		t.Errorf("second poll posted %v, want nothing", issueIDs(got))
	}
}

func TestNewIssuePostedOnce(t *testing.T) {
	r := newRig(t, sentryfake.Options{}, Options{}, Sub{ID: 5})
	r.addIssue("1", "backend", 0)
	r.pollOnce(t)

	is := r.addIssue("2", "backend", time.Hour)
	r.clock.Set(base.Add(90 * time.Minute))
	r.pollOnce(t)
	got := r.recv.alerts()
	if len(got) != 1 {
		t.Fatalf("poll after a new issue posted %v, want [2]", issueIDs(got))
	}
	a := got[0]
	if a.Kind != alerts.KindPoll || a.Action != "created" || a.IssueID != "2" || a.ProjectSlug != "backend" ||
		a.SubscriptionID != 5 || a.DeliveryID != "poll:5:2" || !a.ReceivedAt.Equal(base.Add(90*time.Minute)) {
		t.Errorf("alert = %+v, want a created poll alert of issue 2 for subscription 5", a)
	}
	if a.Issue == nil || a.Issue.ID != "2" || a.Issue.ShortID != is.ShortID || a.Issue.Title != is.Title {
		t.Errorf("alert issue = %+v, want issue 2 as searched", a.Issue)
	}
	if a.Changed() {
		t.Error("a poll alert reads as a change")
	}

	for range 3 {
		r.pollOnce(t)
	}
	if got := r.recv.alerts(); len(got) != 1 {
		t.Errorf("after more polls %d alerts were posted, want still 1", len(got))
	}
	st, _ := r.db.PollState(context.Background(), 5)
	if !st.Watermark.Equal(base.Add(time.Hour)) {
		t.Errorf("watermark = %v, want the new issue's first-seen %v", st.Watermark, base.Add(time.Hour))
	}
}

func TestReceiveFailureRetried(t *testing.T) {
	r := newRig(t, sentryfake.Options{}, Options{}, Sub{ID: 1})
	r.addIssue("1", "backend", 0)
	r.pollOnce(t)

	fail := true
	r.recv.ReceiveFn = func(alerts.Alert) error {
		if fail {
			return errors.New("queue full")
		}
		return nil
	}
	r.addIssue("2", "backend", time.Hour)
	err := r.p.PollOnce(context.Background())
	if err == nil || !strings.Contains(err.Error(), "queue full") {
		t.Fatalf("PollOnce with a failing receiver = %v, want the receive error", err)
	}
	if st, _ := r.db.PollState(context.Background(), 1); !st.Watermark.Equal(base) {
		t.Errorf("watermark moved to %v after a failed post, want it kept at %v", st.Watermark, base)
	}

	fail = false
	r.pollOnce(t)
	r.pollOnce(t)
	if got := r.recv.alerts(); len(got) != 1 || got[0].IssueID != "2" {
		t.Fatalf("posted %v, want issue 2 once", issueIDs(got))
	}
	// The retry carries the same delivery id, so a receiver that had kept
	// the first attempt after all would drop the second.
	if want := []string{"poll:1:2", "poll:1:2"}; !slices.Equal(r.recv.attempts, want) {
		t.Errorf("receive attempts = %v, want %v", r.recv.attempts, want)
	}
}

func TestPagination(t *testing.T) {
	r := newRig(t, sentryfake.Options{}, Options{PageSize: 2, MaxPages: 5}, Sub{ID: 1})
	for i := 1; i <= 5; i++ {
		r.addIssue(fmt.Sprint(i), "backend", time.Duration(i)*time.Hour)
	}
	r.pollOnce(t)
	if n := len(r.searches()); n != 3 {
		t.Errorf("first poll made %d searches over 5 issues in pages of 2, want 3", n)
	}
	seen, _ := r.db.PollSeen(context.Background(), 1, []string{"1", "2", "3", "4", "5"})
	if len(seen) != 5 {
		t.Errorf("first poll recorded %d of 5 issues", len(seen))
	}

	for i := 6; i <= 8; i++ {
		r.addIssue(fmt.Sprint(i), "backend", time.Duration(i)*time.Hour)
	}
	before := len(r.searches())
	r.pollOnce(t)
	if got := issueIDs(r.recv.alerts()); !slices.Equal(got, []string{"6", "7", "8"}) {
		t.Errorf("posted %v, want [6 7 8], oldest first", got)
	}
	// Page 1 holds 8 and 7, page 2 holds 6 and 5, page 3 holds 4 and 3;
	// 4 is older than the watermark (5) less the lookback, so the walk
	// stops there rather than reading the last page.
	reqs := r.searches()[before:]
	if len(reqs) != 3 {
		t.Fatalf("second poll made %d searches, want 3", len(reqs))
	}
	if reqs[0].Query.Has("cursor") || reqs[1].Query.Get("cursor") == "" {
		t.Errorf("cursors = %q, %q; want none, then the first page's next cursor",
			reqs[0].Query.Get("cursor"), reqs[1].Query.Get("cursor"))
	}
	if got := reqs[0].Query.Get("limit"); got != "2" {
		t.Errorf("limit = %q, want 2", got)
	}
}

func TestFirstPollTruncated(t *testing.T) {
	// The first poll reads 2 pages of 2: issues 6 to 3; 2 and 1 remain
	// unread and must never be posted.
	r := newRig(t, sentryfake.Options{}, Options{PageSize: 2, MaxPages: 2}, Sub{ID: 1, Query: "is:unresolved"})
	for i := 1; i <= 6; i++ {
		r.addIssue(fmt.Sprint(i), "backend", time.Duration(i)*time.Hour)
	}
	r.pollOnce(t)
	st, _ := r.db.PollState(context.Background(), 1)
	if !st.Floor.Equal(base.Add(3 * time.Hour)) {
		t.Errorf("floor = %v, want issue 3's first-seen %v", st.Floor, base.Add(3*time.Hour))
	}

	// Resolving the newest four brings 2 and 1 onto the first page.
	for i := 3; i <= 6; i++ {
		r.fake.SetIssue(fmt.Sprint(i), func(is *sentry.Issue) { is.Status = sentry.StatusResolved })
	}
	r.addIssue("7", "backend", 7*time.Hour)
	r.pollOnce(t)
	if got := issueIDs(r.recv.alerts()); !slices.Equal(got, []string{"7"}) {
		t.Errorf("posted %v, want only the new issue 7", got)
	}
	// The first page now holds 7 and 2: 2 is recorded, silently.
	seen, _ := r.db.PollSeen(context.Background(), 1, []string{"2"})
	if len(seen) != 1 {
		t.Error("issue 2 was not recorded")
	}
}

func TestQueryAndProjects(t *testing.T) {
	r := newRig(t, sentryfake.Options{}, Options{},
		Sub{ID: 1, Query: "is:unresolved level:error", Projects: []string{"backend", "frontend"}},
		Sub{ID: 2, Projects: []string{"mobile"}},
	)
	r.pollOnce(t)
	reqs := r.searches()
	if len(reqs) != 2 {
		t.Fatalf("%d searches, want 2", len(reqs))
	}
	for i, want := range []string{"is:unresolved level:error project:[backend,frontend]", "project:mobile"} {
		q := reqs[i].Query
		if q.Get("query") != want || q.Get("sort") != "new" || q.Get("limit") != "100" {
			t.Errorf("search %d: query=%q sort=%q limit=%q; want query %q, sort new, limit 100",
				i, q.Get("query"), q.Get("sort"), q.Get("limit"), want)
		}
	}

	r.addIssue("1", "backend", time.Hour)
	r.addIssue("2", "frontend", 2*time.Hour)
	r.addIssue("3", "mobile", 3*time.Hour)
	warning := r.addIssue("4", "backend", 4*time.Hour)
	r.fake.SetIssue(warning.ID, func(is *sentry.Issue) { is.Level = "warning" })
	r.pollOnce(t)

	bySub := map[int64][]string{}
	for _, a := range r.recv.alerts() {
		bySub[a.SubscriptionID] = append(bySub[a.SubscriptionID], a.IssueID)
	}
	if !slices.Equal(bySub[1], []string{"1", "2"}) || !slices.Equal(bySub[2], []string{"3"}) || len(bySub) != 2 {
		t.Errorf("posted by subscription %v, want 1: [1 2], 2: [3]", bySub)
	}
}

func TestSearchQuery(t *testing.T) {
	for _, tc := range []struct {
		sub  Sub
		want string
	}{
		{Sub{}, ""},
		{Sub{Query: "  is:unresolved  "}, "is:unresolved"},
		{Sub{Projects: []string{"a"}}, "project:a"},
		{Sub{Query: "timeout", Projects: []string{"a", "", "b"}}, "timeout project:[a,b]"},
	} {
		if got := searchQuery(tc.sub); got != tc.want {
			t.Errorf("searchQuery(%+v) = %q, want %q", tc.sub, got, tc.want)
		}
	}
}

func TestRateLimitWaitsForReset(t *testing.T) {
	r := newRig(t, sentryfake.Options{}, Options{Interval: 10 * time.Millisecond}, Sub{ID: 1}, Sub{ID: 2})
	r.addIssue("1", "backend", 0)
	// The poller's clock runs a second behind the fake's, so the reset the
	// fake announces (its next whole second after a 1s window) is well past
	// the poller's now plus Interval.
	start := time.Now().Add(-time.Second)
	r.clock.Set(start)
	r.fake.Fail("/api/0/organizations/"+r.fake.Org()+"/issues/", http.StatusTooManyRequests, 1)

	err := r.p.PollOnce(context.Background())
	var se *sentry.Error
	if !errors.As(err, &se) || se.Kind != sentry.KindRateLimited || se.RetryAt.IsZero() {
		t.Fatalf("PollOnce = %v, want a rate limit error with a reset time", err)
	}
	if n := len(r.searches()); n != 1 {
		t.Errorf("%d searches in the limited round, want 1: the round stops at the limit", n)
	}
	next := r.p.nextRun
	if !next.Equal(se.RetryAt) {
		t.Errorf("next run %v, want the reset time %v", next, se.RetryAt)
	}
	if !strings.Contains(r.logs.String(), "rate limited") || !strings.Contains(r.logs.String(), `"until"`) {
		t.Errorf("no log of the wait: %s", r.logs.String())
	}

	// Before the reset nothing is asked of Sentry.
	if err := r.p.PollOnce(context.Background()); !errors.Is(err, ErrBackingOff) {
		t.Errorf("PollOnce before the reset = %v, want ErrBackingOff", err)
	}
	if n := len(r.searches()); n != 1 {
		t.Errorf("%d searches while backing off, want still 1", n)
	}
	if d := r.p.untilNext(); d != next.Sub(start) {
		t.Errorf("Run would sleep %v, want until the reset (%v)", d, next.Sub(start))
	}

	r.clock.Set(next)
	r.pollOnce(t)
	if n := len(r.searches()); n != 3 {
		t.Errorf("%d searches after the reset, want 3: both subscriptions polled", n)
	}
	if !r.p.nextRun.IsZero() || r.p.limited != 0 {
		t.Errorf("after a good round nextRun=%v limited=%d, want both cleared", r.p.nextRun, r.p.limited)
	}
}

func TestRateLimitBackoffWithoutReset(t *testing.T) {
	// Self-hosted Sentry answers 429 without saying when to retry.
	r := newRig(t, sentryfake.Options{SelfHosted: true}, Options{Interval: time.Minute}, Sub{ID: 1})
	r.fake.Fail("/api/0/", http.StatusTooManyRequests, -1)
	now := base
	r.clock.Set(now)
	var waits []time.Duration
	for range 5 {
		if err := r.p.PollOnce(context.Background()); !errors.Is(err, sentry.ErrRateLimited) {
			t.Fatalf("PollOnce = %v, want a rate limit error", err)
		}
		waits = append(waits, r.p.nextRun.Sub(now))
		now = r.p.nextRun
		r.clock.Set(now)
	}
	want := []time.Duration{2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute}
	if !slices.Equal(waits, want) {
		t.Errorf("waits = %v, want %v", waits, want)
	}
	r.fake.ClearFailures()
	r.pollOnce(t)
	if !r.p.nextRun.IsZero() {
		t.Errorf("nextRun = %v after a good round, want zero", r.p.nextRun)
	}
}

func TestOtherErrorsSkipOneSubscription(t *testing.T) {
	r := newRig(t, sentryfake.Options{}, Options{},
		Sub{ID: 1, Query: "nosuchkey:x"}, // the fake answers 400
		Sub{ID: 2},
	)
	err := r.p.PollOnce(context.Background())
	if !errors.Is(err, sentry.ErrInvalid) || !strings.Contains(err.Error(), "subscription 1") {
		t.Errorf("PollOnce = %v, want subscription 1's invalid-request error", err)
	}
	if st, _ := r.db.PollState(context.Background(), 2); !st.Initialized {
		t.Error("subscription 2 was not polled after subscription 1 failed")
	}
	if !r.p.nextRun.IsZero() {
		t.Errorf("nextRun = %v, want zero: only rate limits delay rounds", r.p.nextRun)
	}
	if !strings.Contains(r.logs.String(), "poll failed") {
		t.Errorf("failure not logged: %s", r.logs.String())
	}
}

func TestStatusChanges(t *testing.T) {
	// Two subscriptions see the same issue; its changes reach the receiver
	// with one delivery id per change, so they are processed once.
	r := newRig(t, sentryfake.Options{}, Options{}, Sub{ID: 1}, Sub{ID: 2, Projects: []string{"backend"}})
	r.addIssue("1", "backend", 0)
	r.addIssue("2", "backend", time.Hour)
	r.clock.Set(base.Add(2 * time.Hour))
	r.pollOnce(t)

	r.fake.SetIssue("1", func(is *sentry.Issue) { is.Status = sentry.StatusResolved; is.Substatus = nil })
	r.clock.Set(base.Add(3 * time.Hour))
	r.pollOnce(t)
	got := r.recv.alerts()
	wantID := fmt.Sprintf("poll-change:1:resolved:%d", base.Add(3*time.Hour).UnixMilli())
	if len(got) != 2 || got[0].DeliveryID != wantID || got[1].DeliveryID != wantID {
		t.Fatalf("alerts = %+v, want two with delivery id %s (one per subscription)", got, wantID)
	}
	a := got[0]
	if a.Kind != alerts.KindIssue || a.Action != "resolved" || a.IssueID != "1" || a.Issue == nil ||
		a.Issue.Status != sentry.StatusResolved || a.SubscriptionID != 0 || !a.Changed() {
		t.Errorf("alert = %+v, want a resolved issue change of issue 1", a)
	}

	r.clock.Set(base.Add(4 * time.Hour))
	r.pollOnce(t)
	if n := len(r.recv.alerts()); n != 2 {
		t.Errorf("%d alerts after polling an unchanged issue, want still 2", n)
	}

	r.fake.SetIssue("2", func(is *sentry.Issue) {
		is.AssignedTo = &sentry.Assignee{Type: "team", ID: "4", Name: "ops"}
	})
	r.clock.Set(base.Add(5 * time.Hour))
	r.pollOnce(t)
	got = r.recv.alerts()[2:]
	if len(got) != 2 || got[0].Action != "assigned" || got[0].IssueID != "2" ||
		got[0].DeliveryID != fmt.Sprintf("poll-change:2:unresolved:%d", base.Add(5*time.Hour).UnixMilli()) {
		t.Errorf("alerts after an assignment = %+v, want an assigned change of issue 2 per subscription", got)
	}
	seen, _ := r.db.PollSeen(context.Background(), 1, []string{"2"})
	if seen["2"].Assignee != "team:4" {
		t.Errorf("stored assignee = %q, want team:4", seen["2"].Assignee)
	}
}

func TestChangeRetriedAfterReceiveFailure(t *testing.T) {
	r := newRig(t, sentryfake.Options{}, Options{}, Sub{ID: 1})
	r.addIssue("1", "backend", 0)
	r.pollOnce(t)
	r.fake.SetIssue("1", func(is *sentry.Issue) { is.Status = sentry.StatusIgnored })
	r.recv.ReceiveFn = func(alerts.Alert) error { return errors.New("down") }
	if err := r.p.PollOnce(context.Background()); err == nil {
		t.Fatal("PollOnce with a failing receiver succeeded")
	}
	r.recv.ReceiveFn = nil
	r.pollOnce(t)
	r.pollOnce(t)
	if got := r.recv.alerts(); len(got) != 1 || got[0].Action != "ignored" {
		t.Errorf("alerts = %+v, want one ignored change", got)
	}
}

func TestDeletedSubscriptionPruned(t *testing.T) {
	r := newRig(t, sentryfake.Options{}, Options{}, Sub{ID: 1}, Sub{ID: 2})
	r.addIssue("1", "backend", 0)
	r.pollOnce(t)
	r.setSubs(Sub{ID: 2})
	r.pollOnce(t)
	ctx := context.Background()
	if st, _ := r.db.PollState(ctx, 1); st.Initialized {
		t.Error("removed subscription 1 still has poll state")
	}
	if seen, _ := r.db.PollSeen(ctx, 1, []string{"1"}); len(seen) != 0 {
		t.Error("removed subscription 1 still has recorded issues")
	}
	if st, _ := r.db.PollState(ctx, 2); !st.Initialized {
		t.Error("subscription 2 lost its poll state")
	}

	// Subscribing again starts afresh: existing matches are not posted.
	r.setSubs(Sub{ID: 1}, Sub{ID: 2})
	r.pollOnce(t)
	if got := r.recv.alerts(); len(got) != 0 {
		t.Errorf("resubscribing posted %v, want nothing", issueIDs(got))
	}
}

func TestListFailureSkipsRound(t *testing.T) {
	r := newRig(t, sentryfake.Options{}, Options{})
	r.p.subs = &mockSubs{PollSubscriptionsFn: func(context.Context) ([]Sub, error) {
		return nil, errors.New("db locked")
	}}
	if err := r.p.PollOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "db locked") {
		t.Errorf("PollOnce = %v, want the listing error", err)
	}
	if n := len(r.fake.Requests()); n != 0 {
		t.Errorf("%d requests to Sentry in a round without subscriptions, want 0", n)
	}
}

func TestRun(t *testing.T) {
	r := newRig(t, sentryfake.Options{}, Options{Interval: 5 * time.Millisecond, Now: time.Now}, Sub{ID: 1})
	r.addIssue("1", "backend", 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.p.Run(ctx) }()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				cancel()
				<-done
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	waitFor("the first poll", func() bool {
		st, _ := r.db.PollState(context.Background(), 1)
		return st.Initialized
	})
	r.addIssue("2", "backend", time.Hour)
	waitFor("the new issue to be posted", func() bool { return len(r.recv.alerts()) == 1 })
	waitFor("more rounds", func() bool { return len(r.searches()) >= 5 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if got := issueIDs(r.recv.alerts()); !slices.Equal(got, []string{"2"}) {
		t.Errorf("Run posted %v, want [2] once", got)
	}
}

var _ io.Writer = (*testkit.LogBuffer)(nil)
