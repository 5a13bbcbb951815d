package alerts

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"go.uber.org/goleak"

	"sentrybot/internal/slackfake"
	"sentrybot/internal/testkit"
	"sentrybot/sentry"
	"sentrybot/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const botToken = "xoxb-test"

// issueFetcher is an IssueFetcher of Fn fields.
type issueFetcher struct {
	IssueFn func(ctx context.Context, org, issueID string) (*sentry.Issue, error)
}

var _ IssueFetcher = (*issueFetcher)(nil)

func (f *issueFetcher) Issue(ctx context.Context, org, issueID string) (*sentry.Issue, error) {
	return f.IssueFn(ctx, org, issueID)
}

// slackFns is a Slack that calls PostFn when set and the real client
// otherwise.
type slackFns struct {
	Slack
	PostFn func(ctx context.Context, channelID string, options ...slack.MsgOption) (string, string, error)
}

var _ Slack = (*slackFns)(nil)

func (f *slackFns) PostMessageContext(ctx context.Context, channelID string, options ...slack.MsgOption) (string, string, error) {
	if f.PostFn != nil {
		return f.PostFn(ctx, channelID, options...)
	}
	return f.Slack.PostMessageContext(ctx, channelID, options...)
}

// harness is a store in a temporary directory, the fake Slack with a real
// client, and issues served from a map.
type harness struct {
	db     *store.DB
	fake   *slackfake.Server
	client *slack.Client
	api    Slack
	logs   *testkit.LogBuffer
	opts   Options

	mu       sync.Mutex
	issues   map[string]*sentry.Issue
	fetchErr map[string][]error // errors to answer, in turn, before the issue
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "sentrybot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fake := slackfake.New(slackfake.Options{BotToken: botToken, AppToken: "xapp-test"})
	t.Cleanup(fake.Close)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	client := slack.New(botToken, slack.OptionAPIURL(fake.APIURL()), slack.OptionHTTPClient(&http.Client{Transport: tr}))
	return &harness{
		db: db, fake: fake, client: client, api: client, logs: &testkit.LogBuffer{},
		opts: Options{
			Org:             "acme",
			DigestThreshold: 100,
			ChannelInterval: 10 * time.Millisecond,
			PollEvery:       20 * time.Millisecond,
			RetryBase:       20 * time.Millisecond,
			RetryMax:        200 * time.Millisecond,
		},
		issues:   map[string]*sentry.Issue{},
		fetchErr: map[string][]error{},
	}
}

func (h *harness) setIssue(is *sentry.Issue) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.issues[is.ID] = is
}

func (h *harness) fetcher() *issueFetcher {
	return &issueFetcher{IssueFn: func(ctx context.Context, org, id string) (*sentry.Issue, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if org != "acme" {
			return nil, &sentry.Error{Kind: sentry.KindNotFound, Op: "wrong org " + org}
		}
		if errs := h.fetchErr[id]; len(errs) > 0 {
			h.fetchErr[id] = errs[1:]
			return nil, errs[0]
		}
		is, ok := h.issues[id]
		if !ok {
			return nil, &sentry.Error{Kind: sentry.KindNotFound, StatusCode: 404, Op: "get issue"}
		}
		cp := *is
		return &cp, nil
	}}
}

// start runs a new Service on the harness until the returned stop is
// called or the test ends.
func (h *harness) start(t *testing.T) (*Service, func()) {
	t.Helper()
	svc := New(h.db, h.fetcher(), h.api, zerolog.New(h.logs), h.opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run returned %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return svc, stop
}

// service is a Service that is not running, for receiving before Run.
func (h *harness) service() *Service {
	return New(h.db, h.fetcher(), h.api, zerolog.New(h.logs), h.opts)
}

func testIssue(id string, mods ...func(*sentry.Issue)) *sentry.Issue {
	is := &sentry.Issue{
		ID: id, ShortID: "WEB-" + id, Title: "Error number " + id, Culprit: ptr("app/main.js"),
		Permalink: "https://acme.sentry.io/issues/" + id + "/", Level: "error",
		Status: sentry.StatusUnresolved, Substatus: ptr(sentry.SubstatusNew),
		Project: sentry.Project{ID: "1", Slug: "web", Name: "Web"}, Count: "3", UserCount: 1,
	}
	for _, m := range mods {
		m(is)
	}
	return is
}

func level(l string) func(*sentry.Issue) { return func(is *sentry.Issue) { is.Level = l } }

func substatus(s string) func(*sentry.Issue) { return func(is *sentry.Issue) { is.Substatus = ptr(s) } }

func status(st string, sub *string) func(*sentry.Issue) {
	return func(is *sentry.Issue) { is.Status, is.Substatus = st, sub }
}

// waitFor polls cond until it holds or 10 seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// posts returns the chat.postMessage calls Slack accepted.
func (h *harness) posts() []slackfake.Call {
	return okCalls(h.fake.Calls("chat.postMessage"))
}

func okCalls(calls []slackfake.Call) []slackfake.Call {
	var out []slackfake.Call
	for _, c := range calls {
		if c.Status == http.StatusOK && c.Error == "" {
			out = append(out, c)
		}
	}
	return out
}

func (h *harness) waitPosts(t *testing.T, n int) []slackfake.Call {
	t.Helper()
	var got []slackfake.Call
	waitFor(t, "chat.postMessage calls", func() bool {
		got = h.posts()
		return len(got) >= n
	})
	return got
}

// settle waits a little and checks nothing more was posted.
func (h *harness) settle(t *testing.T, want int) {
	t.Helper()
	time.Sleep(10 * h.opts.ChannelInterval)
	if got := h.posts(); len(got) != want {
		t.Fatalf("%d messages posted, want %d", len(got), want)
	}
}

func (h *harness) waitDepth(t *testing.T, svc *Service, want int) {
	t.Helper()
	waitFor(t, "queue depth", func() bool {
		d, err := svc.Depth(context.Background())
		return err == nil && d == want
	})
}

// attachments decodes the attachments a call carried.
func attachments(t *testing.T, c slackfake.Call) []slack.Attachment {
	t.Helper()
	var as []slack.Attachment
	if err := json.Unmarshal([]byte(c.Arg("attachments")), &as); err != nil {
		t.Fatalf("decoding attachments of %s: %v", c.Method, err)
	}
	return as
}

// cardIssue is the issue id a card call shows, from its first block id.
func cardIssue(t *testing.T, c slackfake.Call) string {
	t.Helper()
	as := attachments(t, c)
	if len(as) != 1 || len(as[0].Blocks.BlockSet) == 0 {
		t.Fatalf("%s call carries %d attachments, want one card", c.Method, len(as))
	}
	id, _ := strings.CutPrefix(blockID(as[0].Blocks.BlockSet[0]), "issue:")
	return id
}

func blockID(b slack.Block) string {
	if s, ok := b.(*slack.SectionBlock); ok {
		return s.BlockID
	}
	return string(b.BlockType())
}

// cardText is the text of every block of a card, to look for words in.
func cardText(t *testing.T, att slack.Attachment) string {
	t.Helper()
	b, err := json.Marshal(att.Blocks)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func receive(t *testing.T, svc *Service, a Alert) {
	t.Helper()
	if err := svc.Receive(context.Background(), a); err != nil {
		t.Fatalf("Receive: %v", err)
	}
}

// waitCard waits until the alert message of an issue in a channel is
// recorded (the post is answered before it is recorded) and returns it.
func (h *harness) waitCard(t *testing.T, issueID, channel string) store.Card {
	t.Helper()
	var c store.Card
	waitFor(t, "the card of issue "+issueID+" in "+channel, func() bool {
		var err error
		c, err = h.db.FirstAlertCard(context.Background(), issueID, channel, time.Now().Add(-time.Hour))
		return err == nil
	})
	return c
}

func zerologNop() zerolog.Logger { return zerolog.Nop() }
