package slackfake

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

func TestSocketMode_HelloDeliverAndAck(t *testing.T) {
	s := newFake(t, 0)
	c := startClient(t, s)
	ctx := testCtx(t, 10*time.Second)

	if err := s.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	hello := c.next(t, socketmode.EventTypeHello)
	if hello.Request.NumConnections != 1 || hello.Request.ConnectionInfo.AppID != AppID ||
		hello.Request.DebugInfo.Host != "fake" || hello.Request.DebugInfo.ApproximateConnectionTime != 3600 {
		t.Errorf("hello = %+v", *hello.Request)
	}

	urls := []string{"https://acme.sentry.io/issues/4321/?project=2&referrer=slack"}
	id, env := LinkSharedEnvelope(LinkShared{Channel: "C0BACKEND", MessageTS: "1732810000.123456", URLs: urls, IsBotUserMember: true})
	if err := s.Send(ctx, env); err != nil {
		t.Fatal(err)
	}
	evt := c.next(t, socketmode.EventTypeEventsAPI)
	if evt.Request.EnvelopeID != id {
		t.Errorf("envelope id = %q, want %q", evt.Request.EnvelopeID, id)
	}
	api, ok := evt.Data.(slackevents.EventsAPIEvent)
	if !ok {
		t.Fatalf("data is %T", evt.Data)
	}
	ls, ok := api.InnerEvent.Data.(*slackevents.LinkSharedEvent)
	if !ok {
		t.Fatalf("inner event is %T", api.InnerEvent.Data)
	}
	if ls.Channel != "C0BACKEND" || ls.MessageTimeStamp != "1732810000.123456" || len(ls.Links) != 1 || ls.Links[0].URL != urls[0] || ls.Links[0].Domain != "acme.sentry.io" {
		t.Errorf("link_shared = %+v", ls)
	}
	if err := c.smc.Ack(*evt.Request); err != nil {
		t.Fatal(err)
	}
	ack, err := s.WaitAck(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if ack.EnvelopeID != id || ack.Payload != nil || ack.At.IsZero() {
		t.Errorf("ack = %+v", ack)
	}

	// A slash command goes through slack-go's decoder (is_enterprise_install
	// is a string in Slack's payload) and its ack carries a response payload.
	hook := s.ResponseURL("commands")
	id, env = SlashCommandEnvelope(SlashCommand{UserID: "U0ALICE", Text: "help", ResponseURL: hook})
	if err := s.Send(ctx, env); err != nil {
		t.Fatal(err)
	}
	evt = c.next(t, socketmode.EventTypeSlashCommand)
	cmd, ok := evt.Data.(slack.SlashCommand)
	if !ok || cmd.Command != "/sentry" || cmd.Text != "help" || cmd.ResponseURL != hook || cmd.UserName != "alice" {
		t.Fatalf("slash command = %#v", evt.Data)
	}
	if err := c.smc.Ack(*evt.Request, map[string]string{"text": "Commands: …"}); err != nil {
		t.Fatal(err)
	}
	ack, err = s.WaitAck(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var payload struct{ Text string }
	if err := json.Unmarshal(ack.Payload, &payload); err != nil || payload.Text != "Commands: …" {
		t.Errorf("ack payload = %s (%v)", ack.Payload, err)
	}
	if got := len(s.Acks()); got != 2 {
		t.Errorf("Acks() has %d, want 2", got)
	}
	if pe := s.ProtocolErrors(); len(pe) != 0 {
		t.Errorf("protocol errors: %q", pe)
	}
}

func TestSocketMode_InteractiveReachesClient(t *testing.T) {
	s := newFake(t, 0)
	c := startClient(t, s)
	ctx := testCtx(t, 10*time.Second)

	_, env := BlockActionsEnvelope(BlockAction{
		UserID: "U0BOB", InUnfurl: true, UnfurlURL: "https://acme.sentry.io/issues/4321/",
		ActionID: "resolve", BlockID: "issue:4321", Value: "4321", Text: "Resolve",
	})
	if err := s.Send(ctx, env); err != nil {
		t.Fatal(err)
	}
	evt := c.next(t, socketmode.EventTypeInteractive)
	cb, ok := evt.Data.(slack.InteractionCallback)
	if !ok {
		t.Fatalf("data is %T", evt.Data)
	}
	if cb.Type != slack.InteractionTypeBlockActions || cb.Container.Type != "message_attachment" || !cb.Container.IsAppUnfurl ||
		len(cb.ActionCallback.BlockActions) != 1 || cb.ActionCallback.BlockActions[0].ActionID != "resolve" ||
		cb.ActionCallback.BlockActions[0].Value != "4321" || cb.User.ID != "U0BOB" {
		t.Errorf("callback = %+v", cb)
	}

	_, env = BlockSuggestionEnvelope(BlockSuggestion{InUnfurl: true, ActionID: "assign", BlockID: "b", Value: "bo"})
	if err := s.Send(ctx, env); err != nil {
		t.Fatal(err)
	}
	evt = c.next(t, socketmode.EventTypeInteractive)
	cb = evt.Data.(slack.InteractionCallback)
	if cb.Type != slack.InteractionTypeBlockSuggestion || cb.ActionID != "assign" || cb.Value != "bo" || !evt.Request.AcceptsResponsePayload {
		t.Errorf("suggestion = %+v", cb)
	}
}

func TestSocketMode_ReconnectAfterDropAndDisconnect(t *testing.T) {
	s := newFake(t, 0)
	c := startClient(t, s)
	ctx := testCtx(t, 20*time.Second)
	if err := s.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}

	s.DropConnection()
	if err := s.WaitConnected(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if n := s.ConnectionsOpened(); n != 2 {
		t.Errorf("after drop: ConnectionsOpened = %d, want 2", n)
	}

	s.Disconnect("refresh_requested")
	if err := s.WaitConnected(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if n := s.ConnectionsOpened(); n != 3 {
		t.Errorf("after disconnect: ConnectionsOpened = %d, want 3", n)
	}

	// The newest socket takes envelopes.
	id, env := LinkSharedEnvelope(LinkShared{URLs: []string{"https://acme.sentry.io/issues/1/"}})
	if err := s.Send(ctx, env); err != nil {
		t.Fatal(err)
	}
	evt := c.next(t, socketmode.EventTypeEventsAPI)
	if evt.Request.EnvelopeID != id {
		t.Errorf("got envelope %q, want %q", evt.Request.EnvelopeID, id)
	}
}

func TestSocketMode_PingsKeepClientAlive(t *testing.T) {
	s := newFake(t, 50*time.Millisecond)
	startClient(t, s, socketmode.OptionPingInterval(time.Second))
	ctx := testCtx(t, 10*time.Second)
	if err := s.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if n := s.ConnectionsOpened(); n != 1 {
		t.Fatalf("with pings the client reconnected: ConnectionsOpened = %d", n)
	}

	// Without pings the client gives the socket up and opens a new one.
	s.PausePings(true)
	if err := s.WaitConnected(ctx, 2); err != nil {
		t.Fatal(err)
	}
	s.PausePings(false)
}

func TestSocketMode_LinkDisabledTightLoop(t *testing.T) {
	s := newFake(t, 0)
	s.SetLinkDisabled(true)
	startClient(t, s)

	time.Sleep(time.Second)
	n := s.ConnectionsOpened()
	t.Logf("plain socketmode.RunContext made %d apps.connections.open calls in 1s while the link was disabled", n)
	if n <= 5 {
		t.Errorf("ConnectionsOpened = %d, want > 5 (slack-go reconnects on disconnect without backoff)", n)
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.WaitConnected(done, 1); err == nil {
		t.Error("a socket got hello while the link was disabled")
	}

	s.SetLinkDisabled(false)
	if err := s.WaitConnected(testCtx(t, 10*time.Second), 1); err != nil {
		t.Fatal(err)
	}
}

func TestSocketMode_RawProtocol(t *testing.T) {
	s := newFake(t, 50*time.Millisecond)
	conn, wsURL, first := dialRaw(t, s)

	var hello map[string]any
	if err := json.Unmarshal(first, &hello); err != nil {
		t.Fatal(err)
	}
	want := `{"connection_info":{"app_id":"A0SENTRY"},"debug_info":{"approximate_connection_time":3600,"build_number":1,"host":"fake"},"num_connections":1,"type":"hello"}`
	if got, _ := json.Marshal(hello); string(got) != want {
		t.Errorf("hello = %s\nwant    %s", got, want)
	}

	// Tickets are single-use.
	_, resp, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err == nil {
		t.Fatal("second dial with the same ticket succeeded")
	}
	if resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("second dial: %v, response %v", err, resp)
	}
	if resp != nil {
		_ = resp.Body.Close()
	}

	ctx := testCtx(t, 10*time.Second)
	id, env := SlashCommandEnvelope(SlashCommand{Text: "help"})
	if err := s.Send(ctx, env); err != nil {
		t.Fatal(err)
	}
	var pings atomic.Int32
	conn.SetPingHandler(func(data string) error {
		pings.Add(1)
		return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	_, got, err := conn.ReadMessage()
	if err != nil || string(got) != string(env) {
		t.Fatalf("read %s, %v; want the envelope", got, err)
	}

	big := `{"envelope_id":"` + id + `","payload":{"text":"` + strings.Repeat("x", 21*1024) + `"}}`
	for _, m := range []string{`not json`, `{"payload":{}}`, big, `{"envelope_id":"never-sent"}`, `{"envelope_id":"` + id + `"}`} {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.WaitAck(ctx, id); err != nil {
		t.Fatal(err)
	}
	pe := s.ProtocolErrors()
	wantErrs := []string{"not a JSON object", "without envelope_id", "Slack drops", "never sent"}
	if len(pe) != len(wantErrs) {
		t.Fatalf("protocol errors = %q", pe)
	}
	for i, w := range wantErrs {
		if !strings.Contains(pe[i], w) {
			t.Errorf("protocol error %d = %q, want it to mention %q", i, pe[i], w)
		}
	}
	if acks := s.Acks(); len(acks) != 1 {
		t.Errorf("acks = %+v; the oversized one must not count", acks)
	}

	// Read until the server's Disconnect arrives; pings are answered meanwhile.
	time.Sleep(200 * time.Millisecond)
	s.Disconnect("warning")
	_, got, err = conn.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"type":"disconnect","reason":"warning","debug_info":{"host":"fake"}}` {
		t.Errorf("disconnect message = %s", got)
	}
	if pings.Load() == 0 {
		t.Error("no WebSocket PING reached the client")
	}
	// A client that ignores the disconnect is cut off after the grace period.
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := conn.ReadMessage(); err == nil {
		t.Fatal("socket still open after disconnect grace")
	} else if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
		t.Fatal("server did not close the socket after the disconnect grace")
	}
}

func TestSocketMode_LinkDisabledRaw(t *testing.T) {
	s := newFake(t, 0)
	s.SetLinkDisabled(true)
	conn, _, first := dialRaw(t, s)
	if string(first) != `{"type":"disconnect","reason":"link_disabled","debug_info":{"host":"fake"}}` {
		t.Errorf("first message = %s", first)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := conn.ReadMessage(); err == nil {
		t.Error("socket stayed open after link_disabled")
	}
}

func TestSend_WaitsForSocket(t *testing.T) {
	s := newFake(t, 0)
	_, env := LinkSharedEnvelope(LinkShared{URLs: []string{"https://acme.sentry.io/issues/1/"}})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Send(ctx, env); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send without a socket = %v, want deadline exceeded", err)
	}

	// A Send that is waiting picks up the socket once it connects.
	errc := make(chan error, 1)
	go func() { errc <- s.Send(testCtx(t, 10*time.Second), env) }()
	conn, _, _ := dialRaw(t, s)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	_, got, err := conn.ReadMessage()
	if err != nil || string(got) != string(env) {
		t.Errorf("read %s, %v", got, err)
	}

	s.Close()
	if err := s.Send(context.Background(), env); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
}
