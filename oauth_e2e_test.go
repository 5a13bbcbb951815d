package main

// End-to-end tests of linking a Slack user's own Sentry login (OAuth 2.0
// with PKCE): the real program with its HTTP listener, a test "browser"
// that follows redirects by hand, and the Slack and Sentry fakes. Each test
// checks what the user saw (Slack replies, DMs, the browser's pages), what
// Sentry received and as whom, and what the store and the logs kept.
//
// Sentry is reached through a recording proxy (sentryTap), which is how the
// tests learn the tokens Sentry issued: the fake does not hand them out.

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"sentrybot/blocks"
	"sentrybot/internal/sentryfake"
	"sentrybot/internal/slackfake"
	"sentrybot/internal/testkit"
	"sentrybot/oauth"
	"sentrybot/sentry"
	"sentrybot/store"
)

const (
	oauthClientID     = "sentrybot-e2e-oauth-app"
	oauthClientSecret = "oauth-e2e-client-secret-8c41f0d2"
	oauthBobMember    = "202"
)

// The Sentry users the fake's browser can be logged in as.
var (
	oauthAlice   = sentry.User{ID: triageAliceUser, Name: "Alice", Email: "alice@acme.test"}
	oauthBob     = sentry.User{ID: triageBobUser, Name: "Bob", Email: "bob@acme.test"}
	oauthMallory = sentry.User{ID: "9001", Name: "Mallory", Email: "mallory@elsewhere.test"}
)

// oauthOptions vary the environment of a test.
type oauthOptions struct {
	tokenTTL  time.Duration // lifetime of the fake's access tokens; 0: Sentry's 30 days
	secretKey string        // SENTRYBOT_SECRET_KEY; "" makes the bot use its key file
}

// oauthEnv is a running sentrybot with Sentry logins configured, and the
// people of triageStart, none linked yet.
type oauthEnv struct {
	*triageEnv
	public  string // SENTRYBOT_PUBLIC_URL: the bot's own listener
	tap     *sentryTap
	browser *http.Client
	key     string // SENTRYBOT_SECRET_KEY, when set

	mu   sync.Mutex
	seen []string // grants, states and codes the browser carried
}

func oauthStart(t *testing.T, o oauthOptions) *oauthEnv {
	t.Helper()
	addr := freeAddr(t)
	public := "http://" + addr
	s := &e2e{
		t:     t,
		slack: slackfake.New(slackfake.Options{AppToken: testAppToken, BotToken: testBotToken}),
		sentry: sentryfake.New(sentryfake.Options{Org: "acme", Token: testSentryToken,
			OAuthClientID: oauthClientID, OAuthClientSecret: oauthClientSecret,
			// Registered exactly: the bot must send this redirect URI.
			OAuthRedirectURIs: []string{public + "/oauth/callback"},
			AccessTokenTTL:    o.tokenTTL}),
		logs: &testkit.LogBuffer{},
		done: make(chan error, 1),
	}
	t.Cleanup(s.slack.Close)
	t.Cleanup(s.sentry.Close)
	tap := newSentryTap(t, s.sentry.URL())
	s.env = map[string]string{
		"SLACK_APP_TOKEN":            testAppToken,
		"SLACK_BOT_TOKEN":            testBotToken,
		"SLACK_API_URL":              s.slack.APIURL(),
		"SENTRY_URL":                 tap.srv.URL,
		"SENTRY_ORG":                 "acme",
		"SENTRY_AUTH_TOKEN":          testSentryToken,
		"SENTRY_LINK_HOSTS":          "sentry.io,sentry.example.com",
		"SENTRYBOT_DB":               filepath.Join(t.TempDir(), "sentrybot.db"),
		"SENTRYBOT_LOG_LEVEL":        "debug",
		"SENTRYBOT_LOG_FORMAT":       "json",
		"SENTRYBOT_ADMINS":           triageAdmin,
		"SENTRYBOT_HTTP_LISTEN":      addr,
		"SENTRYBOT_PUBLIC_URL":       public,
		"SENTRY_OAUTH_CLIENT_ID":     oauthClientID,
		"SENTRY_OAUTH_CLIENT_SECRET": oauthClientSecret,
	}
	if o.secretKey != "" {
		s.env["SENTRYBOT_SECRET_KEY"] = o.secretKey
	}
	s.sentry.AddIssue(sentryfake.NewIssue("4321", "BACKEND-1A2", "TypeError: cannot read 'total'"))
	s.sentry.AddIssue(sentryfake.NewIssue("4322", "BACKEND-1A3", "KeyError: 'user'"))
	for _, u := range []struct{ id, email string }{
		{triageAlice, "alice@acme.test"}, {triageBob, "bob@acme.test"}, {triageAdmin, "admin@acme.test"},
	} {
		s.slack.AddUser(slack.User{ID: u.id, TeamID: triageTeam, Name: strings.ToLower(strings.TrimPrefix(u.id, "U0")),
			Profile: slack.UserProfile{Email: u.email}, IsEmailConfirmed: true})
	}
	s.sentry.AddMember(sentryfake.NewMember(triageAliceMember, triageAliceUser, "alice@acme.test", "Alice", "member"))
	s.sentry.AddMember(sentryfake.NewMember(oauthBobMember, triageBobUser, "bob@acme.test", "Bob", "member"))

	browserTr := &http.Transport{}
	e := &oauthEnv{
		public: public,
		tap:    tap,
		key:    o.secretKey,
		browser: &http.Client{
			Transport: browserTr,
			Timeout:   10 * time.Second,
			// The test follows each redirect itself, to look at every hop.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	// Registered before start, so it runs once the bot has stopped and
	// every log line is written.
	t.Cleanup(e.assertNothingSecretLogged)
	t.Cleanup(browserTr.CloseIdleConnections)
	s.start()

	db := s.openStore()
	e.triageEnv = &triageEnv{e2e: s, t: t, db: db}
	e.waitListening()
	return e
}

// waitListening waits until the listener answers; it starts beside the bot.
func (e *oauthEnv) waitListening() {
	e.t.Helper()
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var resp *http.Response
		if resp, err = e.browser.Get(e.public + "/healthz"); err == nil {
			resp.Body.Close()
			return
		}
	}
	e.t.Fatalf("the listener at %s does not answer: %v", e.public, err)
}

// keep records values that must never be logged nor stored in the clear.
func (e *oauthEnv) keep(vs ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, v := range vs {
		if v != "" {
			e.seen = append(e.seen, v)
		}
	}
}

// secretValues are every secret of the run that the bot must keep to itself.
func (e *oauthEnv) secretValues() []string {
	e.mu.Lock()
	out := slices.Clone(e.seen)
	e.mu.Unlock()
	out = append(out, oauthClientSecret)
	out = append(out, e.tap.tokens()...)
	if e.key != "" {
		out = append(out, e.key)
	}
	return out
}

func (e *oauthEnv) assertNothingSecretLogged() {
	logs := e.logs.String()
	for _, v := range e.secretValues() {
		if strings.Contains(logs, v) {
			e.t.Errorf("a secret (%.6s…) appears in the logs", v)
		}
	}
}

// command types /sentry <text> as user and returns the reply.
func (e *oauthEnv) command(user, text string) slack.WebhookMessage {
	e.t.Helper()
	hook := e.slack.ResponseURL("commands")
	id, env := slackfake.SlashCommandEnvelope(slackfake.SlashCommand{
		TeamID: triageTeam, ChannelID: triageChannel, UserID: user, Text: text, ResponseURL: hook,
	})
	e.send(env, id)
	m := e.reply(hook)
	if m.ResponseType != slack.ResponseTypeEphemeral {
		e.t.Errorf("/sentry %s: response_type %q, want ephemeral", text, m.ResponseType)
	}
	return m
}

// loginButton is the address of the reply's "Link with your Sentry login"
// button, "" without one.
func loginButton(m slack.WebhookMessage) string {
	if m.Blocks == nil {
		return ""
	}
	for _, b := range m.Blocks.BlockSet {
		ab, ok := b.(*slack.ActionBlock)
		if !ok || ab.BlockID != blocks.BlockLoginLink {
			continue
		}
		for _, el := range ab.Elements.ElementSet {
			if btn, ok := el.(*slack.ButtonBlockElement); ok && btn.ActionID == blocks.ActionLoginLink {
				return btn.URL
			}
		}
	}
	return ""
}

// offer runs /sentry link as user and returns the reply and its button's
// address, which must lead to the bot's /oauth/start with a grant.
func (e *oauthEnv) offer(user string) (slack.WebhookMessage, string) {
	e.t.Helper()
	m := e.command(user, "link")
	start := loginButton(m)
	if !strings.HasPrefix(start, e.public+"/oauth/start?grant=") {
		e.t.Fatalf("/sentry link offered the button %q, want %s/oauth/start?grant=…\n%s", start, e.public, cmdUnescapedJSON(m))
	}
	u, _ := url.Parse(start)
	e.keep(u.Query().Get("grant"))
	return m, start
}

// browserPage is one answer the browser got.
type browserPage struct {
	status   int
	location string
	header   http.Header
	body     string
}

func (e *oauthEnv) visit(rawURL string) browserPage {
	e.t.Helper()
	resp, err := e.browser.Get(rawURL)
	if err != nil {
		e.t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("reading %s: %v", rawURL, err)
	}
	return browserPage{status: resp.StatusCode, location: resp.Header.Get("Location"), header: resp.Header, body: string(b)}
}

// toSentry opens the button's address and checks the bot sends the browser
// to Sentry's consent page with PKCE; it returns that address.
func (e *oauthEnv) toSentry(start string) string {
	e.t.Helper()
	p := e.visit(start)
	if p.status != http.StatusFound || !strings.HasPrefix(p.location, e.tap.srv.URL+"/oauth/authorize/?") {
		e.t.Fatalf("the start page answered %d Location %q, want 302 to Sentry's /oauth/authorize/\n%s", p.status, p.location, p.body)
	}
	if p.header.Get("Referrer-Policy") != "no-referrer" || p.header.Get("Cache-Control") != "no-store" {
		e.t.Errorf("the start page's headers %v let the grant leak (want Referrer-Policy no-referrer, Cache-Control no-store)", p.header)
	}
	u, err := url.Parse(p.location)
	if err != nil {
		e.t.Fatal(err)
	}
	q := u.Query()
	e.keep(q.Get("state"))
	for k, want := range map[string]string{
		"response_type": "code", "client_id": oauthClientID, "redirect_uri": e.public + "/oauth/callback",
		"code_challenge_method": "S256", "scope": oauth.Scopes,
	} {
		if got := q.Get(k); got != want {
			e.t.Errorf("authorize %s = %q, want %q", k, got, want)
		}
	}
	if q.Get("state") == "" || q.Get("code_challenge") == "" {
		e.t.Errorf("authorize without a state or a code challenge: %s", u.RawQuery)
	}
	return p.location
}

// atSentry opens Sentry's consent page, whose user approves at once, and
// returns where Sentry sends the browser back: the bot's callback.
func (e *oauthEnv) atSentry(authorize string) string {
	e.t.Helper()
	p := e.visit(authorize)
	if p.status != http.StatusFound || !strings.HasPrefix(p.location, e.public+"/oauth/callback?") {
		e.t.Fatalf("Sentry's authorize answered %d Location %q, want 302 to the callback\n%s", p.status, p.location, p.body)
	}
	u, _ := url.Parse(p.location)
	e.keep(u.Query().Get("code"))
	return p.location
}

// back opens the callback and checks the page is a plain page that echoes
// nothing secret.
func (e *oauthEnv) back(callback string) browserPage {
	e.t.Helper()
	p := e.visit(callback)
	if ct := p.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || p.header.Get("Cache-Control") != "no-store" {
		e.t.Errorf("the callback page has Content-Type %q, Cache-Control %q", ct, p.header.Get("Cache-Control"))
	}
	for _, v := range e.secretValues() {
		if strings.Contains(p.body, v) {
			e.t.Errorf("the callback page shows a secret (%.6s…)", v)
		}
	}
	return p
}

// dance follows the button as a browser, through Sentry and back, and
// returns the last page.
func (e *oauthEnv) dance(start string) browserPage {
	e.t.Helper()
	return e.back(e.atSentry(e.toSentry(start)))
}

// linkLogin links user's Sentry login, as whoever the fake's browser is
// logged in as, and checks the page says so.
func (e *oauthEnv) linkLogin(user, email string) {
	e.t.Helper()
	_, start := e.offer(user)
	p := e.dance(start)
	if p.status != http.StatusOK || !strings.Contains(p.body, "Linked:") || !strings.Contains(p.body, email) {
		e.t.Fatalf("the sign-in ended with %d:\n%s\nlogs:\n%s", p.status, p.body, e.logs)
	}
}

// dms are the texts the bot sent to user's direct messages, oldest first.
func (e *oauthEnv) dms(user string) []string {
	var out []string
	for _, c := range e.slack.Calls("chat.postMessage") {
		if c.Arg("channel") == user {
			out = append(out, c.Arg("text"))
		}
	}
	return out
}

// waitDMs waits until user has n direct messages and returns them.
func (e *oauthEnv) waitDMs(user string, n int) []string {
	e.t.Helper()
	e.waitCalls("chat.postMessage", func([]slackfake.Call) bool { return len(e.dms(user)) >= n })
	dms := e.dms(user)
	for _, c := range e.slack.Calls("chat.postMessage") {
		if c.Arg("channel") == user && (c.Token != "bot" || c.Error != "") {
			e.t.Errorf("DM to %s: token %q error %q", user, c.Token, c.Error)
		}
	}
	return dms
}

// identity is the user's stored link; Method is "" when there is none.
func (e *oauthEnv) identity(user string) store.Identity {
	e.t.Helper()
	id, err := e.db.Identity(e.ctx(), triageTeam, user)
	if errors.Is(err, store.ErrNotFound) {
		return store.Identity{}
	}
	if err != nil {
		e.t.Fatalf("reading %s's identity: %v", user, err)
	}
	return id
}

// storedToken is the user's stored token row, and whether there is one.
func (e *oauthEnv) storedToken(user string) (store.OAuthToken, bool) {
	e.t.Helper()
	tok, err := e.db.OAuthToken(e.ctx(), triageTeam, user)
	if errors.Is(err, store.ErrNotFound) {
		return tok, false
	}
	if err != nil {
		e.t.Fatalf("reading %s's token: %v", user, err)
	}
	return tok, true
}

// notLinkedToLogin checks user has no Sentry login: an email link (or
// none), no stored token, and whoami says the org token acts.
func (e *oauthEnv) notLinkedToLogin(user, wantMethod string) {
	e.t.Helper()
	if m := e.identity(user).Method; m != wantMethod {
		e.t.Errorf("%s's link was made by %q, want %q", user, m, wantMethod)
	}
	if _, ok := e.storedToken(user); ok {
		e.t.Errorf("a Sentry login token is stored for %s", user)
	}
	if wantMethod != "" {
		w := e.command(user, "whoami").Text
		triageContains(e.t, "whoami", w, "*Acts as:* sentrybot's organization token")
	}
}

// tokenRequests are the token endpoint calls since the first n.
func (e *oauthEnv) tokenRequests(n int) []sentryfake.TokenRequest {
	return e.sentry.TokenRequests()[n:]
}

// authorizes counts the browser's visits to Sentry's consent page.
func (e *oauthEnv) authorizes() int {
	n := 0
	for _, r := range e.sentry.Requests() {
		if r.Path == "/oauth/authorize/" {
			n++
		}
	}
	return n
}

// issueRequests are the requests about an issue since the mark.
func (e *oauthEnv) issueRequests(since int, issueID string) []sentryfake.Request {
	var out []sentryfake.Request
	for _, r := range e.sentry.Requests()[since:] {
		if strings.HasSuffix(r.Path, "/issues/"+issueID+"/") {
			out = append(out, r)
		}
	}
	return out
}

// clickResolve clicks Resolve on card as user and waits for the card to
// change.
func (e *oauthEnv) clickResolve(user string, card triageCard) {
	e.t.Helper()
	n := e.unfurlCount() + 1
	hook := e.click(triageClick{user: user, card: card, actionID: blocks.ActionResolve})
	att := e.cardUpdate(card, n, hook)
	if f := triageFooter(att); f != "Resolved by <@"+user+">" {
		e.t.Errorf("footer %q after %s resolved", f, user)
	}
}

// refusedClick clicks Resolve on card as user and returns the private
// answer, checking nothing changed anywhere.
func (e *oauthEnv) refusedClick(user string, card triageCard) string {
	e.t.Helper()
	before, m := e.unfurlCount(), e.mark()
	hook := e.click(triageClick{user: user, card: card, actionID: blocks.ActionResolve})
	text := e.private(hook)
	e.noPut(m, "the click was refused")
	if reqs := e.issueRequests(m, card.issueID); len(reqs) != 0 {
		e.t.Errorf("a refused click reached Sentry: %s", triageDescribe(reqs))
	}
	if n := e.unfurlCount(); n != before {
		e.t.Errorf("the card changed (%d chat.unfurl) on a refusal", n-before)
	}
	if is, _ := e.sentry.Issue(card.issueID); is.Status != sentry.StatusUnresolved {
		e.t.Errorf("Sentry's issue is %s after a refusal", is.Status)
	}
	return text
}

// actsAsExpiry is the expiry whoami shows on its "Acts as: you" line.
var actsAsExpiry = regexp.MustCompile(`\*Acts as:\* you, through your Sentry login; the current token expires <!date\^(\d+)\^`)

func TestOAuthLinkActsAsTheUser(t *testing.T) {
	e := oauthStart(t, oauthOptions{})
	e.sentry.SetOAuthUser(oauthAlice)

	m, start := e.offer(triageAlice)
	if !strings.HasPrefix(m.Text, "Linked:") {
		t.Errorf("/sentry link says %q, want the email link first", m.Text)
	}
	triageContains(t, "link offer", blocks.PlainText(m.Blocks.BlockSet), "as yourself", "works once")
	linkedAt := time.Now()
	p := e.dance(start)
	if p.status != http.StatusOK {
		t.Fatalf("the sign-in ended with %d:\n%s\nlogs:\n%s", p.status, p.body, e.logs)
	}
	triageContains(t, "final page", p.body, "Signed in", "Linked:", "alice@acme.test", "go back to Slack")

	// Sentry exchanged one code, for the fake's client, as Alice.
	trs := e.tokenRequests(0)
	if len(trs) != 1 || trs[0].GrantType != "authorization_code" || trs[0].ClientID != oauthClientID ||
		trs[0].Status != http.StatusOK || trs[0].UserID != triageAliceUser {
		t.Errorf("token requests %+v, want one authorization_code for %s as user %s", trs, oauthClientID, triageAliceUser)
	}
	if n := len(e.tap.tokens()); n != 2 {
		t.Fatalf("the tap saw %d tokens, want the access and refresh token", n)
	}

	// Alice is told in her DMs, by the bot.
	dms := e.waitDMs(triageAlice, 1)
	if len(dms) != 1 || !strings.Contains(dms[0], "You're linked with your Sentry login (alice@acme.test)") {
		t.Errorf("DMs to Alice: %q", dms)
	}

	id := e.identity(triageAlice)
	if id.Method != oauth.IdentityMethod || id.MemberID != triageAliceMember || id.SentryUserID != triageAliceUser {
		t.Errorf("Alice's identity %+v, want member %s user %s by oauth", id, triageAliceMember, triageAliceUser)
	}
	w := e.command(triageAlice, "whoami").Text
	triageContains(t, "whoami", w, "by oauth", "*Sentry org role:* member")
	mm := actsAsExpiry.FindStringSubmatch(w)
	if mm == nil {
		t.Fatalf("whoami has no \"Acts as: you\" line with an expiry:\n%s", w)
	}
	unix, _ := strconv.ParseInt(mm[1], 10, 64)
	tok, ok := e.storedToken(triageAlice)
	if !ok || tok.Stale || tok.SentryUserID != triageAliceUser || tok.ExpiresAt.Unix() != unix {
		t.Errorf("whoami shows expiry %d; stored token %+v (found %v)", unix, tok, ok)
	}
	// Sentry's access tokens live 30 days.
	if exp := time.Unix(unix, 0); exp.Before(linkedAt.Add(30*24*time.Hour-time.Minute)) || exp.After(time.Now().Add(30*24*time.Hour+time.Minute)) {
		t.Errorf("whoami shows expiry %v, want 30 days after the sign-in at %v", exp, linkedAt)
	}
	// Linking again says so, without another button.
	again := e.command(triageAlice, "link")
	if b := loginButton(again); b != "" || !strings.Contains(again.Text, "also linked with your Sentry login") {
		t.Errorf("/sentry link once linked: %q, button %q", again.Text, b)
	}

	// Alice's Resolve is made as Alice.
	card := e.share("4321")
	mark := e.mark()
	e.clickResolve(triageAlice, card)
	e.onePut(mark, "4321", `{"status":"resolved"}`)
	for _, r := range e.issueRequests(mark, "4321") {
		if r.UserID != triageAliceUser {
			t.Errorf("%s %s acted as %q, want Alice's login (user %s)", r.Method, r.Path, r.UserID, triageAliceUser)
		}
	}
	e.checkAudit(e.lastAudit(triageAlice), triageAuditWant{user: triageAlice, member: triageAliceMember, action: "resolve",
		issue: "4321", decision: "allow", reason: "allowed_responder", outcome: "ok", detail: "status=resolved via=user-login"})

	// Bob, linked by email only, acts through the organization's token.
	e.link(triageBob)
	card = e.share("4322")
	mark = e.mark()
	e.clickResolve(triageBob, card)
	e.onePut(mark, "4322", `{"status":"resolved"}`)
	for _, r := range e.issueRequests(mark, "4322") {
		if r.UserID != "" {
			t.Errorf("%s %s acted as user %q, want the org token", r.Method, r.Path, r.UserID)
		}
	}
	e.checkAudit(e.lastAudit(triageBob), triageAuditWant{user: triageBob, member: oauthBobMember, action: "resolve",
		issue: "4322", decision: "allow", reason: "allowed_responder", outcome: "ok", detail: "status=resolved via=org-token"})
	if dms := e.dms(triageBob); len(dms) != 0 {
		t.Errorf("Bob got DMs: %q", dms)
	}
	if !strings.Contains(e.logs.String(), "Sentry login linked") {
		t.Errorf("the link was not logged")
	}
}

func TestOAuthReplaysAndTamperingLinkNothing(t *testing.T) {
	e := oauthStart(t, oauthOptions{})
	e.sentry.SetOAuthUser(oauthAlice)

	// The button works once: a second visit is refused and goes nowhere.
	_, start := e.offer(triageAlice)
	authorize := e.toSentry(start)
	replay := e.visit(start)
	if replay.status != http.StatusGone || replay.location != "" || !strings.Contains(replay.body, "already used") {
		t.Errorf("a second visit of the button's address: %d Location %q\n%s", replay.status, replay.location, replay.body)
	}
	if n := e.authorizes(); n != 0 {
		t.Errorf("Sentry's consent page was visited %d times before the browser went there", n)
	}
	// The first visit still completes.
	callback := e.atSentry(authorize)
	if p := e.back(callback); p.status != http.StatusOK {
		t.Fatalf("the sign-in ended with %d:\n%s", p.status, p.body)
	}
	// Sentry's answer cannot be replayed either.
	if p := e.back(callback); p.status != http.StatusGone || !strings.Contains(p.body, "already used") {
		t.Errorf("a replayed callback: %d\n%s", p.status, p.body)
	}
	if n := e.authorizes(); n != 1 {
		t.Errorf("Sentry's consent page was visited %d times, want 1", n)
	}
	if trs := e.tokenRequests(0); len(trs) != 1 {
		t.Errorf("%d token requests, want the one exchange: %+v", len(trs), trs)
	}
	if dms := e.waitDMs(triageAlice, 1); len(dms) != 1 {
		t.Errorf("Alice got %d DMs, want 1: %q", len(dms), dms)
	}

	// A state changed on the way back matches no sign-in: the code is not
	// exchanged and Bob stays linked by email.
	e.sentry.SetOAuthUser(oauthBob)
	_, start = e.offer(triageBob)
	authorize = e.toSentry(start)
	u, _ := url.Parse(authorize)
	q := u.Query()
	state := q.Get("state")
	forged := "A" + state[1:]
	if state[0] == 'A' {
		forged = "B" + state[1:]
	}
	q.Set("state", forged)
	u.RawQuery = q.Encode()
	tokensBefore := len(e.sentry.TokenRequests())
	if p := e.back(e.atSentry(u.String())); p.status != http.StatusBadRequest || !strings.Contains(p.body, "not valid") {
		t.Errorf("a tampered state: %d\n%s", p.status, p.body)
	}
	if trs := e.tokenRequests(tokensBefore); len(trs) != 0 {
		t.Errorf("a tampered state led to token requests %+v", trs)
	}
	e.notLinkedToLogin(triageBob, "email")

	// Junk and unknown values are refused before anything is looked up.
	unknown := make([]byte, 32)
	_, _ = rand.Read(unknown)
	for _, raw := range []string{
		e.public + "/oauth/start?grant=short",
		e.public + "/oauth/start",
		e.public + "/oauth/start?grant=" + base64.RawURLEncoding.EncodeToString(unknown),
		e.public + "/oauth/callback?code=abc&state=short",
		e.public + "/oauth/callback?code=abc&state=" + base64.RawURLEncoding.EncodeToString(unknown),
	} {
		if p := e.visit(raw); p.status != http.StatusBadRequest || p.location != "" || !strings.Contains(p.body, "not valid") {
			t.Errorf("GET %s: %d Location %q\n%s", raw, p.status, p.location, p.body)
		}
	}
	if trs := e.tokenRequests(tokensBefore); len(trs) != 0 {
		t.Errorf("junk led to token requests %+v", trs)
	}
	if dms := e.dms(triageBob); len(dms) != 0 {
		t.Errorf("Bob got DMs: %q", dms)
	}
	// An expired grant is not tested here: the grant lifetime (10 minutes)
	// has no setting, so only the oauth package's own tests reach it.
}

func TestOAuthOnlyAFreeMemberOfTheOrgLinks(t *testing.T) {
	e := oauthStart(t, oauthOptions{})
	e.link(triageBob)

	// A Sentry user of another organization.
	e.sentry.SetOAuthUser(oauthMallory)
	_, start := e.offer(triageAlice)
	if p := e.dance(start); p.status != http.StatusForbidden ||
		!strings.Contains(p.body, "not a member of the organization acme") || !strings.Contains(p.body, "Nothing was linked") {
		t.Errorf("a non-member's sign-in: %d\n%s", p.status, p.body)
	}
	e.notLinkedToLogin(triageAlice, "email")

	// Sentry's user denies the consent.
	e.sentry.SetOAuthUser(oauthAlice)
	e.sentry.SetOAuthDeny(true)
	tokensBefore := len(e.sentry.TokenRequests())
	_, start = e.offer(triageAlice)
	if p := e.dance(start); p.status != http.StatusBadRequest || !strings.Contains(p.body, "did not authorize") {
		t.Errorf("a denied consent: %d\n%s", p.status, p.body)
	}
	if trs := e.tokenRequests(tokensBefore); len(trs) != 0 {
		t.Errorf("a denied consent led to token requests %+v", trs)
	}
	e.notLinkedToLogin(triageAlice, "email")

	// Bob's Sentry account, signed in from Alice's Slack account: Bob
	// keeps his member.
	e.sentry.SetOAuthDeny(false)
	e.sentry.SetOAuthUser(oauthBob)
	_, start = e.offer(triageAlice)
	if p := e.dance(start); p.status != http.StatusConflict || !strings.Contains(p.body, "already linked to another Slack user") {
		t.Errorf("signing in as another user's member: %d\n%s", p.status, p.body)
	}
	e.notLinkedToLogin(triageAlice, "email")
	if id := e.identity(triageAlice); id.MemberID != triageAliceMember {
		t.Errorf("Alice is now linked to member %s", id.MemberID)
	}
	if id := e.identity(triageBob); id.MemberID != oauthBobMember || id.Method != "email" {
		t.Errorf("Bob's identity became %+v", id)
	}

	// Nothing was linked, so Alice still acts through the org token.
	card := e.share("4321")
	mark := e.mark()
	e.clickResolve(triageAlice, card)
	e.onePut(mark, "4321", `{"status":"resolved"}`)
	if puts := e.puts(mark); puts[0].UserID != "" {
		t.Errorf("the PUT acted as user %s, want the org token", puts[0].UserID)
	}
	e.checkAudit(e.lastAudit(triageAlice), triageAuditWant{user: triageAlice, member: triageAliceMember, action: "resolve",
		issue: "4321", decision: "allow", reason: "allowed_responder", outcome: "ok", detail: "status=resolved via=org-token"})
	for _, u := range []string{triageAlice, triageBob} {
		if dms := e.dms(u); len(dms) != 0 {
			t.Errorf("%s got DMs: %q", u, dms)
		}
	}
}

func TestOAuthConcurrentClicksShareOneRefresh(t *testing.T) {
	// A token that enters the refresh window a few seconds after it is
	// issued: the refreshed one is then good for those few seconds again.
	const fresh = 3 * time.Second
	e := oauthStart(t, oauthOptions{tokenTTL: oauth.DefaultRefreshBefore + fresh})
	e.sentry.SetOAuthUser(oauthAlice)
	e.linkLogin(triageAlice, "alice@acme.test")

	ids := []string{"5101", "5102", "5103", "5104", "5105"}
	var cards []triageCard
	for _, id := range ids {
		e.addIssue(id, "backend", nil)
		cards = append(cards, e.share(id))
	}
	first, ok := e.storedToken(triageAlice)
	if !ok {
		t.Fatal("no token stored")
	}
	time.Sleep(time.Until(first.ExpiresAt.Add(-oauth.DefaultRefreshBefore)) + 100*time.Millisecond)

	// A slow token endpoint keeps the refresh in flight while the clicks
	// arrive.
	e.tap.setRefreshDelay(300 * time.Millisecond)
	tokensBefore := len(e.sentry.TokenRequests())
	before, mark := e.unfurlCount(), e.mark()
	var hooks []string
	for _, c := range cards {
		hooks = append(hooks, e.click(triageClick{user: triageAlice, card: c, actionID: blocks.ActionResolve}))
	}
	e.waitCalls("", func(cs []slackfake.Call) bool {
		n := 0
		for _, c := range cs {
			switch {
			case c.Method == "chat.unfurl":
				n++
			case c.Method == "response_url" && slices.Contains(hooks, c.Hook):
				t.Fatalf("a click was answered instead of changing its card: %s", c.JSON)
			}
		}
		return n >= before+len(cards)
	})

	if n := e.sentry.RefreshCount(); n != 1 {
		t.Errorf("Sentry refreshed Alice's token %d times, want once", n)
	}
	trs := e.tokenRequests(tokensBefore)
	if len(trs) != 1 || trs[0].GrantType != "refresh_token" || trs[0].Status != http.StatusOK || trs[0].UserID != triageAliceUser {
		t.Errorf("token requests during the clicks %+v, want one refresh for Alice", trs)
	}
	puts := e.puts(mark)
	var paths []string
	for _, p := range puts {
		paths = append(paths, p.Path)
		if p.UserID != triageAliceUser {
			t.Errorf("PUT %s acted as %q, want Alice's login", p.Path, p.UserID)
		}
	}
	slices.Sort(paths)
	var want []string
	for _, id := range ids {
		want = append(want, "/api/0/organizations/acme/issues/"+id+"/")
	}
	if !slices.Equal(paths, want) {
		t.Errorf("PUTs %q, want one per issue %q", paths, want)
	}
	es := e.audit(triageAlice)
	if len(es) != len(ids) {
		t.Fatalf("%d audit entries, want %d", len(es), len(ids))
	}
	for _, a := range es {
		if a.Outcome != "ok" || a.Detail != "status=resolved via=user-login" {
			t.Errorf("audit entry %+v, want ok via=user-login", a)
		}
	}
	if next, ok := e.storedToken(triageAlice); !ok || !next.ExpiresAt.After(first.ExpiresAt) || next.Stale {
		t.Errorf("stored token after the refresh %+v, before %+v", next, first)
	}
	if dms := e.dms(triageAlice); len(dms) != 1 {
		t.Errorf("Alice got %d DMs, want only the link's: %q", len(dms), dms)
	}
}

func TestOAuthRevokedLoginIsRefusedUntilLinkedAgain(t *testing.T) {
	// A token always inside the refresh window: each use refreshes it, so
	// a revocation is noticed at the next click.
	e := oauthStart(t, oauthOptions{tokenTTL: time.Minute})
	e.sentry.SetOAuthUser(oauthAlice)
	e.linkLogin(triageAlice, "alice@acme.test")
	e.waitDMs(triageAlice, 1)
	card := e.share("4321")

	e.sentry.RevokeOAuth(triageAliceUser)
	tokensBefore := len(e.sentry.TokenRequests())
	text := e.refusedClick(triageAlice, card)
	triageContains(t, "answer", text, "Your Sentry login link has expired or was revoked", "Nothing was changed", "`/sentry link`")
	e.checkAudit(e.lastAudit(triageAlice), triageAuditWant{user: triageAlice, member: triageAliceMember, action: "resolve",
		issue: "4321", decision: "allow", reason: "allowed_responder", outcome: "error: Sentry login link stale", detail: "status=resolved"})
	trs := e.tokenRequests(tokensBefore)
	if len(trs) != 1 || trs[0].GrantType != "refresh_token" || trs[0].Error != "invalid_grant" {
		t.Errorf("token requests %+v, want the one refused refresh", trs)
	}
	dms := e.waitDMs(triageAlice, 2)
	if len(dms) != 2 || !strings.Contains(dms[1], "expired or was revoked") || !strings.Contains(dms[1], "/sentry link") {
		t.Errorf("DMs to Alice %q, want the link's then one saying to link again", dms)
	}
	if tok, ok := e.storedToken(triageAlice); !ok || !tok.Stale {
		t.Errorf("stored token %+v (found %v), want it kept and marked stale", tok, ok)
	}
	w := e.command(triageAlice, "whoami").Text
	triageContains(t, "whoami", w, "*Acts as:* nobody", "expired or was revoked", "`/sentry link`")

	// Refused again, without asking Sentry or telling her twice.
	tokensBefore = len(e.sentry.TokenRequests())
	triageContains(t, "second answer", e.refusedClick(triageAlice, card), "expired or was revoked")
	if trs := e.tokenRequests(tokensBefore); len(trs) != 0 {
		t.Errorf("a stale link led to token requests %+v", trs)
	}
	if dms := e.dms(triageAlice); len(dms) != 2 {
		t.Errorf("Alice got %d DMs, want 2: %q", len(dms), dms)
	}
	if es := e.audit(triageAlice); len(es) != 2 || es[1].Outcome != "error: Sentry login link stale" {
		t.Errorf("audit %+v, want two refusals", es)
	}

	// Linking again offers the button with a warning, and works.
	m := e.command(triageAlice, "link")
	triageContains(t, "link offer", blocks.PlainText(m.Blocks.BlockSet), ":warning: Your Sentry login link has expired or was revoked")
	start := loginButton(m)
	if p := e.dance(start); p.status != http.StatusOK {
		t.Fatalf("linking again ended with %d:\n%s", p.status, p.body)
	}
	if dms := e.waitDMs(triageAlice, 3); !strings.Contains(dms[2], "You're linked with your Sentry login") {
		t.Errorf("DMs %q", dms)
	}
	mark := e.mark()
	e.clickResolve(triageAlice, card)
	e.onePut(mark, "4321", `{"status":"resolved"}`)
	if puts := e.puts(mark); puts[0].UserID != triageAliceUser {
		t.Errorf("the PUT acted as %q, want Alice's login", puts[0].UserID)
	}
	e.checkAudit(e.lastAudit(triageAlice), triageAuditWant{user: triageAlice, member: triageAliceMember, action: "resolve",
		issue: "4321", decision: "allow", reason: "allowed_responder", outcome: "ok", detail: "status=resolved via=user-login"})
}

func TestOAuthUnlinkForgetsTheLogin(t *testing.T) {
	e := oauthStart(t, oauthOptions{})
	e.sentry.SetOAuthUser(oauthAlice)
	e.linkLogin(triageAlice, "alice@acme.test")
	if _, ok := e.storedToken(triageAlice); !ok {
		t.Fatal("no token stored after the sign-in")
	}
	card := e.share("4321")

	if got := e.command(triageAlice, "unlink").Text; !strings.HasPrefix(got, "Unlinked:") {
		t.Errorf("/sentry unlink says %q", got)
	}
	e.notLinkedToLogin(triageAlice, "")
	triageContains(t, "whoami", e.command(triageAlice, "whoami").Text, "*Not linked*")

	tokensBefore := len(e.sentry.TokenRequests())
	triageContains(t, "answer", e.refusedClick(triageAlice, card), "`/sentry link`")
	e.checkAudit(e.lastAudit(triageAlice), triageAuditWant{user: triageAlice, member: "", action: "resolve",
		issue: "4321", decision: "deny", reason: "not_linked", detail: "status=resolved"})
	if trs := e.tokenRequests(tokensBefore); len(trs) != 0 {
		t.Errorf("token requests after unlink %+v", trs)
	}
}

func TestOAuthTokensAreStoredSealed(t *testing.T) {
	t.Run("key file", func(t *testing.T) {
		e := oauthStart(t, oauthOptions{tokenTTL: time.Minute}) // the click refreshes: two token pairs
		e.sentry.SetOAuthUser(oauthAlice)
		e.linkLogin(triageAlice, "alice@acme.test")
		e.clickResolve(triageAlice, e.share("4321"))
		if n := len(e.tap.tokens()); n != 4 {
			t.Fatalf("the tap saw %d tokens, want two pairs", n)
		}
		keyPath := e.env["SENTRYBOT_DB"] + ".key"
		fi, err := os.Stat(keyPath)
		if err != nil {
			t.Fatalf("no key file beside the database: %v", err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("key file mode %v, want 0600", perm)
		}
		if !strings.Contains(e.logs.String(), "generated the secret key") {
			t.Errorf("the key file's creation was not logged")
		}
		e.assertSealed()
		e.stopBot()
		e.assertSealed()
	})
	t.Run("SENTRYBOT_SECRET_KEY", func(t *testing.T) {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		e := oauthStart(t, oauthOptions{secretKey: base64.StdEncoding.EncodeToString(key)})
		e.sentry.SetOAuthUser(oauthAlice)
		e.linkLogin(triageAlice, "alice@acme.test")
		e.clickResolve(triageAlice, e.share("4321"))
		if _, err := os.Stat(e.env["SENTRYBOT_DB"] + ".key"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a key file was created although SENTRYBOT_SECRET_KEY is set (stat: %v)", err)
		}
		e.assertSealed()
	})
}

// assertSealed reads the database files and checks no token, grant, state
// or code is there in the clear.
func (e *oauthEnv) assertSealed() {
	e.t.Helper()
	db := e.env["SENTRYBOT_DB"]
	var all []byte
	for _, p := range []string{db, db + "-wal", db + "-shm"} {
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) && p != db {
			continue
		}
		if err != nil {
			e.t.Fatalf("reading %s: %v", p, err)
		}
		all = append(all, b...)
	}
	// The files read are the ones that hold the link.
	if !bytes.Contains(all, []byte("oauth_tokens")) || !bytes.Contains(all, []byte(triageAlice)) {
		e.t.Fatalf("the database files hold no oauth_tokens row for %s", triageAlice)
	}
	secrets := e.secretValues()
	if len(e.tap.tokens()) == 0 {
		e.t.Fatal("no token to look for")
	}
	for _, v := range secrets {
		if bytes.Contains(all, []byte(v)) {
			e.t.Errorf("the database holds a secret (%.6s…) in the clear", v)
		}
	}
}

// stopBot stops the program, as SIGTERM does, and leaves its result for
// the cleanup.
func (e *oauthEnv) stopBot() {
	e.t.Helper()
	e.stop()
	select {
	case err := <-e.done:
		e.done <- err
		if err != nil {
			e.t.Fatalf("run = %v", err)
		}
	case <-time.After(15 * time.Second):
		e.t.Fatal("run did not return after stop")
	}
}

// sentryTap is a reverse proxy in front of the Sentry fake that keeps the
// tokens Sentry's token endpoint hands out, and can slow its refreshes.
type sentryTap struct {
	srv *httptest.Server

	mu           sync.Mutex
	issued       []string
	refreshDelay time.Duration
}

func newSentryTap(t *testing.T, target string) *sentryTap {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	tap := &sentryTap{}
	tr := &http.Transport{}
	proxy := &httputil.ReverseProxy{
		Rewrite:        func(r *httputil.ProxyRequest) { r.SetURL(u) },
		Transport:      tr,
		ModifyResponse: tap.record,
	}
	tap.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/oauth/token/" {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if form, err := url.ParseQuery(string(body)); err == nil && form.Get("grant_type") == "refresh_token" {
				tap.mu.Lock()
				d := tap.refreshDelay
				tap.mu.Unlock()
				time.Sleep(d)
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		tap.srv.Close()
		tr.CloseIdleConnections()
	})
	return tap
}

func (tap *sentryTap) record(resp *http.Response) error {
	if resp.Request.URL.Path != "/oauth/token/" || resp.StatusCode != http.StatusOK {
		return nil
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(b, &tok); err != nil {
		return err
	}
	tap.mu.Lock()
	defer tap.mu.Unlock()
	for _, v := range []string{tok.AccessToken, tok.RefreshToken} {
		if v != "" {
			tap.issued = append(tap.issued, v)
		}
	}
	return nil
}

// tokens are the access and refresh tokens Sentry issued so far.
func (tap *sentryTap) tokens() []string {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	return slices.Clone(tap.issued)
}

func (tap *sentryTap) setRefreshDelay(d time.Duration) {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	tap.refreshDelay = d
}

// TestOAuthLoginRefusedBeforeItsExpiry: a token Sentry stops accepting
// before its stored expiry (the user revoked sentrybot in Sentry's
// settings, or Sentry ended it sooner) is refreshed at once and the call
// tried again; a refused refresh marks the link stale and tells the user,
// and is never replaced by the organization's token.
func TestOAuthLoginRefusedBeforeItsExpiry(t *testing.T) {
	t.Run("revoked", func(t *testing.T) {
		// Sentry's 30-day token: no refresh is due when the user revokes it.
		e := oauthStart(t, oauthOptions{})
		e.sentry.SetOAuthUser(oauthAlice)
		e.linkLogin(triageAlice, "alice@acme.test")
		e.waitDMs(triageAlice, 1)
		card := e.share("4321")
		e.sentry.RevokeOAuth(triageAliceUser)

		// The token is only found refused by using it: one GET, answered
		// 401, then the refresh is refused too and nothing more is sent.
		m := e.mark()
		hook := e.click(triageClick{user: triageAlice, card: card, actionID: blocks.ActionResolve})
		triageContains(t, "answer", e.private(hook), "expired or was revoked", "`/sentry link`")
		e.noPut(m, "the login was revoked")
		if reqs := e.issueRequests(m, card.issueID); len(reqs) != 1 || reqs[0].Method != http.MethodGet {
			t.Errorf("Sentry got %s for the click, want the one GET that found the token refused", triageDescribe(reqs))
		}
		if is, _ := e.sentry.Issue(card.issueID); is.Status != sentry.StatusUnresolved {
			t.Errorf("Sentry's issue is %s after a refusal", is.Status)
		}
		e.checkAudit(e.lastAudit(triageAlice), triageAuditWant{user: triageAlice, member: triageAliceMember, action: "resolve",
			issue: "4321", decision: "allow", reason: "allowed_responder", outcome: "error: Sentry login link stale", detail: "status=resolved via=user-login"})
		if dms := e.waitDMs(triageAlice, 2); !strings.Contains(dms[1], "expired or was revoked") {
			t.Errorf("DMs %q, want one saying to link again", dms)
		}
		if tok, ok := e.storedToken(triageAlice); !ok || !tok.Stale {
			t.Errorf("stored token %+v (found %v), want it marked stale", tok, ok)
		}
		triageContains(t, "whoami", e.command(triageAlice, "whoami").Text, "*Acts as:* nobody")
		// Now the link is known stale: the next click never reaches Sentry.
		triageContains(t, "answer", e.refusedClick(triageAlice, card), "expired or was revoked")
	})
	t.Run("expired early", func(t *testing.T) {
		// Sentry stops taking the access token; its refresh token still works.
		e := oauthStart(t, oauthOptions{})
		e.sentry.SetOAuthUser(oauthAlice)
		e.linkLogin(triageAlice, "alice@acme.test")
		card := e.share("4321")
		e.sentry.ExpireAccessTokens()

		mark := e.mark()
		e.clickResolve(triageAlice, card)
		e.onePut(mark, "4321", `{"status":"resolved"}`)
		if puts := e.puts(mark); puts[0].UserID != triageAliceUser {
			t.Errorf("the PUT acted as %q, want Alice's login", puts[0].UserID)
		}
		if n := e.sentry.RefreshCount(); n != 1 {
			t.Errorf("%d refreshes, want 1", n)
		}
		e.checkAudit(e.lastAudit(triageAlice), triageAuditWant{user: triageAlice, member: triageAliceMember, action: "resolve",
			issue: "4321", decision: "allow", reason: "allowed_responder", outcome: "ok", detail: "status=resolved via=user-login"})
	})
}
