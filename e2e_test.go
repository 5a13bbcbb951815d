package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"sentrybot/blocks"
	"sentrybot/internal/sentryfake"
	"sentrybot/internal/slackfake"
	"sentrybot/internal/testkit"
	"sentrybot/store"
)

func TestMain(m *testing.M) {
	// The signal test runs this binary as sentrybot itself.
	if os.Getenv("SENTRYBOT_TEST_AS_MAIN") == "1" {
		main()
		return
	}
	goleak.VerifyTestMain(m)
}

const (
	testAppToken    = "xapp-1-A0TEST-1-secretapptoken"
	testBotToken    = "xoxb-1-secretbottoken"
	testSentryToken = "sntrys_secretsentrytoken"
)

// e2e runs the whole program, as main does, against the fakes.
type e2e struct {
	t      testing.TB
	slack  *slackfake.Server
	sentry *sentryfake.Server
	env    map[string]string
	logs   *testkit.LogBuffer
	stop   context.CancelFunc
	done   chan error
}

func newE2E(t testing.TB, extraEnv map[string]string) *e2e {
	t.Helper()
	s := &e2e{
		t:      t,
		slack:  slackfake.New(slackfake.Options{AppToken: testAppToken, BotToken: testBotToken}),
		sentry: sentryfake.New(sentryfake.Options{Org: "acme", Token: testSentryToken}),
		logs:   &testkit.LogBuffer{},
		done:   make(chan error, 1),
	}
	t.Cleanup(s.slack.Close)
	t.Cleanup(s.sentry.Close)
	s.env = map[string]string{
		"SLACK_APP_TOKEN":      testAppToken,
		"SLACK_BOT_TOKEN":      testBotToken,
		"SLACK_API_URL":        s.slack.APIURL(),
		"SENTRY_URL":           s.sentry.URL(),
		"SENTRY_ORG":           "acme",
		"SENTRY_AUTH_TOKEN":    testSentryToken,
		"SENTRY_LINK_HOSTS":    "sentry.io,sentry.example.com",
		"SENTRYBOT_DB":         filepath.Join(t.TempDir(), "sentrybot.db"),
		"SENTRYBOT_LOG_LEVEL":  "debug",
		"SENTRYBOT_LOG_FORMAT": "json",
	}
	for k, v := range extraEnv {
		s.env[k] = v
	}
	s.sentry.AddIssue(sentryfake.NewIssue("4321", "BACKEND-1A2", "TypeError: cannot read 'total'"))
	s.sentry.AddIssue(sentryfake.NewIssue("4322", "BACKEND-1A3", "KeyError: 'user'"))
	return s
}

func (s *e2e) start() {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go func() {
		s.done <- run(ctx, []string{"sentrybot", "run"}, func(k string) string { return s.env[k] }, &bytes.Buffer{}, s.logs)
	}()
	s.t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			s.t.Error("run did not return after cancel")
		}
		s.assertNoSecretsLogged()
	})
	if err := s.slack.WaitConnected(s.ctx(), 1); err != nil {
		select {
		case runErr := <-s.done:
			s.done <- runErr // for the cleanup
			s.t.Fatalf("bot did not connect: it stopped: %v\nlogs:\n%s", runErr, s.logs)
		default:
		}
		s.t.Fatalf("bot did not connect: %v\nlogs:\n%s", err, s.logs)
	}
}

// openStore opens a second handle on the running bot's database, for
// tests to set up and inspect what the bot stores.
func (s *e2e) openStore() *store.DB {
	s.t.Helper()
	db, err := store.Open(s.ctx(), s.env["SENTRYBOT_DB"])
	if err != nil {
		s.t.Fatalf("opening the bot's store: %v", err)
	}
	s.t.Cleanup(func() {
		if err := db.Close(); err != nil {
			s.t.Errorf("closing the second store handle: %v", err)
		}
	})
	return db
}

func (s *e2e) assertNoSecretsLogged() {
	s.t.Helper()
	logs := s.logs.String()
	for _, secret := range []string{testAppToken, testBotToken, testSentryToken, "secretapptoken", "secretbottoken", "secretsentrytoken"} {
		if strings.Contains(logs, secret) {
			s.t.Errorf("a secret (%s…) appears in the logs", secret[:8])
		}
	}
}

func (s *e2e) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	s.t.Cleanup(cancel)
	return ctx
}

func (s *e2e) send(env []byte, id string) slackfake.Ack {
	s.t.Helper()
	if err := s.slack.Send(s.ctx(), env); err != nil {
		s.t.Fatalf("send: %v", err)
	}
	ack, err := s.slack.WaitAck(s.ctx(), id)
	if err != nil {
		s.t.Fatalf("ack %s: %v", id, err)
	}
	return ack
}

func (s *e2e) unfurls(n int) []slackfake.Call {
	s.t.Helper()
	calls, err := s.slack.WaitCalls(s.ctx(), "chat.unfurl", n)
	if err != nil {
		s.t.Fatalf("waiting for %d chat.unfurl: %v\nlogs:\n%s", n, err, s.logs)
	}
	return calls
}

func (s *e2e) issueGets(id string) int {
	n := 0
	for _, r := range s.sentry.Requests() {
		if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/issues/"+id+"/") {
			n++
		}
	}
	return n
}

var evSeq = struct {
	sync.Mutex
	n int
}{}

func nextEventID() string {
	evSeq.Lock()
	defer evSeq.Unlock()
	evSeq.n++
	return fmt.Sprintf("EvE2E%04d", evSeq.n)
}

func linkShared(channel, ts string, urls ...string) (string, []byte) {
	return slackfake.LinkSharedEnvelope(slackfake.LinkShared{
		TeamID: "T0001", Channel: channel, User: "U0ALICE", MessageTS: ts,
		Source: "conversations_history", EventID: nextEventID(), IsBotUserMember: true, URLs: urls,
	})
}

func TestE2EPastedLinkUnfurls(t *testing.T) {
	s := newE2E(t, nil)
	s.start()

	url := "https://acme.sentry.io/issues/4321/?project=2&referrer=slack"
	id, env := linkShared("C0BACKEND", "1732810000.123456", url)
	s.send(env, id)
	call := s.unfurls(1)[0]
	if call.Form.Get("channel") != "C0BACKEND" || call.Form.Get("ts") != "1732810000.123456" {
		t.Errorf("chat.unfurl addressed channel=%q ts=%q", call.Form.Get("channel"), call.Form.Get("ts"))
	}
	u, err := call.Unfurls()
	if err != nil {
		t.Fatal(err)
	}
	att, ok := u[url]
	if !ok || len(u) != 1 {
		t.Fatalf("unfurls keyed %v, want exactly the pasted URL", keys(u))
	}
	text := blocks.PlainText(att.Blocks.BlockSet)
	for _, want := range []string{"TypeError: cannot read 'total'", "BACKEND-1A2", "Resolve", "Archive", "Assign"} {
		if !strings.Contains(text, want) {
			t.Errorf("card lacks %q:\n%s", want, text)
		}
	}
}

func TestE2EComposerUnfurlUsesUnfurlID(t *testing.T) {
	s := newE2E(t, nil)
	s.start()
	url := "https://acme.sentry.io/issues/4321/"
	id, env := slackfake.LinkSharedEnvelope(slackfake.LinkShared{
		TeamID: "T0001", Channel: "COMPOSER", User: "U0ALICE", MessageTS: "U0ALICE-909b5454",
		UnfurlID: "U0ALICE-909b5454", Source: "composer", EventID: nextEventID(), URLs: []string{url},
	})
	s.send(env, id)
	call := s.unfurls(1)[0]
	if call.Form.Get("unfurl_id") != "U0ALICE-909b5454" || call.Form.Get("source") != "composer" {
		t.Fatalf("composer unfurl sent unfurl_id=%q source=%q", call.Form.Get("unfurl_id"), call.Form.Get("source"))
	}
	if call.Form.Get("channel") != "" || call.Form.Get("ts") != "" {
		t.Fatalf("composer unfurl also sent channel=%q ts=%q", call.Form.Get("channel"), call.Form.Get("ts"))
	}
}

func TestE2EMixedLinks(t *testing.T) {
	s := newE2E(t, nil)
	s.start()
	good := "https://acme.sentry.io/issues/4321/"
	selfHosted := "https://sentry.example.com/organizations/acme/issues/4322/events/latest/"
	missing := "https://acme.sentry.io/issues/9999/"
	foreign := "https://other.sentry.io/issues/4321/"
	lookalike := "https://sentry.io.evil.com/organizations/acme/issues/4321/"
	id, env := linkShared("C0BACKEND", "1732810000.000001", good, selfHosted, missing, foreign, lookalike)
	s.send(env, id)
	u, err := s.unfurls(1)[0].Unfurls()
	if err != nil {
		t.Fatal(err)
	}
	if len(u) != 2 {
		t.Fatalf("unfurled %v, want the two good links", keys(u))
	}
	if _, ok := u[good]; !ok {
		t.Errorf("good link not unfurled")
	}
	if _, ok := u[selfHosted]; !ok {
		t.Errorf("self-hosted events link not unfurled")
	}
	if got := s.issueGets("9999"); got != 1 {
		t.Errorf("Sentry asked for the missing issue %d times, want 1", got)
	}
	for _, r := range s.sentry.Requests() {
		if strings.Contains(r.Path, "/organizations/other/") {
			t.Errorf("a foreign org's link reached Sentry: %s", r.Path)
		}
	}
	if !strings.Contains(s.logs.String(), `"issue":"9999"`) {
		t.Errorf("the missing issue was not logged with its id:\n%s", s.logs)
	}
}

func TestE2ESentryFailureLeavesNoCard(t *testing.T) {
	s := newE2E(t, nil)
	s.start()
	s.sentry.Fail("4321", http.StatusInternalServerError, -1)
	id, env := linkShared("C0BACKEND", "1732810000.000002", "https://acme.sentry.io/issues/4321/")
	s.send(env, id)
	// A second, healthy link afterwards shows the first produced no chat.unfurl.
	id, env = linkShared("C0BACKEND", "1732810000.000003", "https://acme.sentry.io/issues/4322/")
	s.send(env, id)
	calls := s.unfurls(1)
	time.Sleep(100 * time.Millisecond)
	if n := len(s.slack.Calls("chat.unfurl")); n != 1 {
		t.Fatalf("chat.unfurl calls = %d, want 1 (no broken card)", n)
	}
	if u, _ := calls[0].Unfurls(); len(u) != 1 {
		t.Fatalf("unfurl = %v", keys(u))
	}
	if !strings.Contains(s.logs.String(), "issue left out of the unfurl") {
		t.Errorf("the Sentry failure was not logged")
	}
	// The sharer, and only they, is told why their link got no card.
	eph, err := s.slack.WaitCalls(s.ctx(), "chat.postEphemeral", 1)
	if err != nil {
		t.Fatalf("no private notice: %v", err)
	}
	if eph[0].Arg("user") != "U0ALICE" || eph[0].Arg("channel") != "C0BACKEND" ||
		!strings.Contains(eph[0].Arg("text"), "Couldn't reach Sentry for issue 4321") {
		t.Errorf("notice to %s in %s: %q", eph[0].Arg("user"), eph[0].Arg("channel"), eph[0].Arg("text"))
	}
	if n := len(s.slack.Calls("chat.postEphemeral")); n != 1 {
		t.Errorf("%d notices, want 1 (the healthy link needs none)", n)
	}
}

func TestE2EUnknownIssueLinkStaysQuiet(t *testing.T) {
	s := newE2E(t, nil)
	s.start()
	id, env := linkShared("C0BACKEND", "1732810000.000004", "https://acme.sentry.io/issues/999999/")
	s.send(env, id)
	id, env = linkShared("C0BACKEND", "1732810000.000005", "https://acme.sentry.io/issues/4322/")
	s.send(env, id)
	s.unfurls(1)
	if n := len(s.slack.Calls("chat.postEphemeral")); n != 0 {
		t.Errorf("%d notices for a link to an issue Sentry doesn't have, want none", n)
	}
}

func TestE2ESlowSentryAcksFirst(t *testing.T) {
	s := newE2E(t, nil)
	s.start()
	s.sentry.SetLatency(700 * time.Millisecond)
	id, env := linkShared("C0BACKEND", "1732810000.000004", "https://acme.sentry.io/issues/4321/")
	sent := time.Now()
	ack := s.send(env, id)
	call := s.unfurls(1)[0]
	if ackAfter := ack.At.Sub(sent); ackAfter > 500*time.Millisecond {
		t.Errorf("ack took %v: it waited for Sentry", ackAfter)
	}
	if !call.At.After(ack.At) {
		t.Errorf("chat.unfurl (%v) came before the ack (%v)", call.At, ack.At)
	}
}

func TestE2ERedeliveryHandledOnce(t *testing.T) {
	s := newE2E(t, nil)
	s.start()
	ls := slackfake.LinkShared{TeamID: "T0001", Channel: "C0BACKEND", User: "U0ALICE", MessageTS: "1732810000.000005",
		Source: "conversations_history", EventID: "EvREDELIVER", URLs: []string{"https://acme.sentry.io/issues/4321/"}}
	id, env := slackfake.LinkSharedEnvelope(ls)
	s.send(env, id)
	s.unfurls(1)
	ls.RetryAttempt = 1
	id, env = slackfake.LinkSharedEnvelope(ls)
	s.send(env, id)
	// A fresh event afterwards: once it is unfurled, the redelivery has been dealt with.
	id, env = linkShared("C0BACKEND", "1732810000.000006", "https://acme.sentry.io/issues/4322/")
	s.send(env, id)
	s.unfurls(2)
	time.Sleep(100 * time.Millisecond)
	if n := len(s.slack.Calls("chat.unfurl")); n != 2 {
		t.Fatalf("chat.unfurl calls = %d, want 2 (the redelivery must not unfurl again)", n)
	}
}

func TestE2EOneLinkFiveChannelsOneSentryCall(t *testing.T) {
	s := newE2E(t, nil)
	s.start()
	s.sentry.SetLatency(100 * time.Millisecond)
	url := "https://acme.sentry.io/issues/4321/"
	for i := range 5 {
		id, env := linkShared(fmt.Sprintf("C0CHAN%d", i), "1732810000.00001"+fmt.Sprint(i), url)
		s.send(env, id)
	}
	s.unfurls(5)
	if n := s.issueGets("4321"); n != 1 {
		t.Fatalf("Sentry GETs for the issue = %d, want 1", n)
	}
}

func TestE2EReconnectsAfterDrop(t *testing.T) {
	s := newE2E(t, nil)
	s.start()
	s.slack.DropConnection()
	if err := s.slack.WaitConnected(s.ctx(), 2); err != nil {
		t.Fatalf("no reconnect: %v", err)
	}
	id, env := linkShared("C0BACKEND", "1732810000.000007", "https://acme.sentry.io/issues/4321/")
	s.send(env, id)
	s.unfurls(1)
}

func TestE2EShutdownFinishesInFlightWork(t *testing.T) {
	s := newE2E(t, nil)
	s.start()
	s.sentry.SetLatency(500 * time.Millisecond)
	id, env := linkShared("C0BACKEND", "1732810000.000008", "https://acme.sentry.io/issues/4321/")
	s.send(env, id)
	time.Sleep(100 * time.Millisecond) // the unit is now waiting on Sentry
	s.stop()                           // what SIGTERM does through signal.NotifyContext
	select {
	case err := <-s.done:
		s.done <- err
		if err != nil {
			t.Fatalf("run = %v, want nil", err)
		}
	case <-time.After(12 * time.Second):
		t.Fatal("run did not return within the drain cap")
	}
	if n := len(s.slack.Calls("chat.unfurl")); n != 1 {
		t.Fatalf("chat.unfurl calls = %d: in-flight work was dropped on shutdown", n)
	}
	if !strings.Contains(s.logs.String(), `"stopped"`) {
		t.Errorf("no clean stop logged")
	}
}

func TestConfigErrorExitsTwoBeforeNetwork(t *testing.T) {
	s := newE2E(t, nil)
	delete(s.env, "SLACK_APP_TOKEN")
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"sentrybot", "run"}, func(k string) string { return s.env[k] }, &bytes.Buffer{}, &stderr)
	if code := exitCode(err); code != 2 {
		t.Fatalf("exit code = %d (%v), want 2", code, err)
	}
	for _, want := range []string{"slack.app_token", "SLACK_APP_TOKEN", "xapp-"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if n := s.slack.ConnectionsOpened(); n != 0 {
		t.Errorf("Slack was called %d times before the config was valid", n)
	}
	if n := len(s.sentry.Requests()); n != 0 {
		t.Errorf("Sentry was called %d times before the config was valid", n)
	}
}

func TestUnknownCommandIsUsageError(t *testing.T) {
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"sentrybot", "frobnicate"}, func(string) string { return "" }, &bytes.Buffer{}, &stderr)
	if exitCode(err) != 2 || !strings.Contains(stderr.String(), "usage:") {
		t.Fatalf("err=%v stderr=%q", err, stderr.String())
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"sentrybot", "version"}, func(string) string { return "" }, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "sentrybot ") || !strings.Contains(out.String(), "go1.") {
		t.Fatalf("version = %q", out.String())
	}
}

func TestDemo(t *testing.T) {
	var out, stderr bytes.Buffer
	if err := run(context.Background(), []string{"sentrybot", "demo"}, func(string) string { return "" }, &out, &stderr); err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), stderr.String())
	}
	for _, want := range []string{"chat.unfurl", "BACKEND-1A2", "[Resolve]", "404", "`link`", "Linked:",
		`PUT /api/0/organizations/acme/issues/4321/ {"status":"resolved"}`, "Status: Resolved", "[Unresolve]",
		"Resolved by @U0ALICE", "allowed_responder"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("transcript lacks %q:\n%s", want, out.String())
		}
	}
}

func TestDoctor(t *testing.T) {
	s := newE2E(t, nil)
	var out bytes.Buffer
	err := run(context.Background(), []string{"sentrybot", "doctor"}, func(k string) string { return s.env[k] }, &out, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("doctor: %v\n%s", err, out.String())
	}
	if n := strings.Count(out.String(), "\nok   ") + boolInt(strings.HasPrefix(out.String(), "ok   ")); n != 7 {
		t.Errorf("ok lines = %d, want 7:\n%s", n, out.String())
	}

	// A Sentry that refuses the token fails its checks and exits 1.
	s.env["SENTRY_AUTH_TOKEN"] = "sntrys_wrong"
	out.Reset()
	err = run(context.Background(), []string{"sentrybot", "doctor"}, func(k string) string { return s.env[k] }, &out, &bytes.Buffer{})
	if exitCode(err) != 1 || !strings.Contains(out.String(), "FAIL sentry reachable") {
		t.Fatalf("doctor with a bad token: err=%v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "sntrys_wrong") {
		t.Error("doctor printed the token")
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
