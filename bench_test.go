package main

import (
	"fmt"
	"testing"

	"github.com/slack-go/slack"

	"sentrybot/blocks"
	"sentrybot/internal/sentryfake"
	"sentrybot/internal/slackfake"
)

// BenchmarkUnfurlPath measures one pasted link end to end: envelope over the
// websocket, ack, Sentry fetch over loopback, card rendering and chat.unfurl.
// "cold" fetches a different issue every time; "shared" is the same issue,
// answered from the short-lived cache after the first fetch.
func BenchmarkUnfurlPath(b *testing.B) {
	for _, mode := range []string{"cold", "shared"} {
		b.Run(mode, func(b *testing.B) {
			s := newE2E(b, map[string]string{"SENTRYBOT_LOG_LEVEL": "warn"})
			s.start()
			const issues = 2000
			for i := range issues {
				id := fmt.Sprint(100000 + i)
				s.sentry.AddIssue(sentryfake.NewIssue(id, fmt.Sprintf("BENCH-%d", i), "Benchmark error "+id))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				id := "100000"
				if mode == "cold" {
					id = fmt.Sprint(100000 + i%issues)
				}
				envID, env := slackfake.LinkSharedEnvelope(slackfake.LinkShared{
					TeamID: "T0001", Channel: "C0BENCH", User: "U0ALICE", MessageTS: fmt.Sprintf("1732810000.%06d", i),
					Source: "conversations_history", EventID: fmt.Sprintf("EvB%s%d", mode, i),
					URLs: []string{"https://acme.sentry.io/issues/" + id + "/"},
				})
				if err := s.slack.Send(s.ctx(), env); err != nil {
					b.Fatal(err)
				}
				if _, err := s.slack.WaitAck(s.ctx(), envID); err != nil {
					b.Fatal(err)
				}
				if _, err := s.slack.WaitCalls(s.ctx(), "chat.unfurl", i+1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTriageClick measures one card click end to end: envelope, ack,
// authorization (membership cached), Sentry's current state, the PUT, the
// re-read, the audit entry and the card updated with chat.unfurl. Clicks
// alternate Resolve and Unresolve so every one changes the issue.
func BenchmarkTriageClick(b *testing.B) {
	s := newE2E(b, map[string]string{"SENTRYBOT_LOG_LEVEL": "warn"})
	s.sentry.AddMember(sentryfake.NewMember("11", "101", "alice@acme.example", "Alice", "member"))
	s.slack.AddUser(benchUser())
	s.start()
	cmdID, cmd := slackfake.SlashCommandEnvelope(slackfake.SlashCommand{TeamID: "T0001", ChannelID: "C0BENCH", UserID: "U0ALICE",
		Text: "link", ResponseURL: s.slack.ResponseURL("cmd")})
	s.send(cmd, cmdID)
	if _, err := s.slack.WaitCalls(s.ctx(), "response_url", 1); err != nil {
		b.Fatal(err)
	}
	url := "https://acme.sentry.io/issues/4321/"
	id, env := linkShared("C0BENCH", "1732810000.000001", url)
	s.send(env, id)
	s.unfurls(1)

	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		action := blocks.ActionResolve
		if i%2 == 1 {
			action = blocks.ActionUnresolve
		}
		envID, env := slackfake.BlockActionsEnvelope(slackfake.BlockAction{TeamID: "T0001", UserID: "U0ALICE", ChannelID: "C0BENCH",
			MessageTS: "1732810000.000001", InUnfurl: true, UnfurlURL: url, ActionID: action, BlockID: "issue_actions:4321",
			Value: "4321", ResponseURL: s.slack.ResponseURL("click"), ActionTS: fmt.Sprintf("1732810300.%06d", i)})
		if err := s.slack.Send(s.ctx(), env); err != nil {
			b.Fatal(err)
		}
		if _, err := s.slack.WaitAck(s.ctx(), envID); err != nil {
			b.Fatal(err)
		}
		if _, err := s.slack.WaitCalls(s.ctx(), "chat.unfurl", i+2); err != nil {
			b.Fatal(err)
		}
	}
}

func benchUser() slack.User {
	return slack.User{ID: "U0ALICE", TeamID: "T0001", Name: "alice", IsEmailConfirmed: true,
		Profile: slack.UserProfile{Email: "alice@acme.example"}}
}
