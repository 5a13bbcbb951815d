package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"sentrybot/blocks"
	"sentrybot/internal/sentryfake"
	"sentrybot/internal/slackfake"
)

// The simulated workspace the load comes from.
const (
	loadTeam    = slackfake.TeamID
	loadChannel = "C0LOAD"
	loadUser    = "U0LOAD"
	loadEmail   = "load@acme.test"

	firstCardIssue = 500000 // cards' issues: 500000, 500001, ...
	firstIssue     = 100000 // issues of links and commands: 100000, 100001, ...
)

// stepResult is what one rate step measured.
type stepResult struct {
	Rate       int
	Sent       int
	SendRate   float64       // envelopes per second actually written
	MaxLag     time.Duration // latest an envelope went out behind its schedule
	Acked      int
	Ack        summary    // from the envelope's write to its ack
	AckSched   summary    // from the envelope's scheduled time to its ack
	PerKind    [kinds]int // envelopes of each kind
	E2E        [kinds]summary
	Done       int
	Throughput float64 // results per second, first send to last result
	Private    int     // clicks answered on their response_url instead of by the card
	SlackErrs  int     // Web API calls the fake refused
	ExtraCards int     // card redraws no click was waiting for
	PeakRSS    int64   // bytes; 0 when unknown
	Goroutines int     // most seen during the step
	ChildCPU   time.Duration
	DriverCPU  time.Duration // this process: fakes and driver
	Warnings   int           // the target's warning log lines
	Errors     int           // the target's error log lines
}

// targetResult is every step of one target.
type targetResult struct {
	Name    string
	Answers bool // clicks and commands have a result beyond the ack
	Steps   []stepResult
	Notes   []string
}

// harness is one target running against fresh fakes.
type harness struct {
	cfg    config
	t      target
	slack  *slackfake.Server
	sentry *sentryfake.Server
	tr     *tracker
	child  *child
	stderr io.Writer

	pick     *picker
	seq      int // envelopes built so far
	issueSeq int // links and commands so far
	cardSeq  int // clicks so far
	cards    []card
}

// card is an issue card unfurled during setup, which clicks then change.
type card struct {
	issue  string
	url    string
	ts     string
	clicks int
}

// drive runs every rate step against one target and stops it.
func drive(ctx context.Context, cfg config, t target, stderr io.Writer) (targetResult, error) {
	res := targetResult{Name: t.name, Answers: t.answers}
	dir, err := os.MkdirTemp("", "loadgen-")
	if err != nil {
		return res, fmt.Errorf("making a scratch directory: %w", err)
	}
	defer os.RemoveAll(dir)

	tr := newTracker()
	h := &harness{
		cfg:    cfg,
		t:      t,
		tr:     tr,
		stderr: stderr,
		pick:   newPicker(cfg.mix),
		// A target that falls behind pushes back on the socket; a long
		// write timeout lets the sender wait (and report its lag) rather
		// than break the socket.
		slack: slackfake.New(slackfake.Options{AppToken: appToken, BotToken: botToken, Logger: zerolog.Nop(),
			WriteTimeout: 10 * time.Minute, OnAck: tr.onAck, OnCall: tr.onCall, DiscardRecords: true}),
		sentry: sentryfake.New(sentryfake.Options{Org: sentryOrg, Token: sentryToken}),
	}
	defer h.slack.Close()
	defer h.sentry.Close()
	h.seedSentry()

	metricsAddr, err := freeAddr()
	if err != nil {
		return res, err
	}
	var logFile io.Writer
	if cfg.logs != "" {
		f, err := os.Create(filepath.Join(cfg.logs, t.name+".log"))
		if err != nil {
			return res, fmt.Errorf("creating the log file: %w", err)
		}
		defer f.Close()
		logFile = f
	}
	fmt.Fprintf(stderr, "loadgen: starting %s\n", t.name)
	h.child, err = startChild(t, fakeAddrs{slackAPI: h.slack.APIURL(), sentry: h.sentry.URL(), metricsAddr: metricsAddr, dir: dir}, cfg.targetCPUs, logFile)
	if err != nil {
		return res, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = h.child.stop(15 * time.Second)
		}
	}()
	if err := h.waitReady(ctx); err != nil {
		return res, err
	}
	fmt.Fprintf(stderr, "loadgen: %s is pid %d, metrics at %s\n", t.name, h.child.pid(), h.child.metrics)
	if err := h.setup(ctx); err != nil {
		return res, fmt.Errorf("setting up: %w\n%s", err, h.child.log.lastLines())
	}
	for i, rate := range cfg.rates {
		fmt.Fprintf(stderr, "loadgen: %s at %d/s for %v\n", t.name, rate, cfg.duration)
		st, err := h.step(ctx, i, rate)
		if err != nil {
			return res, fmt.Errorf("at %d/s: %w\n%s", rate, err, h.child.log.lastLines())
		}
		res.Steps = append(res.Steps, st)
	}
	stopped = true
	if err := h.child.stop(15 * time.Second); err != nil {
		res.Notes = append(res.Notes, fmt.Sprintf("stopping %s: %v", t.name, err))
	}
	return res, nil
}

// seedSentry adds the member the load user links to, the cards' issues and
// the issues links and commands cycle through.
func (h *harness) seedSentry() {
	h.sentry.AddMember(sentryfake.NewMember("901", "9001", loadEmail, "Load", "member"))
	h.slack.AddUser(slack.User{ID: loadUser, TeamID: loadTeam, Name: "load", IsEmailConfirmed: true,
		Profile: slack.UserProfile{Email: loadEmail}})
	for i := range h.cfg.cards {
		id := fmt.Sprint(firstCardIssue + i)
		h.sentry.AddIssue(sentryfake.NewIssue(id, "", "ValueError: card "+id))
		h.cards = append(h.cards, card{issue: id, url: "https://acme.sentry.io/issues/" + id + "/"})
	}
	for i := range h.cfg.issues {
		id := fmt.Sprint(firstIssue + i)
		h.sentry.AddIssue(sentryfake.NewIssue(id, "", "TypeError: load "+id))
	}
	h.sentry.SetLatency(h.cfg.sentryLatency)
}

// waitReady waits for the target's socket and its /metrics.
func (h *harness) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	go func() {
		select {
		case <-h.child.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := h.slack.WaitConnected(ctx, 1); err != nil {
		return fmt.Errorf("%s did not connect: %w\n%s", h.t.name, err, h.child.log.lastLines())
	}
	for {
		if _, err := h.child.goroutines(ctx); err == nil {
			return nil
		} else if ctx.Err() != nil {
			return fmt.Errorf("%s's /metrics did not answer: %w\n%s", h.t.name, err, h.child.log.lastLines())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// setup links the load user (when the target answers commands) and unfurls
// every card once, so that clicks have cards Slack knows.
func (h *harness) setup(ctx context.Context) error {
	if h.t.answers {
		hook := h.slack.ResponseURL("commands")
		id, env := slackfake.SlashCommandEnvelope(slackfake.SlashCommand{
			TeamID: loadTeam, ChannelID: loadChannel, UserID: loadUser, Text: "link", ResponseURL: hook})
		r := &rec{kind: kindCommand, step: -1}
		h.tr.expect(id, r, "", "", hook)
		if err := h.send(ctx, r, env); err != nil {
			return err
		}
		if err := h.await(ctx, []*rec{r}, 30*time.Second); err != nil {
			return fmt.Errorf("/sentry link: %w", err)
		}
		if got := h.tr.snapshot([]*rec{r})[0].reply; !strings.Contains(string(got), "Linked:") {
			return fmt.Errorf("/sentry link answered %s", got)
		}
	}
	var recs []*rec
	for i := range h.cards {
		c := &h.cards[i]
		c.ts = fmt.Sprintf("1700000000.%06d", i)
		id, env := slackfake.LinkSharedEnvelope(slackfake.LinkShared{TeamID: loadTeam, Channel: loadChannel, User: loadUser,
			MessageTS: c.ts, Source: "conversations_history", EventID: fmt.Sprintf("EvCard%d", i), IsBotUserMember: true,
			URLs: []string{c.url}})
		r := &rec{kind: kindLink, step: -1}
		h.tr.expect(id, r, msgKey(loadChannel, c.ts), "", "")
		if err := h.send(ctx, r, env); err != nil {
			return err
		}
		recs = append(recs, r)
	}
	if err := h.await(ctx, recs, time.Minute); err != nil {
		return fmt.Errorf("unfurling the cards: %w", err)
	}
	h.tr.counters()
	h.child.log.counts()
	return nil
}

func (h *harness) send(ctx context.Context, r *rec, env []byte) error {
	r.sent = time.Now()
	if r.due.IsZero() {
		r.due = r.sent
	}
	if err := h.slack.Send(ctx, env); err != nil {
		return fmt.Errorf("sending an envelope: %w", err)
	}
	return nil
}

// await waits until every rec is acked and done, or d passes.
func (h *harness) await(ctx context.Context, recs []*rec, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		acked, done := h.tr.state(recs)
		if acked == len(recs) && done == len(recs) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v, %d of %d acked and %d done", d, acked, len(recs), done)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-h.child.exited:
			return fmt.Errorf("%s exited: %v", h.t.name, h.child.waitErr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// next builds the next envelope of the mix and registers what it expects.
func (h *harness) next(step int) (*rec, []byte) {
	h.seq++
	k := h.pick.next()
	r := &rec{kind: k, step: step, doneAtAck: !h.t.answers && k != kindLink}
	var id string
	var env []byte
	switch k {
	case kindLink:
		issue := firstIssue + h.issueSeq%h.cfg.issues
		h.issueSeq++
		ts := fmt.Sprintf("%d.%06d", 1800000000+h.seq/1000000, h.seq%1000000)
		id, env = slackfake.LinkSharedEnvelope(slackfake.LinkShared{TeamID: loadTeam, Channel: loadChannel, User: loadUser,
			MessageTS: ts, Source: "conversations_history", EventID: fmt.Sprintf("EvLoad%d", h.seq), IsBotUserMember: true,
			URLs: []string{fmt.Sprintf("https://acme.sentry.io/issues/%d/?lg=%d", issue, h.seq)}})
		h.tr.expect(id, r, msgKey(loadChannel, ts), "", "")
	case kindClick:
		c := &h.cards[h.cardSeq%len(h.cards)]
		h.cardSeq++
		action, label := blocks.ActionResolve, "Resolve"
		if c.clicks%2 == 1 {
			action, label = blocks.ActionUnresolve, "Unresolve"
		}
		c.clicks++
		hook := h.slack.ResponseURL("actions")
		id, env = slackfake.BlockActionsEnvelope(slackfake.BlockAction{TeamID: loadTeam, UserID: loadUser, ChannelID: loadChannel,
			MessageTS: c.ts, InUnfurl: true, UnfurlURL: c.url, ActionID: action, BlockID: blocks.BlockActions + c.issue,
			Value: c.issue, Text: label, ResponseURL: hook, ActionTS: fmt.Sprintf("1800000000.%06d", h.seq)})
		card := ""
		if h.t.answers {
			card = msgKey(loadChannel, c.ts)
		}
		h.tr.expect(id, r, "", card, hook)
	case kindCommand:
		issue := firstIssue + h.issueSeq%h.cfg.issues
		h.issueSeq++
		hook := h.slack.ResponseURL("commands")
		id, env = slackfake.SlashCommandEnvelope(slackfake.SlashCommand{TeamID: loadTeam, ChannelID: loadChannel, UserID: loadUser,
			Text: fmt.Sprintf("issue %d", issue), ResponseURL: hook})
		h.tr.expect(id, r, "", "", hook)
	}
	return r, env
}

// step sends at rate for the configured duration, open loop: each envelope
// goes out at its scheduled time whether or not earlier ones were answered.
func (h *harness) step(ctx context.Context, index, rate int) (stepResult, error) {
	st := stepResult{Rate: rate}
	n := int(float64(rate) * h.cfg.duration.Seconds())
	recs := make([]*rec, 0, n)

	if err := resetPeakRSS(h.child.pid()); err != nil {
		fmt.Fprintf(h.stderr, "loadgen: cannot reset the peak RSS (%v); it covers the whole run so far\n", err)
	}
	cpu0, err := procCPU(h.child.pid())
	if err != nil {
		return st, fmt.Errorf("reading the target's CPU time: %w", err)
	}
	self0 := selfCPU()
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var sampled sync.WaitGroup
	var maxRSS int64
	var maxG int
	sampled.Go(func() { maxRSS, maxG = h.sample(sampleCtx) })

	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(float64(i) * float64(time.Second) / float64(rate)))
		if d := time.Until(due); d > 0 {
			select {
			case <-ctx.Done():
				stopSampling()
				sampled.Wait()
				return st, ctx.Err()
			case <-time.After(d):
			}
		}
		st.MaxLag = max(st.MaxLag, time.Since(due))
		r, env := h.next(index)
		r.due = due
		recs = append(recs, r)
		if err := h.send(ctx, r, env); err != nil {
			stopSampling()
			sampled.Wait()
			return st, err
		}
	}
	sendTime := time.Since(start)
	st.Sent = n
	st.SendRate = float64(n) / sendTime.Seconds()

	err = h.await(ctx, recs, h.cfg.drain)
	stopSampling()
	sampled.Wait()
	if err != nil && (ctx.Err() != nil || h.exited()) {
		return st, err
	}

	if cpu1, err := procCPU(h.child.pid()); err == nil {
		st.ChildCPU = cpu1 - cpu0
	}
	st.DriverCPU = selfCPU() - self0
	if hwm, err := procStatus(h.child.pid(), "VmHWM"); err == nil {
		st.PeakRSS = max(hwm, maxRSS)
	} else {
		st.PeakRSS = maxRSS
	}
	st.Goroutines = maxG
	st.SlackErrs, st.ExtraCards = h.tr.counters()
	st.Warnings, st.Errors = h.child.log.counts()
	h.measure(&st, h.tr.snapshot(recs), start)
	return st, nil
}

func (h *harness) exited() bool {
	select {
	case <-h.child.exited:
		return true
	default:
		return false
	}
}

// measure fills in the latencies and counts of a step from its envelopes.
func (h *harness) measure(st *stepResult, recs []rec, start time.Time) {
	var acks, acksSched []time.Duration
	var e2e [kinds][]time.Duration
	var last time.Time
	for _, r := range recs {
		st.PerKind[r.kind]++
		if r.acked() {
			st.Acked++
			acks = append(acks, r.ackLatency)
			acksSched = append(acksSched, r.ackAt.Sub(r.due))
		}
		if r.private {
			st.Private++
		}
		if !r.done() {
			continue
		}
		st.Done++
		if r.doneAt.After(last) {
			last = r.doneAt
		}
		if !r.doneAtAck {
			e2e[r.kind] = append(e2e[r.kind], r.doneAt.Sub(r.due))
		}
	}
	st.Ack = summarize(acks)
	st.AckSched = summarize(acksSched)
	for k := range kinds {
		st.E2E[k] = summarize(e2e[k])
	}
	if st.Done > 0 && last.After(start) {
		st.Throughput = float64(st.Done) / last.Sub(start).Seconds()
	}
}

// sample polls the child's RSS and goroutines until ctx ends and returns
// the largest of each.
func (h *harness) sample(ctx context.Context) (rss int64, goroutines int) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		if v, err := procStatus(h.child.pid(), "VmRSS"); err == nil {
			rss = max(rss, v)
		}
		gctx, cancel := context.WithTimeout(ctx, time.Second)
		if g, err := h.child.goroutines(gctx); err == nil {
			goroutines = max(goroutines, g)
		} else if !errors.Is(err, context.Canceled) && ctx.Err() == nil {
			fmt.Fprintf(h.stderr, "loadgen: scraping goroutines: %v\n", err)
		}
		cancel()
		select {
		case <-ctx.Done():
			return rss, goroutines
		case <-t.C:
		}
	}
}
