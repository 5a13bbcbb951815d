package slackfake

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// maxAckSize is Slack's limit for a Socket Mode response: at 20 KB or more
// Slack drops it silently (documented by slack-go's socketmode package).
const maxAckSize = 20 * 1024

// disconnectGrace is how long a socket told to disconnect stays open for the
// client to close it itself, as Slack keeps the old link up for a while.
const disconnectGrace = time.Second

// defaultWriteTimeout bounds one write to a socket unless
// Options.WriteTimeout says otherwise.
const defaultWriteTimeout = 5 * time.Second

type socket struct {
	ws      *websocket.Conn
	writeMu sync.Mutex // gorilla allows one concurrent writer of data frames
	done    chan struct{}
	once    sync.Once
	retired bool // guarded by Server.mu: no longer the target of Send
	n       int  // 1-based order of hello, for logs
	timeout time.Duration
}

func (c *socket) write(b []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// close drops the TCP connection without a close frame.
func (c *socket) close() {
	c.once.Do(func() {
		close(c.done)
		_ = c.ws.Close()
	})
}

// abort closes with an RST rather than a FIN, like a connection cut by the
// network or a load balancer.
func (c *socket) abort() {
	if tc, ok := c.ws.NetConn().(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.close()
}

// hello is the first message on every socket; the shape follows Slack's Socket
// Mode docs and slack-go's socketmode.Request.
type hello struct {
	Type           string         `json:"type"`
	NumConnections int            `json:"num_connections"`
	DebugInfo      helloDebugInfo `json:"debug_info"`
	ConnectionInfo connectionInfo `json:"connection_info"`
}

type helloDebugInfo struct {
	Host                      string `json:"host"`
	BuildNumber               int    `json:"build_number"`
	ApproximateConnectionTime int    `json:"approximate_connection_time"`
}

type connectionInfo struct {
	AppID string `json:"app_id"`
}

type disconnectMsg struct {
	Type      string              `json:"type"`
	Reason    string              `json:"reason"`
	DebugInfo disconnectDebugInfo `json:"debug_info"`
}

type disconnectDebugInfo struct {
	Host string `json:"host"`
}

func disconnectJSON(reason string) []byte {
	b, _ := json.Marshal(disconnectMsg{Type: "disconnect", Reason: reason, DebugInfo: disconnectDebugInfo{Host: "fake"}})
	return b
}

// handleLink is the websocket endpoint apps.connections.open points at.
func (s *Server) handleLink(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.mu.Lock()
	valid := ticket != "" && s.tickets[ticket]
	delete(s.tickets, ticket)
	closed := s.closed
	if valid && !closed {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if closed {
		http.Error(w, "closed", http.StatusServiceUnavailable)
		return
	}
	if !valid {
		s.log.Debug().Msg("slackfake: websocket dial with unknown or used ticket")
		http.Error(w, "invalid or used ticket", http.StatusUnauthorized)
		return
	}
	defer s.wg.Done()

	up := websocket.Upgrader{
		// slack-go sends Origin: https://api.slack.com, which is not this host.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		s.log.Debug().Err(err).Msg("slackfake: websocket upgrade failed")
		return
	}
	c := &socket{ws: ws, done: make(chan struct{}), timeout: s.opts.WriteTimeout}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.close()
		return
	}
	disabled := s.linkDisabled
	s.sockets[c] = struct{}{}
	s.mu.Unlock()
	defer s.forget(c)

	if disabled {
		// Slack answers a disabled Socket Mode link with a disconnect and no hello.
		_ = c.write(disconnectJSON("link_disabled"))
		c.close()
		return
	}

	b, _ := json.Marshal(hello{
		Type:           "hello",
		NumConnections: 1,
		DebugInfo:      helloDebugInfo{Host: "fake", BuildNumber: 1, ApproximateConnectionTime: 3600},
		ConnectionInfo: connectionInfo{AppID: AppID},
	})
	if err := c.write(b); err != nil {
		c.close()
		return
	}
	s.mu.Lock()
	s.hellos++
	c.n = s.hellos
	s.live = append(s.live, c)
	s.notifyLocked()
	s.wg.Add(1)
	s.mu.Unlock()
	s.log.Debug().Int("socket", c.n).Msg("slackfake: socket connected")

	go func() {
		defer s.wg.Done()
		s.ping(c)
	}()
	s.read(c)
	s.log.Debug().Int("socket", c.n).Msg("slackfake: socket closed")
}

// forget removes a finished socket from every list.
func (s *Server) forget(c *socket) {
	c.close()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sockets, c)
	for i, l := range s.live {
		if l == c {
			s.live = append(s.live[:i], s.live[i+1:]...)
			break
		}
	}
	s.notifyLocked()
}

func (s *Server) ping(c *socket) {
	t := time.NewTicker(s.opts.PingInterval)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		s.mu.Lock()
		paused := s.pingsPaused
		s.mu.Unlock()
		if paused {
			continue
		}
		// WriteControl may run concurrently with other writes.
		if err := c.ws.WriteControl(websocket.PingMessage, []byte(strconv.Itoa(n)), time.Now().Add(c.timeout)); err != nil {
			return
		}
	}
}

// read records what the client sends until the socket ends. Reading also
// processes the client's pongs and close frames.
func (s *Server) read(c *socket) {
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		s.handleClientMessage(typ, data)
	}
}

func (s *Server) handleClientMessage(typ int, data []byte) {
	var problem string
	var ack Ack
	switch {
	case typ != websocket.TextMessage:
		problem = fmt.Sprintf("binary frame of %d bytes; Socket Mode responses are JSON text", len(data))
	case len(data) >= maxAckSize:
		problem = fmt.Sprintf("response of %d bytes; Slack drops Socket Mode responses of %d bytes or more", len(data), maxAckSize)
	default:
		var msg struct {
			EnvelopeID *string          `json:"envelope_id"`
			Payload    *json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(data, &msg); err != nil {
			problem = fmt.Sprintf("response is not a JSON object: %v: %.200s", err, data)
			break
		}
		if msg.EnvelopeID == nil || *msg.EnvelopeID == "" {
			problem = fmt.Sprintf("response without envelope_id: %.200s", data)
			break
		}
		ack = Ack{EnvelopeID: *msg.EnvelopeID, At: time.Now()}
		if msg.Payload != nil && string(*msg.Payload) != "null" {
			ack.Payload = append(json.RawMessage(nil), *msg.Payload...)
		}
	}

	s.mu.Lock()
	if problem == "" {
		sent, ok := s.sent[ack.EnvelopeID]
		if !ok {
			problem = fmt.Sprintf("ack for envelope_id %q that was never sent", ack.EnvelopeID)
		}
		ack.Sent = sent
	}
	if problem != "" {
		s.protoErrs = append(s.protoErrs, problem)
		s.log.Warn().Str("problem", problem).Msg("slackfake: socket mode protocol error")
	} else if !s.opts.DiscardRecords {
		s.acks = append(s.acks, ack)
	}
	s.notifyLocked()
	s.mu.Unlock()
	if problem == "" && s.opts.OnAck != nil {
		s.opts.OnAck(ack)
	}
}

// currentLocked returns the newest socket that still takes envelopes.
func (s *Server) currentLocked() *socket {
	for i := len(s.live) - 1; i >= 0; i-- {
		if !s.live[i].retired {
			return s.live[i]
		}
	}
	return nil
}

// Send delivers a raw envelope to the newest connected socket, waiting until
// ctx ends for one to exist. Envelopes that parse as JSON are remembered: their
// envelope_id becomes ackable, and a link_shared event's links become
// unfurlable with chat.unfurl. The moment the write begins is what Ack.Sent
// reports for the envelope (the latest write, if it is sent again).
func (s *Server) Send(ctx context.Context, envelope []byte) error {
	id := s.noteEnvelope(envelope)
	var c *socket
	if err := s.waitFor(ctx, func() bool {
		c = s.currentLocked()
		if c != nil && id != "" {
			s.sent[id] = time.Now()
		}
		return c != nil
	}); err != nil {
		return fmt.Errorf("waiting for a socket to send to: %w", err)
	}
	if err := c.write(envelope); err != nil {
		return fmt.Errorf("writing envelope to socket %d: %w", c.n, err)
	}
	return nil
}

// noteEnvelope remembers what a client may answer to and returns the
// envelope id, "" when the envelope does not parse.
func (s *Server) noteEnvelope(envelope []byte) string {
	var env struct {
		EnvelopeID string `json:"envelope_id"`
		Type       string `json:"type"`
		Payload    struct {
			Event struct {
				Type      string `json:"type"`
				Channel   string `json:"channel"`
				MessageTS string `json:"message_ts"`
				UnfurlID  string `json:"unfurl_id"`
				Source    string `json:"source"`
				Links     []struct {
					URL string `json:"url"`
				} `json:"links"`
			} `json:"event"`
		} `json:"payload"`
	}
	if json.Unmarshal(envelope, &env) != nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if env.EnvelopeID != "" {
		if _, ok := s.sent[env.EnvelopeID]; !ok {
			s.sent[env.EnvelopeID] = time.Time{}
		}
	}
	ev := env.Payload.Event
	if env.Type != "events_api" || ev.Type != "link_shared" {
		return env.EnvelopeID
	}
	var urls []string
	for _, l := range ev.Links {
		urls = append(urls, l.URL)
	}
	if ev.Channel != "" && ev.MessageTS != "" {
		k := msgKey(ev.Channel, ev.MessageTS)
		s.links[k] = append(s.links[k], urls...)
	}
	if ev.UnfurlID != "" && ev.Source != "" {
		k := unfurlKey(ev.UnfurlID, ev.Source)
		s.links[k] = append(s.links[k], urls...)
	}
	return env.EnvelopeID
}

func msgKey(channel, ts string) string   { return "msg\x00" + channel + "\x00" + ts }
func unfurlKey(id, source string) string { return "id\x00" + id + "\x00" + source }

// WaitAck waits for the client to acknowledge envelopeID.
func (s *Server) WaitAck(ctx context.Context, envelopeID string) (Ack, error) {
	var got Ack
	err := s.waitFor(ctx, func() bool {
		for _, a := range s.acks {
			if a.EnvelopeID == envelopeID {
				got = a
				return true
			}
		}
		return false
	})
	if err != nil {
		return Ack{}, fmt.Errorf("waiting for ack of %s: %w", envelopeID, err)
	}
	return got, nil
}

// Acks returns every recorded ack, oldest first.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ack(nil), s.acks...)
}

// ProtocolErrors returns what the client sent over Socket Mode that Slack
// would reject or drop: non-JSON text, responses without envelope_id, acks
// for envelopes never sent, responses of 20 KB or more.
func (s *Server) ProtocolErrors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.protoErrs...)
}

// DropConnection cuts the current socket abruptly: no close frame, a TCP
// reset. Nothing happens when no socket is connected.
func (s *Server) DropConnection() {
	s.mu.Lock()
	c := s.currentLocked()
	if c != nil {
		c.retired = true
	}
	s.mu.Unlock()
	if c != nil {
		s.log.Debug().Int("socket", c.n).Msg("slackfake: dropping socket")
		c.abort()
	}
}

// Disconnect tells the current socket to go away, as Slack does before
// maintenance ("warning"), on rotation ("refresh_requested") or when Socket
// Mode is turned off ("link_disabled"). Send stops using the socket at once;
// the socket is closed when the client closes it or after a short grace.
func (s *Server) Disconnect(reason string) {
	s.mu.Lock()
	c := s.currentLocked()
	if c == nil || s.closed {
		s.mu.Unlock()
		return
	}
	c.retired = true
	s.wg.Add(1)
	s.mu.Unlock()

	go func() {
		defer s.wg.Done()
		if err := c.write(disconnectJSON(reason)); err != nil {
			c.close()
			return
		}
		t := time.NewTimer(disconnectGrace)
		defer t.Stop()
		select {
		case <-c.done:
		case <-t.C:
			c.close()
		}
	}()
}

// SetLinkDisabled makes every new socket, while on, receive a disconnect
// with reason "link_disabled" instead of hello and be closed at once.
func (s *Server) SetLinkDisabled(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.linkDisabled = on
}

// PausePings stops (or resumes) WebSocket PINGs on every socket, to exercise
// a client's dead-connection detection.
func (s *Server) PausePings(paused bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pingsPaused = paused
}

// ConnectionsOpened counts successful apps.connections.open calls.
func (s *Server) ConnectionsOpened() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opened
}

// WaitConnected waits until n sockets in total have received hello.
func (s *Server) WaitConnected(ctx context.Context, n int) error {
	var have int
	if err := s.waitFor(ctx, func() bool {
		have = s.hellos
		return have >= n
	}); err != nil {
		return fmt.Errorf("waiting for socket %d (have %d): %w", n, have, err)
	}
	return nil
}
