package slackfake

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	"go.uber.org/goleak"
)

const (
	appToken = "xapp-1-A0SENTRY-1-secretapp"
	botToken = "xoxb-1-secretbot"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newFake(t *testing.T, ping time.Duration) *Server {
	t.Helper()
	s := New(Options{AppToken: appToken, BotToken: botToken, PingInterval: ping})
	t.Cleanup(s.Close)
	return s
}

// testCtx is a context that ends with the test or after d.
func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func newAPI(s *Server, opts ...slack.Option) *slack.Client {
	base := []slack.Option{
		slack.OptionAPIURL(s.APIURL()),
		slack.OptionAppLevelToken(appToken),
		slack.OptionLog(log.New(io.Discard, "", 0)),
	}
	return slack.New(botToken, append(base, opts...)...)
}

// client is a real socketmode.Client running against the fake.
type client struct {
	api    *slack.Client
	smc    *socketmode.Client
	events chan socketmode.Event
}

// startClient runs socketmode.RunContext until the test ends. Its events are
// forwarded to c.events; when nobody reads them they are dropped so the
// client never blocks.
func startClient(t *testing.T, s *Server, opts ...socketmode.Option) *client {
	t.Helper()
	api := newAPI(s)
	opts = append([]socketmode.Option{socketmode.OptionLog(log.New(io.Discard, "", 0))}, opts...)
	c := &client{api: api, smc: socketmode.New(api, opts...), events: make(chan socketmode.Event, 256)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case e := <-c.smc.Events:
				select {
				case c.events <- e:
				default:
				}
			}
		}
	})
	done := make(chan error, 1)
	go func() { done <- c.smc.RunContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("socketmode client did not stop")
		}
		wg.Wait()
	})
	return c
}

// next returns the next event of type typ, skipping others.
func (c *client) next(t *testing.T, typ socketmode.EventType) socketmode.Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-c.events:
			if e.Type == typ {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event within 10s", typ)
		}
	}
}

// dialRaw opens a Socket Mode socket with a plain websocket client and reads
// its first message.
func dialRaw(t *testing.T, s *Server) (*websocket.Conn, string, []byte) {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	_, wsURL, err := newAPI(s).StartSocketModeContext(ctx)
	if err != nil {
		t.Fatalf("apps.connections.open: %v", err)
	}
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, wsURL, nil)
	if err != nil {
		t.Fatalf("dialing %s: %v", wsURL, err)
	}
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, first, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("reading first message: %v", err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	return conn, wsURL, first
}

// postForm calls a Web API method directly and decodes the answer.
func postForm(t *testing.T, s *Server, method, token string, form url.Values) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.APIURL()+method, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("calling %s: %v", method, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decoding %s answer: %v", method, err)
	}
	return out
}

func slackErr(err error) string {
	if e, ok := err.(slack.SlackErrorResponse); ok {
		return e.Err
	}
	if err == nil {
		return ""
	}
	return "non-slack error: " + err.Error()
}
