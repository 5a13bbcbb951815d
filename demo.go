package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"sentrybot/blocks"
	"sentrybot/bot"
	"sentrybot/config"
	"sentrybot/internal/sentryfake"
	"sentrybot/internal/slackfake"
	"sentrybot/store"
)

// The demo runs the real bot, wired exactly as `run` wires it, against the
// in-process Slack and Sentry fakes, and narrates what happens.
const (
	demoOrg      = "acme"
	demoAppToken = "xapp-1-A0DEMO-1-demo"
	demoBotToken = "xoxb-1-demo"
	demoSentry   = "sntrys_demo_token"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return usageError(fmt.Errorf("demo takes no arguments (got %q)", strings.Join(args, " ")))
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	say := func(format string, a ...any) { fmt.Fprintf(stdout, format+"\n", a...) }

	sentrySrv := sentryfake.New(sentryfake.Options{Org: demoOrg, Token: demoSentry})
	defer sentrySrv.Close()
	slackSrv := slackfake.New(slackfake.Options{AppToken: demoAppToken, BotToken: demoBotToken})
	defer slackSrv.Close()

	crash := sentryfake.NewIssue("4321", "BACKEND-1A2", "TypeError: Cannot read properties of undefined (reading 'total')")
	sentrySrv.AddIssue(crash)
	// Alice is a Sentry member (member id 11, user id 101) and a Slack user
	// with the same confirmed email.
	sentrySrv.AddMember(sentryfake.NewMember("11", "101", "alice@acme.example", "Alice Doe", "member"))
	slackSrv.AddUser(slack.User{ID: "U0ALICE", TeamID: "T0001", Name: "alice", IsEmailConfirmed: true,
		Profile: slack.UserProfile{Email: "alice@acme.example", RealName: "Alice Doe"}})

	dir, err := os.MkdirTemp("", "sentrybot-demo-")
	if err != nil {
		return fmt.Errorf("demo: making a temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)

	env := map[string]string{
		"SLACK_APP_TOKEN":   demoAppToken,
		"SLACK_BOT_TOKEN":   demoBotToken,
		"SLACK_API_URL":     slackSrv.APIURL(),
		"SENTRY_URL":        sentrySrv.URL(),
		"SENTRY_ORG":        demoOrg,
		"SENTRY_AUTH_TOKEN": demoSentry,
		"SENTRY_LINK_HOSTS": "sentry.io",
		"SENTRYBOT_DB":      filepath.Join(dir, "sentrybot.db"),
	}
	cfg, err := config.Load("", func(k string) string { return env[k] })
	if err != nil {
		return fmt.Errorf("demo: configuration: %w", err)
	}
	// The bot's own log goes to stderr at warn, so the transcript stays readable.
	log := zerolog.New(stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	a, err := newApp(ctx, cfg, log, appOptions{bot: bot.Config{BackoffBase: 50 * time.Millisecond}})
	if err != nil {
		return err
	}
	botCtx, stopBot := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- a.serve(botCtx) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		stopBot()
		return <-served
	}
	defer stop()

	say("sentrybot demo: the real bot against simulated Slack (%s) and Sentry (%s)", slackSrv.APIURL(), sentrySrv.URL())
	say("")
	if err := slackSrv.WaitConnected(ctx, 1); err != nil {
		return fmt.Errorf("demo: the bot did not connect: %w", err)
	}
	say("1. The bot opened a Socket Mode connection (apps.connections.open, then the websocket; Slack said hello).")

	link := "https://acme.sentry.io/issues/4321/?project=2&referrer=slack"
	say("")
	say("2. Alice pastes a Sentry link in #backend:")
	say("     %s", link)
	id, envelope := slackfake.LinkSharedEnvelope(slackfake.LinkShared{
		TeamID: "T0001", Channel: "C0BACKEND", User: "U0ALICE", MessageTS: "1732810000.123456",
		UnfurlID: "C0BACKEND.1732810000.123456.7a1b", Source: "conversations_history", EventID: "Ev0DEMO1",
		IsBotUserMember: true, URLs: []string{link},
	})
	sent := time.Now()
	if err := slackSrv.Send(ctx, envelope); err != nil {
		return fmt.Errorf("demo: delivering link_shared: %w", err)
	}
	ack, err := slackSrv.WaitAck(ctx, id)
	if err != nil {
		return fmt.Errorf("demo: waiting for the ack: %w", err)
	}
	say("   Slack → bot: link_shared envelope %s", id)
	say("   bot → Slack: ack after %s", ack.At.Sub(sent).Round(time.Microsecond))
	calls, err := slackSrv.WaitCalls(ctx, "chat.unfurl", 1)
	if err != nil {
		return fmt.Errorf("demo: waiting for chat.unfurl: %w", err)
	}
	say("   bot → Sentry: %s", describeRequests(sentrySrv.Requests()))
	say("   bot → Slack: chat.unfurl %s after %s", unfurlTarget(calls[0]), calls[0].At.Sub(sent).Round(time.Microsecond))
	unfurls, err := calls[0].Unfurls()
	if err != nil {
		return fmt.Errorf("demo: reading the unfurl: %w", err)
	}
	say("")
	say("   The card everyone in #backend now sees:")
	say("%s", indent(blocks.PlainText(unfurls[link].Blocks.BlockSet), "   │ "))

	say("")
	say("3. Bob pastes a link to an issue that does not exist, and one of another organization:")
	missing := "https://acme.sentry.io/issues/9999/"
	foreign := "https://other.sentry.io/issues/4321/"
	say("     %s", missing)
	say("     %s", foreign)
	before := len(slackSrv.Calls("chat.unfurl"))
	id, envelope = slackfake.LinkSharedEnvelope(slackfake.LinkShared{
		TeamID: "T0001", Channel: "C0BACKEND", User: "U0BOB", MessageTS: "1732810100.000200",
		Source: "conversations_history", EventID: "Ev0DEMO2", URLs: []string{missing, foreign},
	})
	if err := slackSrv.Send(ctx, envelope); err != nil {
		return fmt.Errorf("demo: delivering link_shared: %w", err)
	}
	if _, err := slackSrv.WaitAck(ctx, id); err != nil {
		return fmt.Errorf("demo: waiting for the ack: %w", err)
	}
	// The bot asks Sentry once for the missing issue and never for the foreign one.
	deadline := time.Now().Add(5 * time.Second)
	for countPath(sentrySrv.Requests(), "/issues/9999/") == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	say("   Sentry answered 404 for 9999: no broken card is posted (chat.unfurl calls: %d → %d);", before, len(slackSrv.Calls("chat.unfurl")))
	say("   the other organization's link was never looked up (Sentry calls for it: %d).", countPath(sentrySrv.Requests(), "/organizations/other/"))

	say("")
	say("4. Alice types /sentry help:")
	help, err := demoCommand(ctx, slackSrv, "help")
	if err != nil {
		return err
	}
	say("%s", indent(help, "   │ "))

	say("")
	say("5. Alice types /sentry link (her confirmed Slack email matches one Sentry member):")
	linked, err := demoCommand(ctx, slackSrv, "link")
	if err != nil {
		return err
	}
	say("%s", indent(linked, "   │ "))

	say("")
	say("6. Alice clicks Resolve on the card:")
	beforeUnfurls := len(slackSrv.Calls("chat.unfurl"))
	id, envelope = slackfake.BlockActionsEnvelope(slackfake.BlockAction{
		TeamID: "T0001", UserID: "U0ALICE", ChannelID: "C0BACKEND", MessageTS: "1732810000.123456",
		InUnfurl: true, UnfurlURL: link, ActionID: blocks.ActionResolve, BlockID: "issue_actions:4321", Value: "4321",
		Text: "Resolve", ResponseURL: slackSrv.ResponseURL("click"), ActionTS: "1732810200.331110",
	})
	if err := slackSrv.Send(ctx, envelope); err != nil {
		return fmt.Errorf("demo: delivering the click: %w", err)
	}
	if _, err := slackSrv.WaitAck(ctx, id); err != nil {
		return fmt.Errorf("demo: waiting for the ack: %w", err)
	}
	calls, err = slackSrv.WaitCalls(ctx, "chat.unfurl", beforeUnfurls+1)
	if err != nil {
		return fmt.Errorf("demo: waiting for the card update: %w", err)
	}
	for _, r := range sentrySrv.Requests() {
		if r.Method == "PUT" {
			say("   bot → Sentry: PUT %s %s", r.Path, strings.TrimSpace(string(r.Body)))
		}
	}
	unfurls, err = calls[len(calls)-1].Unfurls()
	if err != nil {
		return fmt.Errorf("demo: reading the updated card: %w", err)
	}
	say("   bot → Slack: chat.unfurl on the same message; the card, updated in place for everyone:")
	say("%s", indent(blocks.PlainText(unfurls[link].Blocks.BlockSet), "   │ "))

	say("")
	if err := stop(); err != nil {
		return fmt.Errorf("demo: the bot stopped with an error: %w", err)
	}
	say("7. SIGTERM: the bot stopped taking work, finished what was in flight and closed its store.")
	entries, err := demoAudit(ctx, env["SENTRYBOT_DB"])
	if err != nil {
		return err
	}
	say("")
	say("The audit log (sentrybot audit):")
	say("%s", indent(entries, "   "))
	say("")
	say("Slack Web API calls made: %s", strings.Join(slackSrv.MethodsCalled(), ", "))
	return nil
}

// demoCommand types /sentry text as Alice and returns the private answer.
func demoCommand(ctx context.Context, srv *slackfake.Server, text string) (string, error) {
	before := len(srv.Calls("response_url"))
	id, envelope := slackfake.SlashCommandEnvelope(slackfake.SlashCommand{
		TeamID: "T0001", ChannelID: "C0BACKEND", UserID: "U0ALICE", UserName: "alice", Text: text,
		ResponseURL: srv.ResponseURL("cmd"),
	})
	if err := srv.Send(ctx, envelope); err != nil {
		return "", fmt.Errorf("demo: delivering /sentry %s: %w", text, err)
	}
	if _, err := srv.WaitAck(ctx, id); err != nil {
		return "", fmt.Errorf("demo: waiting for the ack of /sentry %s: %w", text, err)
	}
	calls, err := srv.WaitCalls(ctx, "response_url", before+1)
	if err != nil {
		return "", fmt.Errorf("demo: waiting for the answer to /sentry %s: %w", text, err)
	}
	bs, err := calls[len(calls)-1].Blocks()
	if err != nil {
		return "", fmt.Errorf("demo: reading the answer to /sentry %s: %w", text, err)
	}
	return blocks.PlainText(bs.BlockSet), nil
}

// demoAudit reads the audit log the way `sentrybot audit` prints it.
func demoAudit(ctx context.Context, path string) (string, error) {
	db, err := store.Open(ctx, path)
	if err != nil {
		return "", fmt.Errorf("demo: opening the store: %w", err)
	}
	defer db.Close()
	entries, err := db.Audit(ctx, store.AuditFilter{})
	if err != nil {
		return "", fmt.Errorf("demo: reading the audit log: %w", err)
	}
	var b strings.Builder
	if err := writeAuditTable(&b, entries); err != nil {
		return "", err
	}
	return b.String(), nil
}

func unfurlTarget(c slackfake.Call) string {
	if id := c.Form.Get("unfurl_id"); id != "" {
		return "by unfurl_id " + id + " (" + c.Form.Get("source") + ")"
	}
	return "in " + c.Form.Get("channel") + " at " + c.Form.Get("ts")
}

func describeRequests(rs []sentryfake.Request) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, r.Method+" "+r.Path)
	}
	if len(parts) == 0 {
		return "(none)"
	}
	return strings.Join(parts, "; ")
}

func countPath(rs []sentryfake.Request, sub string) int {
	n := 0
	for _, r := range rs {
		if strings.Contains(r.Path, sub) {
			n++
		}
	}
	return n
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}
