package main

import (
	"encoding/json"
	"sync"
	"time"

	"sentrybot/internal/slackfake"
)

// rec is one envelope the driver sent and what became of it.
type rec struct {
	kind  kind
	step  int       // index of the rate step; -1 during setup
	due   time.Time // when the schedule said to send it
	sent  time.Time // when the driver handed the envelope to the fake
	ackAt time.Time
	// ackLatency is measured by the fake: from the start of the envelope's
	// write to the socket to the ack read back.
	ackLatency time.Duration
	doneAt     time.Time // when its visible result reached the fake; zero until then
	doneAtAck  bool      // the target shows nothing beyond the ack (baseline clicks and commands)
	reply      json.RawMessage
	private    bool // a click answered on its response_url rather than by the card
}

func (r *rec) acked() bool { return !r.ackAt.IsZero() }
func (r *rec) done() bool  { return !r.doneAt.IsZero() }

// tracker matches what the fake Slack sees (acks, chat.unfurl calls,
// response_url posts) to the envelopes that caused them. The fake calls it
// from its own goroutines.
type tracker struct {
	mu         sync.Mutex
	byEnvelope map[string]*rec
	byLink     map[string]*rec   // channel+ts of a pasted link's message
	byHook     map[string]*rec   // response_url of a command or click
	byCard     map[string][]*rec // channel+ts of a card: its clicks not yet redrawn, oldest first
	slackErrs  int               // calls the fake answered with an error
	extraCards int               // card redraws no click was waiting for
}

func newTracker() *tracker {
	return &tracker{
		byEnvelope: map[string]*rec{},
		byLink:     map[string]*rec{},
		byHook:     map[string]*rec{},
		byCard:     map[string][]*rec{},
	}
}

func msgKey(channel, ts string) string { return channel + "\x00" + ts }

// expect registers an envelope before it is sent: its id, and where its
// result will show (a link message, a card, a response_url; "" for none).
func (t *tracker) expect(envelopeID string, r *rec, link, card, hook string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byEnvelope[envelopeID] = r
	if link != "" {
		t.byLink[link] = r
	}
	if card != "" {
		t.byCard[card] = append(t.byCard[card], r)
	}
	if hook != "" {
		t.byHook[hook] = r
	}
}

// onAck is slackfake's OnAck.
func (t *tracker) onAck(a slackfake.Ack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.byEnvelope[a.EnvelopeID]
	if r == nil || r.acked() {
		return
	}
	delete(t.byEnvelope, a.EnvelopeID)
	r.ackAt = a.At
	r.ackLatency = a.At.Sub(a.Sent)
	if r.doneAtAck && !r.done() {
		r.doneAt = a.At
	}
}

// onCall is slackfake's OnCall.
func (t *tracker) onCall(c slackfake.Call) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.Error != "" {
		t.slackErrs++
		return
	}
	switch c.Method {
	case "chat.unfurl":
		key := msgKey(c.Form.Get("channel"), c.Form.Get("ts"))
		if r := t.byLink[key]; r != nil {
			delete(t.byLink, key)
			t.finish(r, c.At)
			return
		}
		q := t.byCard[key]
		// Clicks already answered privately are skipped.
		for len(q) > 0 && q[0].done() {
			q = q[1:]
		}
		if len(q) == 0 {
			t.extraCards++
			t.byCard[key] = q
			return
		}
		t.finish(q[0], c.At)
		t.byCard[key] = q[1:]
	case "response_url":
		r := t.byHook[c.Hook]
		if r == nil {
			return
		}
		delete(t.byHook, c.Hook)
		if r.step < 0 {
			r.reply = append(json.RawMessage(nil), c.JSON...)
		}
		if r.kind == kindClick {
			r.private = true
		}
		t.finish(r, c.At)
	}
}

func (t *tracker) finish(r *rec, at time.Time) {
	if !r.done() {
		r.doneAt = at
	}
}

// state reports how many of recs are acked and done.
func (t *tracker) state(recs []*rec) (acked, done int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range recs {
		if r.acked() {
			acked++
		}
		if r.done() {
			done++
		}
	}
	return acked, done
}

// counters returns the error and stray-redraw counts and resets them.
func (t *tracker) counters() (slackErrs, extraCards int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	slackErrs, extraCards = t.slackErrs, t.extraCards
	t.slackErrs, t.extraCards = 0, 0
	return slackErrs, extraCards
}

// snapshot copies recs under the lock, for computing a step's figures.
func (t *tracker) snapshot(recs []*rec) []rec {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]rec, len(recs))
	for i, r := range recs {
		out[i] = *r
	}
	return out
}
