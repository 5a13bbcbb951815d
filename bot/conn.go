package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// The connection loop is ours rather than socketmode.Client.RunContext: in
// slack-go v0.35 RunContext never shows the reason of a `disconnect`, and when
// Slack answers every socket with link_disabled it reconnects at once, in a
// tight loop. Here every disconnect reason is seen, reconnects back off, and
// link_disabled stops the bot with a clear error. Wire types come from
// socketmode, the ticket from slack-go's apps.connections.open.

type dialer interface {
	DialContext(ctx context.Context, url string, h http.Header) (*websocket.Conn, *http.Response, error)
}

func newDialer() *websocket.Dialer {
	return &websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: 15 * time.Second,
	}
}

// maxMessage bounds one inbound Socket Mode message; block_actions payloads
// that carry a whole unfurl card stay well below it.
const maxMessage = 4 << 20

// maxAck is Slack's limit for a Socket Mode response: larger ones are dropped
// silently by Slack.
const maxAck = 20 * 1024

// fatalOpenErrors are apps.connections.open answers that retrying cannot fix.
var fatalOpenErrors = map[string]bool{
	"invalid_auth": true, "not_authed": true, "account_inactive": true,
	"token_revoked": true, "token_expired": true, "missing_scope": true,
	"not_allowed_token_type": true, "team_access_not_granted": true, "no_permission": true,
}

// sessionEnd says why one connection ended.
type sessionEnd struct {
	helloAt    time.Time     // zero if Slack never said hello
	reason     string        // disconnect reason Slack gave, if any
	retryAfter time.Duration // Slack asked us to wait (429)
	fatal      error         // stop reconnecting
	err        error         // what went wrong, for the log
}

func (b *Bot) connectLoop(ctx context.Context, p *pool) error {
	failures, linkDisabled := 0, 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		end := b.session(ctx, p)
		b.connected.Store(false)
		if end.fatal != nil {
			return end.fatal
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if end.reason == "link_disabled" {
			linkDisabled++
			if linkDisabled >= b.cfg.LinkDisabledMax {
				return ErrLinkDisabled
			}
		} else {
			linkDisabled = 0
		}

		healthy := !end.helloAt.IsZero() && time.Since(end.helloAt) >= b.cfg.HealthyAfter
		var wait time.Duration
		if healthy {
			failures = 0
		} else {
			wait = backoff(b.cfg.BackoffBase, b.cfg.BackoffMax, failures)
			failures++
		}
		wait = max(wait, end.retryAfter)
		ev := b.log.Warn()
		if end.reason == "refresh_requested" || end.reason == "warning" {
			ev = b.log.Info() // Slack rotates sockets routinely
		}
		ev.Err(end.err).Str("reason", end.reason).Dur("reconnect_in", wait).Msg("socket closed; reconnecting")
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// backoff is exponential with full jitter over the upper half, so a fleet
// that lost Slack at once does not come back at once.
func backoff(base, limit time.Duration, attempt int) time.Duration {
	d := base << min(attempt, 20)
	if d <= 0 || d > limit {
		d = limit
	}
	half := d / 2
	return half + rand.N(half+1)
}

// socket is one open websocket; acks may be written from several goroutines.
type socket struct {
	conn *websocket.Conn
	mu   sync.Mutex
}

func (s *socket) ack(envelopeID string, payload any) error {
	js, err := json.Marshal(socketmode.Response{EnvelopeID: envelopeID, Payload: payload})
	if err != nil {
		return fmt.Errorf("encoding ack: %w", err)
	}
	if len(js) >= maxAck {
		return fmt.Errorf("ack of %d bytes is over Slack's %d-byte limit", len(js), maxAck)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.conn.SetWriteDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return fmt.Errorf("writing ack: %w", err)
	}
	if err := s.conn.WriteMessage(websocket.TextMessage, js); err != nil {
		return fmt.Errorf("writing ack: %w", err)
	}
	return nil
}

// keptBuffer is the largest read buffer kept between messages; the rare
// bigger message leaves its buffer to the garbage collector.
const keptBuffer = 64 << 10

// readMessage reads the next data message into buf and returns its bytes,
// valid until the next call.
func readMessage(conn *websocket.Conn, buf *bytes.Buffer) ([]byte, error) {
	_, r, err := conn.NextReader()
	if err != nil {
		return nil, err
	}
	if buf.Cap() > keptBuffer {
		*buf = bytes.Buffer{}
	}
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (b *Bot) session(ctx context.Context, p *pool) sessionEnd {
	_, url, err := b.opener.StartSocketModeContext(ctx)
	if err != nil {
		end := sessionEnd{err: fmt.Errorf("apps.connections.open: %w", err)}
		var rl *slack.RateLimitedError
		var se slack.SlackErrorResponse
		switch {
		case errors.As(err, &rl):
			end.retryAfter = rl.RetryAfter
		case errors.As(err, &se) && fatalOpenErrors[se.Err]:
			end.fatal = &FatalAuthError{Code: se.Err}
		case fatalOpenErrors[err.Error()]:
			end.fatal = &FatalAuthError{Code: err.Error()}
		}
		return end
	}
	conn, resp, err := b.dialer.DialContext(ctx, url, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		// The URL carries a one-time ticket: it is not logged.
		return sessionEnd{err: fmt.Errorf("dialing the Socket Mode URL: %w", err)}
	}
	s := &socket{conn: conn}
	defer conn.Close()
	// A cancelled ctx closes the socket, which ends the blocking read below.
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, "shutting down"),
			time.Now().Add(time.Second))
		s.mu.Unlock()
		conn.Close()
	})
	defer stop()

	conn.SetReadLimit(maxMessage)
	extend := func() { _ = conn.SetReadDeadline(time.Now().Add(b.cfg.ReadTimeout)) }
	conn.SetPingHandler(func(data string) error {
		extend()
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
		if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
			return err
		}
		return nil
	})

	var end sessionEnd
	// Messages are read into one buffer, reused: nothing keeps a message
	// past its dispatch (the store copies what it records, and decoding
	// copies what it keeps).
	var buf bytes.Buffer
	for {
		extend()
		msg, err := readMessage(conn, &buf)
		if err != nil {
			end.err = err
			return end
		}
		arrived := time.Now()
		req, err := parseEnvelope(msg)
		if err != nil {
			b.log.Warn().Err(err).Int("bytes", len(msg)).Msg("undecodable Socket Mode message; ignored")
			continue
		}
		switch req.Type {
		case socketmode.RequestTypeHello:
			end.helloAt = time.Now()
			b.connected.Store(true)
			b.log.Info().Int("connections", req.NumConnections).Str("host", req.DebugInfo.Host).Msg("connected to Slack")
		case socketmode.RequestTypeDisconnect:
			end.reason = req.Reason
			end.err = errors.New("slack asked to disconnect: " + req.Reason)
			return end
		default:
			b.dispatch(ctx, s, p, &req, msg, arrived)
		}
	}
}
