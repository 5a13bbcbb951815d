package main

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"time"

	"github.com/slack-go/slack"

	"sentrybot/authz"
	"sentrybot/handlers"
	"sentrybot/metrics"
)

// instruments are the series /metrics shows.
type instruments struct {
	reg        *metrics.Registry
	envelopes  *metrics.CounterVec
	ackLatency *metrics.HistogramVec
	sentry     *metrics.CounterVec
	unfurls    *metrics.CounterVec
	actions    *metrics.CounterVec
}

func newInstruments() *instruments {
	reg := metrics.NewRegistry()
	// Named as Prometheus' Go collector names it, so dashboards find it.
	reg.GaugeFunc("go_goroutines", "Number of goroutines that currently exist.", func() float64 {
		return float64(runtime.NumGoroutine())
	})
	return &instruments{
		reg:       reg,
		envelopes: reg.Counter("sentrybot_envelopes_total", "Socket Mode envelopes received and acknowledged, by type.", "type"),
		ackLatency: reg.Histogram("sentrybot_ack_latency_seconds", "Time from an envelope arriving on the socket to its ack being written.",
			[]float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5}, "type"),
		sentry:  reg.Counter("sentrybot_sentry_requests_total", "Calls to Sentry's Web API, by operation and HTTP status (0: no answer).", "op", "status"),
		unfurls: reg.Counter("sentrybot_unfurls_total", "Issue cards attached to links with chat.unfurl, by result.", "result"),
		actions: reg.Counter("sentrybot_actions_total", "Attempted changes, by action and decision.", "action", "decision"),
	}
}

func (m *instruments) observeEnvelope(kind string, ack time.Duration) {
	m.envelopes.With(kind).Inc()
	m.ackLatency.With(kind).Observe(ack.Seconds())
}

func (m *instruments) observeSentry(op string, status int, _ time.Duration) {
	m.sentry.With(op, strconv.Itoa(status)).Inc()
}

// countedUnfurls counts the cards the unfurl handler attaches.
type countedUnfurls struct {
	next handlers.UnfurlPoster
	m    *instruments
}

func (c countedUnfurls) count(n int, err error) {
	if err != nil {
		c.m.unfurls.With("error").Inc()
		return
	}
	c.m.unfurls.With("ok").Add(float64(n))
}

func (c countedUnfurls) UnfurlMessageContext(ctx context.Context, ch, ts string, u map[string]slack.Attachment, o ...slack.MsgOption) (string, string, string, error) {
	a, b, d, err := c.next.UnfurlMessageContext(ctx, ch, ts, u, o...)
	c.count(len(u), err)
	return a, b, d, err
}

func (c countedUnfurls) UnfurlMessageByIDContext(ctx context.Context, id, source string, u map[string]slack.Attachment, o ...slack.MsgOption) (string, string, string, error) {
	a, b, d, err := c.next.UnfurlMessageByIDContext(ctx, id, source, u, o...)
	c.count(len(u), err)
	return a, b, d, err
}

// countedAuthorizer counts every recorded decision: Record is the one place
// every attempted change passes, allowed or denied.
type countedAuthorizer struct {
	*authz.Authorizer
	m *instruments
}

func (c countedAuthorizer) Record(ctx context.Context, s authz.Subject, a authz.Action, r authz.Resource, d authz.Decision, f authz.Facts, outcome, detail string) error {
	decision := "deny"
	if d.Allow {
		decision = "allow"
	}
	c.m.actions.With(string(a), decision).Inc()
	return c.Authorizer.Record(ctx, s, a, r, d, f, outcome, detail)
}

// healthy is /healthz: the socket is up and the store takes writes.
func healthy(connected func() bool, writable func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if !connected() {
			return errors.New("not connected to Slack")
		}
		if err := writable(ctx); err != nil {
			return errors.New("store is not writable")
		}
		return nil
	}
}
