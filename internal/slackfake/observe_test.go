package slackfake

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// observed collects what OnAck and OnCall were told.
type observed struct {
	mu    sync.Mutex
	acks  []Ack
	calls []Call
}

func (o *observed) ack(a Ack) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.acks = append(o.acks, a)
}

func (o *observed) call(c Call) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, c)
}

func (o *observed) snapshot() ([]Ack, []Call) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Ack(nil), o.acks...), append([]Call(nil), o.calls...)
}

// waitObserved polls until cond holds on what was observed.
func waitObserved(t *testing.T, o *observed, cond func([]Ack, []Call) bool) ([]Ack, []Call) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		acks, calls := o.snapshot()
		if cond(acks, calls) {
			return acks, calls
		}
		if time.Now().After(deadline) {
			t.Fatalf("observed %d acks and %d calls; condition not met within 10s", len(acks), len(calls))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// unfurlThroughClient pastes a link, acks it with a real socketmode client and
// unfurls it with chat.unfurl.
func unfurlThroughClient(t *testing.T, s *Server, c *client) string {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	if err := s.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	url := "https://acme.sentry.io/issues/4321/"
	id, env := LinkSharedEnvelope(LinkShared{Channel: "C0BACKEND", MessageTS: "1732810000.000777", URLs: []string{url}})
	if err := s.Send(ctx, env); err != nil {
		t.Fatal(err)
	}
	evt := c.next(t, socketmode.EventTypeEventsAPI)
	if err := c.smc.Ack(*evt.Request); err != nil {
		t.Fatal(err)
	}
	att := slack.Attachment{Blocks: slack.Blocks{BlockSet: []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "card", false, false), nil, nil),
	}}}
	if _, _, _, err := c.api.UnfurlMessageContext(ctx, "C0BACKEND", "1732810000.000777", map[string]slack.Attachment{url: att}); err != nil {
		t.Fatalf("chat.unfurl: %v", err)
	}
	return id
}

func TestObserversSeeAcksWithSendTimeAndCalls(t *testing.T) {
	o := &observed{}
	s := New(Options{AppToken: appToken, BotToken: botToken, OnAck: o.ack, OnCall: o.call})
	t.Cleanup(s.Close)
	c := startClient(t, s)
	before := time.Now()
	id := unfurlThroughClient(t, s, c)

	acks, calls := waitObserved(t, o, func(a []Ack, c []Call) bool {
		for _, x := range c {
			if x.Method == "chat.unfurl" {
				return len(a) == 1
			}
		}
		return false
	})
	a := acks[0]
	if a.EnvelopeID != id {
		t.Errorf("OnAck got envelope %q, want %q", a.EnvelopeID, id)
	}
	if a.Sent.Before(before) || a.At.Before(a.Sent) {
		t.Errorf("ack Sent %v At %v: want test start %v <= Sent <= At", a.Sent, a.At, before)
	}
	// The recorded history is kept as before and agrees with the observer.
	if got := s.Acks(); len(got) != 1 || !got[0].Sent.Equal(a.Sent) {
		t.Errorf("Acks() = %+v, want the one observed", got)
	}
	var unfurl *Call
	for i := range calls {
		if calls[i].Method == "chat.unfurl" {
			unfurl = &calls[i]
		}
	}
	if unfurl.Error != "" || unfurl.Form.Get("ts") != "1732810000.000777" || unfurl.Token != "bot" {
		t.Errorf("observed chat.unfurl error=%q ts=%q token=%q", unfurl.Error, unfurl.Form.Get("ts"), unfurl.Token)
	}
	if n := len(s.Calls("chat.unfurl")); n != 1 {
		t.Errorf("Calls(chat.unfurl) = %d, want 1", n)
	}
}

func TestDiscardRecordsKeepsNoHistory(t *testing.T) {
	o := &observed{}
	s := New(Options{AppToken: appToken, BotToken: botToken, OnAck: o.ack, OnCall: o.call, DiscardRecords: true})
	t.Cleanup(s.Close)
	c := startClient(t, s)
	unfurlThroughClient(t, s, c)

	waitObserved(t, o, func(a []Ack, c []Call) bool {
		for _, x := range c {
			if x.Method == "chat.unfurl" && x.Error == "" {
				return len(a) == 1
			}
		}
		return false
	})
	if n := len(s.Acks()); n != 0 {
		t.Errorf("Acks() kept %d acks", n)
	}
	if n := len(s.Calls("")); n != 0 {
		t.Errorf("Calls() kept %d calls", n)
	}
	if p := s.ProtocolErrors(); len(p) != 0 {
		t.Errorf("protocol errors %v", p)
	}
}

func TestAckOfUnsentEnvelopeIsNotObserved(t *testing.T) {
	o := &observed{}
	s := New(Options{AppToken: appToken, BotToken: botToken, OnAck: o.ack})
	t.Cleanup(s.Close)
	conn, _, _ := dialRaw(t, s)
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"envelope_id":"never-sent"}`)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(s.ProtocolErrors()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(s.ProtocolErrors()) != 1 {
		t.Fatalf("protocol errors %v, want the unknown envelope", s.ProtocolErrors())
	}
	if acks, _ := o.snapshot(); len(acks) != 0 {
		t.Errorf("OnAck was told of %d acks for an envelope never sent", len(acks))
	}
}

func TestWriteTimeoutBoundsABlockedSend(t *testing.T) {
	s := New(Options{AppToken: appToken, BotToken: botToken, WriteTimeout: 50 * time.Millisecond})
	t.Cleanup(s.Close)
	dialRaw(t, s) // a client that reads nothing after hello
	ctx := testCtx(t, 10*time.Second)
	big := make([]byte, 1<<20)
	var err error
	for i := 0; i < 256 && err == nil; i++ {
		err = s.Send(ctx, big)
	}
	if err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("Send to a socket nobody reads = %v, want a write timeout", err)
	}
}
