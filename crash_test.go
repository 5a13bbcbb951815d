package main

// SIGKILL under load: sentrybot runs as its own process, takes a stream of
// clicks and links, is killed mid-stream, and is started again on the same
// database. The database must be intact, and no click may be lost once Slack
// has its ack, applied twice, or left out of the audit log.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"sentrybot/blocks"
	"sentrybot/internal/sentryfake"
	"sentrybot/internal/slackfake"
	"sentrybot/internal/testkit"
	"sentrybot/store"
)

// crashChild is one sentrybot process.
type crashChild struct {
	cmd    *exec.Cmd
	stderr *testkit.LogBuffer
	exited chan error
}

func startCrashChild(t *testing.T, s *e2e, hellos int) *crashChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "run")
	cmd.Env = append(os.Environ(), "SENTRYBOT_TEST_AS_MAIN=1")
	for k, v := range s.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	c := &crashChild{cmd: cmd, stderr: &testkit.LogBuffer{}, exited: make(chan error, 1)}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case err := <-c.exited:
			c.exited <- err
		default:
			cmd.Process.Kill()
			<-c.exited
		}
		for _, secret := range []string{testAppToken, testBotToken, testSentryToken} {
			if strings.Contains(c.stderr.String(), secret) {
				t.Errorf("a secret appears in the process's log")
			}
		}
	})
	if err := s.slack.WaitConnected(s.ctx(), hellos); err != nil {
		t.Fatalf("sentrybot did not connect: %v\n%s", err, c.stderr)
	}
	return c
}

// slowReads serves Sentry's API with every GET held back by d, so that
// clicks are still in flight when the process dies. Other requests pass at
// once: a PUT the fake recorded is a PUT it applied.
func slowReads(t *testing.T, target string, d time.Duration) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	transport := &http.Transport{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.Transport = transport
	proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) {
		w.WriteHeader(http.StatusBadGateway) // the caller is gone when this happens: it was killed
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
		transport.CloseIdleConnections()
	})
	return "http://" + ln.Addr().String()
}

// integrityCheck opens the database file as a fresh process would and
// returns what PRAGMA integrity_check says.
func integrityCheck(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`PRAGMA integrity_check`)
	if err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// crashClick is one click of the stream: one per issue, so a second PUT on
// an issue can only be the same click applied twice.
type crashClick struct {
	envelopeID string
	env        []byte
	issueID    string
	user       string
	hook       string // the click's response_url
	action     string // the audit log's name for it
	body       string // the PUT Sentry must receive
}

// crashLink is one link shared in the stream.
type crashLink struct {
	ls         slackfake.LinkShared
	envelopeID string
	env        []byte
}

func TestSIGKILLUnderLoad(t *testing.T) {
	const issues = 24
	s := newE2E(t, nil)
	type person struct{ slackID, memberID, userID, email string }
	people := []person{
		{triageAlice, triageAliceMember, triageAliceUser, "alice@acme.test"},
		{triageBob, "202", triageBobUser, "bob@acme.test"},
	}
	for _, p := range people {
		s.slack.AddUser(slack.User{ID: p.slackID, TeamID: triageTeam, Name: strings.ToLower(strings.TrimPrefix(p.slackID, "U0")),
			Profile: slack.UserProfile{Email: p.email}, IsEmailConfirmed: true})
		s.sentry.AddMember(sentryfake.NewMember(p.memberID, p.userID, p.email, p.slackID, "member"))
	}
	for i := range issues {
		id := fmt.Sprint(7001 + i)
		s.sentry.AddIssue(sentryfake.NewIssue(id, "BACKEND-"+id, "ValueError: bad input "+id))
	}
	// Both people linked, as /sentry link would leave them: members with
	// the org role "member", so they may resolve, archive and assign.
	func() {
		db, err := store.Open(s.ctx(), s.env["SENTRYBOT_DB"])
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, p := range people {
			if err := db.LinkIdentity(s.ctx(), store.Identity{TeamID: triageTeam, SlackUserID: p.slackID, MemberID: p.memberID,
				SentryUserID: p.userID, Email: p.email, OrgRole: "member", Method: "email", LinkedBy: p.slackID}); err != nil {
				t.Fatal(err)
			}
		}
	}()
	s.env["SENTRY_URL"] = slowReads(t, s.sentry.URL(), 40*time.Millisecond)

	first := startCrashChild(t, s, 1)

	// Every issue gets a card in the channel first.
	cards := make([]triageCard, issues)
	for i := range cards {
		id := fmt.Sprint(7001 + i)
		cards[i] = triageCard{issueID: id, url: "https://acme.sentry.io/issues/" + id + "/",
			channel: triageChannel, ts: fmt.Sprintf("1732840000.%06d", i+1)}
		eid, env := linkShared(cards[i].channel, cards[i].ts, cards[i].url)
		s.send(env, eid)
	}
	s.unfurls(issues)

	// The stream: a click on every card, each followed by the link pasted
	// again in a new message.
	var clicks []crashClick
	var links []crashLink
	for i, card := range cards {
		c := crashClick{issueID: card.issueID, user: people[i%2].slackID}
		click := triageClick{user: c.user, card: card, actionTS: fmt.Sprintf("1732840100.%06d", i+1)}
		switch i % 3 {
		case 0:
			click.actionID, c.action, c.body = blocks.ActionResolve, "resolve", `{"status":"resolved"}`
		case 1:
			click.actionID, click.option = blocks.ActionArchive, blocks.ArchiveForever
			c.action, c.body = "archive", `{"status":"ignored","substatus":"archived_forever"}`
		case 2:
			click.actionID, click.option = blocks.ActionAssign, "user:"+triageBobUser
			c.action, c.body = "assign", `{"assignedTo":"user:2002"}`
		}
		c.hook = s.slack.ResponseURL("actions")
		c.envelopeID, c.env = slackfake.BlockActionsEnvelope(click.action(c.hook))
		clicks = append(clicks, c)

		l := crashLink{ls: slackfake.LinkShared{TeamID: triageTeam, Channel: triageChannel, User: c.user,
			MessageTS: fmt.Sprintf("1732840200.%06d", i+1), Source: "conversations_history", EventID: nextEventID(),
			IsBotUserMember: true, URLs: []string{card.url}}}
		l.envelopeID, l.env = slackfake.LinkSharedEnvelope(l.ls)
		links = append(links, l)
	}

	stop := make(chan struct{})
	var streamer sync.WaitGroup
	streamer.Go(func() {
		for i := range clicks {
			for _, env := range [][]byte{clicks[i].env, links[i].env} {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_ = s.slack.Send(ctx, env) // a send to the dying socket may fail: Slack would see no ack
				cancel()
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
	// Kill it the moment a second click reaches Sentry: that click is
	// between its PUT and the end of its work, and the clicks behind it are
	// acknowledged and still in flight.
	deadline := time.Now().Add(10 * time.Second)
	for len(putsByIssue(t, s.sentry.Requests())) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no click reached Sentry\n%s", first.stderr)
		}
		time.Sleep(time.Millisecond)
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-first.exited; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the first process ended with %v, want killed", err)
	}
	first.exited <- nil
	close(stop)
	streamer.Wait()

	if got := integrityCheck(t, s.env["SENTRYBOT_DB"]); got != "ok" {
		t.Fatalf("integrity_check after SIGKILL = %q", got)
	}
	acked := map[string]bool{}
	for _, a := range s.slack.Acks() {
		acked[a.EnvelopeID] = true
	}
	putsAtKill := putsByIssue(t, s.sentry.Requests())
	pending := 0
	for _, c := range clicks {
		if acked[c.envelopeID] && len(putsAtKill[c.issueID]) == 0 {
			pending++
		}
	}
	t.Logf("at the kill: %d of %d clicks acknowledged, %d of them not yet applied", countAcked(acked, clicks), len(clicks), pending)

	// The same binary again, on the same database.
	second := startCrashChild(t, s, 2)
	// Slack delivers again every event it has no ack for; clicks are not
	// delivered again (their user saw an error instead).
	for _, l := range links {
		if !acked[l.envelopeID] {
			ls := l.ls
			ls.RetryAttempt = 1
			id, env := slackfake.LinkSharedEnvelope(ls)
			s.send(env, id)
		}
	}
	// Every acknowledged click ends up applied, and every link unfurled.
	waitUntil := time.Now().Add(15 * time.Second)
	for {
		puts := putsByIssue(t, s.sentry.Requests())
		missing := []string{}
		for _, c := range clicks {
			if acked[c.envelopeID] && len(puts[c.issueID]) == 0 {
				missing = append(missing, "click on "+c.issueID)
			}
		}
		for _, l := range links {
			if len(s.unfurlsOf(l.ls.MessageTS)) == 0 {
				missing = append(missing, "link in "+l.ls.MessageTS)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(waitUntil) {
			t.Fatalf("after the restart, never done: %v\nfirst process, last lines:\n%s\nsecond process, last lines:\n%s",
				missing, lastLines(first.stderr.String(), 30), lastLines(second.stderr.String(), 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A clean stop drains what is still running; after it, nothing more
	// can reach Sentry.
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-second.exited:
		second.exited <- err
		if err != nil {
			t.Fatalf("the second process exited with %v\n%s", err, second.stderr)
		}
	case <-time.After(12 * time.Second):
		t.Fatal("the second process did not stop within the drain cap")
	}

	if got := integrityCheck(t, s.env["SENTRYBOT_DB"]); got != "ok" {
		t.Fatalf("integrity_check after the restart = %q", got)
	}
	db, err := store.Open(s.ctx(), s.env["SENTRYBOT_DB"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	puts := putsByIssue(t, s.sentry.Requests())
	for i, c := range clicks {
		got := puts[c.issueID]
		if len(got) > 1 {
			t.Errorf("issue %s: the click was applied %d times: %s", c.issueID, len(got), triageDescribe(got))
			continue
		}
		if len(got) == 0 {
			if acked[c.envelopeID] {
				t.Errorf("issue %s: the acknowledged click was never applied", c.issueID)
			}
			continue
		}
		triageSameJSON(t, "PUT body of "+c.issueID, got[0].Body, c.body)
		// The channel sees the card change: a chat.unfurl after the one
		// that first drew it.
		if n := len(s.unfurlsOf(cards[i].ts)); n < 2 {
			t.Errorf("issue %s: changed in Sentry, its card was never redrawn", c.issueID)
		}
		// Sentry has the change: the audit log must say who made it and
		// that it was made, exactly once as "ok".
		es, err := db.Audit(s.ctx(), store.AuditFilter{IssueID: c.issueID})
		if err != nil {
			t.Fatal(err)
		}
		oks := 0
		for _, e := range es {
			if e.UserID != c.user || e.Action != c.action || e.Decision != "allow" || !strings.HasPrefix(e.Outcome, "ok") {
				t.Errorf("issue %s: audit entry %+v, want %s's %s allowed with an ok outcome", c.issueID, e, c.user, c.action)
			}
			if e.Outcome == "ok" {
				oks++
			}
		}
		if len(es) == 0 || oks > 1 {
			t.Errorf("issue %s: Sentry got the change, the audit log has %+v", c.issueID, es)
		}
	}
	// Nothing in the audit log that Sentry never received.
	all, err := db.Audit(s.ctx(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		if e.Outcome == "ok" && len(puts[e.IssueID]) == 0 {
			t.Errorf("the audit log says %s on %s was made, Sentry never got it", e.Action, e.IssueID)
		}
	}
	// A click done again after the restart may tell its user the issue is
	// already so, or that it was finished after the restart; it never
	// reports a failure.
	hooks := map[string]bool{}
	for _, c := range clicks {
		hooks[c.hook] = true
	}
	for _, c := range s.slack.Calls("response_url") {
		var m slack.WebhookMessage
		if err := json.Unmarshal(c.JSON, &m); err != nil {
			t.Fatalf("decoding a response_url post: %v", err)
		}
		if !hooks[c.Hook] || m.ResponseType != slack.ResponseTypeEphemeral || !(strings.Contains(m.Text, " is already ") || strings.HasPrefix(m.Text, "Done (finished after sentrybot restarted)")) {
			t.Errorf("a clicker was told %q (%s)", m.Text, m.ResponseType)
		}
	}
	for _, l := range links {
		if n := len(s.unfurlsOf(l.ls.MessageTS)); n > 1 {
			t.Logf("link in %s unfurled %d times (killed between the unfurl and its completion)", l.ls.MessageTS, n)
		}
	}
}

func countAcked(acked map[string]bool, clicks []crashClick) int {
	n := 0
	for _, c := range clicks {
		if acked[c.envelopeID] {
			n++
		}
	}
	return n
}

// lastLines is the end of a log, n lines at most.
func lastLines(log string, n int) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// putsByIssue groups the well-formed PUTs Sentry received by issue id.
func putsByIssue(t *testing.T, reqs []sentryfake.Request) map[string][]sentryfake.Request {
	t.Helper()
	out := map[string][]sentryfake.Request{}
	for _, r := range reqs {
		if r.Method != http.MethodPut || !json.Valid(r.Body) {
			continue
		}
		id := strings.TrimSuffix(strings.TrimPrefix(r.Path, "/api/0/organizations/acme/issues/"), "/")
		out[id] = append(out[id], r)
	}
	return out
}
