// Package slackfake is an in-process stand-in for Slack: the Web API methods
// sentrybot calls, response_url endpoints, and a real Socket Mode websocket.
// It listens on 127.0.0.1 only and is used by end-to-end tests and by the
// offline demo, so it must not depend on package testing.
//
// It answers the way Slack does where that matters to a client: HTTP 200 with
// {"ok":false,"error":...} for API errors, Retry-After on 429, single-use
// Socket Mode tickets, server-sent WebSocket pings, a hello on every new
// socket, and disconnect messages. It records what the client sent so tests
// can assert on it.
package slackfake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
)

// Identifiers of the simulated workspace. They match the shared fixtures.
const (
	TeamID     = "T0001"
	TeamDomain = "acme"
	AppID      = "A0SENTRY"
	BotUserID  = "U0BOT"
	BotID      = "B0SENTRY"
)

// ErrClosed is returned by waits and sends once the server is closed.
var ErrClosed = errors.New("slackfake: server closed")

// Options configures a Server.
type Options struct {
	AppToken     string        // bearer accepted by apps.connections.open (xapp-...)
	BotToken     string        // bearer accepted by every other method (xoxb-...)
	PingInterval time.Duration // how often each socket gets a WebSocket PING; default 10s
	// WriteTimeout bounds one write to a socket (an envelope, a ping); a
	// write that times out breaks the socket. Default 5s. Load drivers that
	// push a client harder than it reads raise it, so that Send waits.
	WriteTimeout time.Duration
	Logger       zerolog.Logger

	// OnAck, when set, is called with every valid ack as it is read, on the
	// socket's read goroutine and without the fake's lock held; it should be
	// quick. Load drivers use it instead of polling WaitAck.
	OnAck func(Ack)
	// OnCall, when set, is called with every call the fake answers (Web API
	// and response_url), before the answer is written and without the fake's
	// lock held; it should be quick.
	OnCall func(Call)
	// DiscardRecords keeps no history of calls and acks, so memory stays flat
	// over a long run: Calls, Acks and MethodsCalled then report nothing and
	// WaitCalls and WaitAck wait in vain. OnCall and OnAck still see
	// everything.
	DiscardRecords bool
}

// Call is one request the fake received on the Web API or a response_url.
type Call struct {
	Method string          // API method ("chat.unfurl") or "response_url"
	Form   url.Values      // form and query arguments, without the token
	JSON   json.RawMessage // the body when it was sent as JSON
	Token  string          // which token authenticated it: "bot", "app", or "" (never the secret)
	Hook   string          // for response_url calls: the URL that was posted to
	Status int             // HTTP status the fake answered
	Error  string          // Slack error code answered with ok:false, "" on success
	At     time.Time
}

// Arg returns a request argument whether it came as a form field or as a
// top-level JSON string field.
func (c Call) Arg(name string) string {
	if v := c.Form.Get(name); v != "" {
		return v
	}
	if len(c.JSON) == 0 {
		return ""
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(c.JSON, &m) != nil {
		return ""
	}
	raw, ok := m[name]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// Unfurls decodes the unfurls argument of a chat.unfurl call.
func (c Call) Unfurls() (map[string]slack.Attachment, error) {
	raw := c.Arg("unfurls")
	if raw == "" {
		return nil, errors.New("call has no unfurls argument")
	}
	var m map[string]slack.Attachment
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, fmt.Errorf("decoding unfurls: %w", err)
	}
	return m, nil
}

// Blocks decodes the blocks a call carried: the blocks form argument of chat
// methods, or the blocks field of a JSON body such as a response_url post.
func (c Call) Blocks() (slack.Blocks, error) {
	raw := c.Arg("blocks")
	if raw == "" {
		return slack.Blocks{}, errors.New("call has no blocks")
	}
	var b slack.Blocks
	if err := json.Unmarshal([]byte(raw), &b); err != nil {
		return slack.Blocks{}, fmt.Errorf("decoding blocks: %w", err)
	}
	return b, nil
}

// Ack is one acknowledgement a client sent over Socket Mode.
type Ack struct {
	EnvelopeID string
	Payload    json.RawMessage // nil when the ack carried no payload
	At         time.Time       // when the fake read the ack
	// Sent is when Send began writing the acknowledged envelope to the
	// socket, so At.Sub(Sent) is the ack latency the client showed. Zero if
	// the envelope was noted but its write never began.
	Sent time.Time
}

// Server is the fake. Create it with New and stop it with Close.
type Server struct {
	opts    Options
	log     zerolog.Logger
	ln      net.Listener
	httpSrv *http.Server
	base    string // http://127.0.0.1:PORT
	wg      sync.WaitGroup

	mu           sync.Mutex
	changed      chan struct{} // closed and replaced whenever recorded state changes
	closed       bool
	tickets      map[string]bool
	opened       int // successful apps.connections.open calls
	hellos       int // sockets that received hello
	sockets      map[*socket]struct{}
	live         []*socket // sockets that got hello, oldest first
	linkDisabled bool
	pingsPaused  bool
	sent         map[string]time.Time // envelope ids given to Send, and when their write began
	acks         []Ack
	protoErrs    []string
	calls        []Call
	users        map[string]slack.User
	failures     map[string]*failure
	hooks        map[string]bool // response_url paths handed out
	links        map[string][]string
	messages     map[string]bool // channel/ts of messages the bot posted
	tsSeq        int64
	tsBase       int64
}

type failure struct {
	status     int
	retryAfter time.Duration
	left       int // <0: forever
}

// New starts a fake listening on 127.0.0.1 on a free port. It panics if no
// loopback port can be bound, which only happens on a broken host.
func New(opts Options) *Server {
	if opts.PingInterval <= 0 {
		opts.PingInterval = 10 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = defaultWriteTimeout
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("slackfake: listening on loopback: %v", err))
	}
	s := &Server{
		opts:     opts,
		log:      opts.Logger,
		ln:       ln,
		base:     "http://" + ln.Addr().String(),
		changed:  make(chan struct{}),
		tickets:  map[string]bool{},
		sockets:  map[*socket]struct{}{},
		sent:     map[string]time.Time{},
		users:    map[string]slack.User{},
		failures: map[string]*failure{},
		hooks:    map[string]bool{},
		links:    map[string][]string{},
		messages: map[string]bool{},
		tsBase:   time.Now().Unix(),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.handleAPI)
	mux.HandleFunc("/link/", s.handleLink)
	mux.HandleFunc("/hooks/", s.handleHook)
	s.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error().Err(err).Msg("slackfake: serving")
		}
	}()
	return s
}

// APIURL is the Web API base for slack.OptionAPIURL.
func (s *Server) APIURL() string { return s.base + "/api/" }

// Close stops the listener, drops every socket and waits for the fake's
// goroutines. Pending waits return ErrClosed. Close is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	socks := make([]*socket, 0, len(s.sockets))
	for c := range s.sockets {
		socks = append(socks, c)
	}
	s.notifyLocked()
	s.mu.Unlock()

	_ = s.httpSrv.Close()
	for _, c := range socks {
		c.close()
	}
	s.wg.Wait()
}

// AddUser makes u known to users.info.
func (s *Server) AddUser(u slack.User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
}

// Calls returns the recorded calls of method ("" for all), oldest first.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.callsLocked(method)
}

func (s *Server) callsLocked(method string) []Call {
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// MethodsCalled lists the distinct methods called so far ("response_url"
// included), in the order of their first call.
func (s *Server) MethodsCalled() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	seen := map[string]bool{}
	for _, c := range s.calls {
		if !seen[c.Method] {
			seen[c.Method] = true
			out = append(out, c.Method)
		}
	}
	return out
}

// WaitCalls waits until at least n calls of method were recorded and returns
// all of them.
func (s *Server) WaitCalls(ctx context.Context, method string, n int) ([]Call, error) {
	var out []Call
	err := s.waitFor(ctx, func() bool {
		out = s.callsLocked(method)
		return len(out) >= n
	})
	if err != nil {
		return out, fmt.Errorf("waiting for %d %s calls (have %d): %w", n, method, len(out), err)
	}
	return out, nil
}

// FailMethod makes the next n calls of method (an API method name or
// "response_url") answer HTTP status instead of being served. For 429 the
// answer carries Retry-After in whole seconds, as Slack's does; other statuses
// carry it only when retryAfter > 0. n < 0 fails forever; n == 0 clears.
func (s *Server) FailMethod(method string, status int, retryAfter time.Duration, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n == 0 {
		delete(s.failures, method)
		return
	}
	s.failures[method] = &failure{status: status, retryAfter: retryAfter, left: n}
}

func (s *Server) takeFailure(method string) (failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.failures[method]
	if !ok {
		return failure{}, false
	}
	out := *f
	if f.left > 0 {
		f.left--
		if f.left == 0 {
			delete(s.failures, method)
		}
	}
	return out, true
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	if !s.opts.DiscardRecords {
		s.calls = append(s.calls, c)
	}
	s.notifyLocked()
	s.mu.Unlock()
	if s.opts.OnCall != nil {
		s.opts.OnCall(c)
	}
}

// notifyLocked wakes every waiter so it re-checks its condition.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitFor blocks until cond (called with s.mu held) is true, ctx ends, or the
// server closes.
func (s *Server) waitFor(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		if cond() {
			s.mu.Unlock()
			return nil
		}
		if s.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// nextTS returns a fresh, increasing message timestamp in Slack's
// "seconds.micros" form.
func (s *Server) nextTS() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tsSeq++
	return fmt.Sprintf("%d.%06d", s.tsBase+s.tsSeq/1_000_000, s.tsSeq%1_000_000)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newUUID returns a random version 4 UUID, the form Slack uses for envelope ids.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
