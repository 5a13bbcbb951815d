package main

import (
	"fmt"
	"testing"

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
