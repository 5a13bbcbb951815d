package alerts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"sentrybot/internal/slackfake"
	"sentrybot/sentry"
	"sentrybot/store"
)

func TestRouting(t *testing.T) {
	ctx := context.Background()

	t.Run("Precedence", func(t *testing.T) {
		h := newHarness(t)
		h.opts.DefaultChannel = "C0DEFAULT"
		h.opts.RuleChannels = map[string]string{"Mapped": "C0MAP"}
		if _, _, err := h.db.AddSubscription(ctx, store.Subscription{ChannelID: "C0SUB", Query: "level:fatal"}); err != nil {
			t.Fatal(err)
		}
		// Subscribed to other projects: an issue of web never matches it.
		pollSub, _, err := h.db.AddSubscription(ctx, store.Subscription{ChannelID: "C0POLL", Projects: []string{"api"}, Query: "level:debug"})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"1", "2", "3"} {
			h.setIssue(testIssue(id, level("fatal")))
		}
		svc, _ := h.start(t)

		want := map[string]struct{ channel, footer string }{}
		send := func(a Alert, channel, footer string) {
			t.Helper()
			want[a.IssueID] = struct{ channel, footer string }{channel, footer}
			receive(t, svc, a)
		}
		// The rule's own channel wins over the configured one.
		send(Alert{Kind: KindEventAlert, Action: "triggered", IssueID: "1", Rule: "Mapped", RuleChannel: "C0RULE", DeliveryID: "d1"},
			"C0RULE", ":rotating_light: Alert rule *Mapped*")
		// The configured channel wins over a matching subscription.
		send(Alert{Kind: KindEventAlert, Action: "triggered", IssueID: "2", Rule: "Mapped", DeliveryID: "d2"},
			"C0MAP", ":rotating_light: Alert rule *Mapped*")
		// A rule with no channel: the subscriptions decide.
		send(Alert{Kind: KindEventAlert, Action: "triggered", IssueID: "3", Rule: "Other", DeliveryID: "d3"},
			"C0SUB", ":rotating_light: Alert rule *Other*")
		send(Alert{Kind: KindIssue, Action: "created", IssueID: "4", Issue: testIssue("4", level("fatal")), DeliveryID: "d4"},
			"C0SUB", "New issue matching your subscription `level:fatal`")
		// No subscription matches: the default channel.
		send(Alert{Kind: KindIssue, Action: "created", IssueID: "5", Issue: testIssue("5"), DeliveryID: "d5"},
			"C0DEFAULT", "New issue")
		// The poller's alert goes to its subscription's channel, whatever
		// the local matcher would say.
		send(Alert{Kind: KindPoll, Action: "created", IssueID: "6", Issue: testIssue("6"), SubscriptionID: pollSub.ID, DeliveryID: "d6"},
			"C0POLL", "New issue matching your subscription `level:debug`")

		posts := h.waitPosts(t, len(want))
		h.settle(t, len(want))
		for _, c := range posts {
			id := cardIssue(t, c)
			w, ok := want[id]
			if !ok {
				t.Errorf("unexpected post of issue %s", id)
				continue
			}
			if got := c.Arg("channel"); got != w.channel {
				t.Errorf("issue %s posted to %s, want %s", id, got, w.channel)
			}
			if text := cardText(t, attachments(t, c)[0]); !strings.Contains(text, w.footer) {
				t.Errorf("issue %s card lacks footer %q: %s", id, w.footer, text)
			}
			if c.Arg("thread_ts") != "" {
				t.Errorf("issue %s posted in a thread", id)
			}
		}
		h.waitCard(t, "1", "C0RULE")
		if !strings.Contains(posts[0].Arg("text"), "WEB-") {
			t.Errorf("notification text %q does not name the issue", posts[0].Arg("text"))
		}
	})

	t.Run("DroppedWithoutRoute", func(t *testing.T) {
		h := newHarness(t)
		svc, _ := h.start(t)
		receive(t, svc, Alert{Kind: KindIssue, Action: "created", IssueID: "1", Issue: testIssue("1"), DeliveryID: "d1"})
		h.waitDepth(t, svc, 0)
		waitFor(t, "the drop log line", func() bool { return strings.Contains(h.logs.String(), "alert dropped") })
		if logs := h.logs.String(); !strings.Contains(logs, "no subscription matches and no default channel is set") {
			t.Errorf("drop log does not say why:\n%s", logs)
		}
		h.settle(t, 0)
	})

	t.Run("DroppedWhenIssueIsGone", func(t *testing.T) {
		h := newHarness(t)
		h.opts.DefaultChannel = "C0DEFAULT"
		svc, _ := h.start(t)
		receive(t, svc, Alert{Kind: KindEventAlert, Action: "triggered", IssueID: "404", Rule: "R", DeliveryID: "d1"})
		h.waitDepth(t, svc, 0)
		waitFor(t, "the drop log line", func() bool { return strings.Contains(h.logs.String(), "issue 404 not found") })
		h.settle(t, 0)
	})

	t.Run("FetchRetried", func(t *testing.T) {
		h := newHarness(t)
		h.opts.DefaultChannel = "C0DEFAULT"
		h.setIssue(testIssue("7"))
		h.fetchErr["7"] = []error{&sentry.Error{Kind: sentry.KindServer, StatusCode: 502}, &sentry.Error{Kind: sentry.KindTimeout}}
		svc, _ := h.start(t)
		receive(t, svc, Alert{Kind: KindEventAlert, Action: "triggered", IssueID: "7", Rule: "R", DeliveryID: "d1"})
		posts := h.waitPosts(t, 1)
		if id := cardIssue(t, posts[0]); id != "7" {
			t.Errorf("posted issue %s, want 7", id)
		}
		if logs := h.logs.String(); strings.Count(logs, "alert will be retried") != 2 {
			t.Errorf("want two retries logged:\n%s", logs)
		}
	})

	t.Run("ReceiveNeedsAnIssue", func(t *testing.T) {
		h := newHarness(t)
		if err := h.service().Receive(ctx, Alert{Kind: KindEventAlert, DeliveryID: "x"}); err == nil {
			t.Error("Receive of an alert without an issue succeeded")
		}
	})
}

func TestThreading(t *testing.T) {
	ctx := context.Background()

	t.Run("RepeatsGoIntoTheThread", func(t *testing.T) {
		h := newHarness(t)
		h.setIssue(testIssue("1"))
		h.setIssue(testIssue("2"))
		svc, _ := h.start(t)
		alert := func(id, delivery string, is *sentry.Issue) Alert {
			return Alert{Kind: KindEventAlert, Action: "triggered", IssueID: id, Issue: is, Rule: "R", RuleChannel: "C0ALERTS", DeliveryID: delivery}
		}

		receive(t, svc, alert("1", "d1", nil))
		first := h.waitPosts(t, 1)[0]
		root := h.waitCard(t, "1", "C0ALERTS").TS
		if first.Arg("thread_ts") != "" {
			t.Fatalf("first alert posted in a thread")
		}

		receive(t, svc, alert("1", "d2", nil))
		second := h.waitPosts(t, 2)[1]
		if got := second.Arg("thread_ts"); got != root {
			t.Errorf("second alert thread_ts = %q, want %q", got, root)
		}
		if second.Arg("reply_broadcast") == "true" {
			t.Error("a plain repeat was broadcast to the channel")
		}

		receive(t, svc, alert("1", "d3", testIssue("1", substatus(sentry.SubstatusEscalating))))
		third := h.waitPosts(t, 3)[2]
		if got := third.Arg("thread_ts"); got != root {
			t.Errorf("escalation thread_ts = %q, want %q", got, root)
		}
		if third.Arg("reply_broadcast") != "true" {
			t.Error("an escalation was not broadcast to the channel")
		}

		// An alert message older than ThreadWindow starts no thread.
		if err := h.db.RecordCard(ctx, store.Card{IssueID: "2", ChannelID: "C0ALERTS", TS: "1000.000001", Kind: store.CardMessage,
			Alert: true, PostedAt: time.Now().Add(-25 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		receive(t, svc, alert("2", "d4", nil))
		fourth := h.waitPosts(t, 4)[3]
		if fourth.Arg("thread_ts") != "" {
			t.Errorf("alert after the thread window went into thread %s", fourth.Arg("thread_ts"))
		}

		// Unresolved again: the cards change, and the thread hears of it
		// in a reply also shown in the channel.
		regressed := testIssue("1", substatus(sentry.SubstatusRegressed))
		receive(t, svc, Alert{Kind: KindIssue, Action: "unresolved", IssueID: "1", Issue: regressed, DeliveryID: "d5"})
		fifth := h.waitPosts(t, 5)[4]
		if fifth.Arg("thread_ts") != root || fifth.Arg("reply_broadcast") != "true" {
			t.Errorf("unresolved reply: thread_ts %q broadcast %q, want %q and true", fifth.Arg("thread_ts"), fifth.Arg("reply_broadcast"), root)
		}
		if text := cardText(t, attachments(t, fifth)[0]); !strings.Contains(text, "Regressed") {
			t.Errorf("unresolved reply does not say regressed: %s", text)
		}
		// Root and two replies of issue 1 were redrawn.
		updates, err := h.fake.WaitCalls(ctx, "chat.update", 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range okCalls(updates) {
			if u.Arg("channel") != "C0ALERTS" {
				t.Errorf("update in %s", u.Arg("channel"))
			}
		}
		h.settle(t, 5)
	})

	t.Run("ChannelNamedByName", func(t *testing.T) {
		h := newHarness(t)
		h.setIssue(testIssue("3"))
		// Slack takes a #name and answers with the channel id.
		var mu sync.Mutex
		var asked []string
		h.api = &slackFns{Slack: h.client, PostFn: func(ctx context.Context, ch string, opts ...slack.MsgOption) (string, string, error) {
			mu.Lock()
			asked = append(asked, ch)
			mu.Unlock()
			if ch == "#general" {
				ch = "C0GENERAL"
			}
			return h.client.PostMessageContext(ctx, ch, opts...)
		}}
		svc, stop := h.start(t)
		a := Alert{Kind: KindEventAlert, Action: "triggered", IssueID: "3", Rule: "R", RuleChannel: "#general", DeliveryID: "d1"}
		receive(t, svc, a)
		h.waitPosts(t, 1)
		card := h.waitCard(t, "3", "C0GENERAL")
		a.DeliveryID = "d2"
		receive(t, svc, a)
		second := h.waitPosts(t, 2)[1]
		if second.Arg("thread_ts") != card.TS {
			t.Errorf("second alert thread_ts = %q, want %q", second.Arg("thread_ts"), card.TS)
		}
		h.settle(t, 2)

		// The id is remembered across a restart.
		stop()
		svc2, _ := h.start(t)
		a.DeliveryID = "d3"
		receive(t, svc2, a)
		third := h.waitPosts(t, 3)[2]
		if third.Arg("thread_ts") != card.TS {
			t.Errorf("alert after a restart: thread_ts = %q, want %q", third.Arg("thread_ts"), card.TS)
		}
		h.settle(t, 3)
		mu.Lock()
		defer mu.Unlock()
		if want := []string{"#general", "C0GENERAL", "C0GENERAL"}; !slices.Equal(asked, want) {
			t.Errorf("posted to %v, want %v", asked, want)
		}
	})
}

func TestDigest(t *testing.T) {
	h := newHarness(t)
	h.opts.DefaultChannel = "C0BUSY"
	h.opts.DigestThreshold = 5
	svc := h.service()
	for i := 1; i <= 7; i++ {
		id := fmt.Sprint(i)
		receive(t, svc, Alert{Kind: KindIssue, Action: "created", IssueID: id, Issue: testIssue(id), DeliveryID: "d" + id})
	}
	h.start(t)
	digest := h.waitPosts(t, 1)[0]
	h.settle(t, 1)

	if text := digest.Arg("text"); text != "7 new issues in <#C0BUSY> in the last minute" {
		t.Errorf("digest text = %q", text)
	}
	bs, err := digest.Blocks()
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, b := range bs.BlockSet {
		if s, ok := b.(*slack.SectionBlock); ok && strings.HasPrefix(s.BlockID, BlockDigestRows) {
			rows = append(rows, strings.Split(s.Text.Text, "\n")...)
		}
	}
	if len(rows) != 7 {
		t.Fatalf("digest lists %d issues, want 7: %q", len(rows), rows)
	}
	for i, r := range rows {
		want := fmt.Sprintf(":large_orange_circle: *<https://acme.sentry.io/issues/%d/|WEB-%d>* Error number %d", i+1, i+1, i+1)
		if r != want {
			t.Errorf("row %d = %q, want %q", i, r, want)
		}
	}
	done, err := h.db.OutboxItems(context.Background(), store.ItemDone)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 7 {
		t.Errorf("%d outbox items done, want 7", len(done))
	}

	// A later alert, alone, is a card again.
	receive(t, svc, Alert{Kind: KindIssue, Action: "created", IssueID: "8", Issue: testIssue("8"), DeliveryID: "d8"})
	if id := cardIssue(t, h.waitPosts(t, 2)[1]); id != "8" {
		t.Errorf("posted issue %s, want 8", id)
	}
}

func TestPacing(t *testing.T) {
	h := newHarness(t)
	h.opts.ChannelInterval = 50 * time.Millisecond
	svc := h.service()
	for i := 1; i <= 6; i++ {
		id := fmt.Sprint(i)
		ch := "C0AAA"
		if i > 4 {
			ch = "C0BBB"
		}
		receive(t, svc, Alert{Kind: KindEventAlert, Action: "triggered", IssueID: id, Issue: testIssue(id), Rule: "R", RuleChannel: ch, DeliveryID: "d" + id})
	}
	h.start(t)
	posts := h.waitPosts(t, 6)
	h.settle(t, 6)

	last := map[string]time.Time{}
	var firstB, lastA time.Time
	for _, c := range posts {
		ch := c.Arg("channel")
		if prev, ok := last[ch]; ok {
			if gap := c.At.Sub(prev); gap < h.opts.ChannelInterval {
				t.Errorf("two posts to %s %v apart, want at least %v", ch, gap, h.opts.ChannelInterval)
			}
		}
		last[ch] = c.At
		switch {
		case ch == "C0BBB" && firstB.IsZero():
			firstB = c.At
		case ch == "C0AAA":
			lastA = c.At
		}
	}
	// Channels are paced apart: the second channel does not wait for
	// the first one's queue.
	if !firstB.Before(lastA) {
		t.Errorf("first post to C0BBB at %v, after the last to C0AAA at %v", firstB, lastA)
	}
}

func TestSync(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.setIssue(testIssue("1"))
	svc, _ := h.start(t)

	// A card the service posted.
	receive(t, svc, Alert{Kind: KindEventAlert, Action: "triggered", IssueID: "1", Rule: "Errors", RuleChannel: "C0ALERTS", DeliveryID: "d1"})
	h.waitPosts(t, 1)
	posted := h.waitCard(t, "1", "C0ALERTS")

	// A card unfurled into someone's message: Slack accepts chat.unfurl
	// only for links it told the app about.
	const link = "https://acme.sentry.io/issues/1/"
	const msgTS = "1700000000.000100"
	_, env := slackfake.LinkSharedEnvelope(slackfake.LinkShared{Channel: "C0CHAT", MessageTS: msgTS, URLs: []string{link}})
	sendCtx, cancel := context.WithCancel(ctx)
	cancel() // no socket is connected; the fake notes the links anyway
	if err := h.fake.Send(sendCtx, env); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, want context.Canceled", err)
	}
	if err := h.db.RecordCard(ctx, store.Card{IssueID: "1", ChannelID: "C0CHAT", TS: msgTS, UnfurlURL: link, Kind: store.CardUnfurl}); err != nil {
		t.Fatal(err)
	}
	// A card older than SyncWindow is left alone.
	if err := h.db.RecordCard(ctx, store.Card{IssueID: "1", ChannelID: "C0OLD", TS: "1.000001", Kind: store.CardMessage,
		PostedAt: time.Now().Add(-8 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}

	resolved := testIssue("1", status(sentry.StatusResolved, nil))
	if err := svc.IssueChanged(ctx, resolved); err != nil {
		t.Fatal(err)
	}
	updates, err := h.fake.WaitCalls(ctx, "chat.update", 1)
	if err != nil {
		t.Fatal(err)
	}
	unfurls, err := h.fake.WaitCalls(ctx, "chat.unfurl", 1)
	if err != nil {
		t.Fatal(err)
	}
	h.waitDepth(t, svc, 0)

	u := updates[0]
	if u.Error != "" || u.Arg("channel") != "C0ALERTS" || u.Arg("ts") != posted.TS {
		t.Errorf("chat.update %s/%s answered %q, want C0ALERTS/%s ok", u.Arg("channel"), u.Arg("ts"), u.Error, posted.TS)
	}
	text := cardText(t, attachments(t, u)[0])
	for _, want := range []string{"Resolved", "Unresolve", ":rotating_light: Alert rule *Errors*"} {
		if !strings.Contains(text, want) {
			t.Errorf("updated card lacks %q: %s", want, text)
		}
	}
	f := unfurls[0]
	if f.Error != "" || f.Arg("channel") != "C0CHAT" || f.Arg("ts") != msgTS {
		t.Errorf("chat.unfurl %s/%s answered %q, want C0CHAT/%s ok", f.Arg("channel"), f.Arg("ts"), f.Error, msgTS)
	}
	m, err := f.Unfurls()
	if err != nil {
		t.Fatal(err)
	}
	if att, ok := m[link]; !ok || !strings.Contains(cardText(t, att), "Resolved") {
		t.Errorf("unfurl of %s does not show the issue resolved: %+v", link, m)
	}

	// A change that arrives as an alert updates them the same way.
	archived := testIssue("1", status(sentry.StatusIgnored, ptr(sentry.SubstatusArchivedForever)))
	receive(t, svc, Alert{Kind: KindIssue, Action: "ignored", IssueID: "1", Issue: archived, DeliveryID: "d2"})
	updates, err = h.fake.WaitCalls(ctx, "chat.update", 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.fake.WaitCalls(ctx, "chat.unfurl", 2); err != nil {
		t.Fatal(err)
	}
	if text := cardText(t, attachments(t, updates[1])[0]); !strings.Contains(text, "Archived forever") {
		t.Errorf("second update does not show the issue archived: %s", text)
	}
	h.waitDepth(t, svc, 0)
	for _, c := range h.fake.Calls("chat.update") {
		if c.Arg("channel") == "C0OLD" {
			t.Error("a card older than SyncWindow was updated")
		}
	}
	if len(h.fake.Calls("chat.update")) != 2 || len(h.fake.Calls("chat.unfurl")) != 2 {
		t.Errorf("%d updates and %d unfurls, want 2 each", len(h.fake.Calls("chat.update")), len(h.fake.Calls("chat.unfurl")))
	}
	h.settle(t, 1)
}

func TestOutboxSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.opts.DefaultChannel = "C0ALERTS"
	h.fake.FailMethod("chat.postMessage", http.StatusInternalServerError, 0, -1)

	svc, stop := h.start(t)
	receive(t, svc, Alert{Kind: KindIssue, Action: "created", IssueID: "1", Issue: testIssue("1"), DeliveryID: "d1"})
	if _, err := h.fake.WaitCalls(ctx, "chat.postMessage", 2); err != nil {
		t.Fatal(err)
	}
	stop()
	if d, err := svc.Depth(ctx); err != nil || d != 1 {
		t.Fatalf("Depth after stopping mid-outage = %d, %v; want 1", d, err)
	}
	pending, err := h.db.OutboxItems(ctx, store.ItemPending)
	if err != nil || len(pending) != 1 || pending[0].Attempts < 2 {
		t.Fatalf("pending outbox = %+v, %v; want one item tried at least twice", pending, err)
	}

	// Slack is back; a new process takes over the same database.
	h.fake.FailMethod("chat.postMessage", 0, 0, 0)
	svc2, _ := h.start(t)
	h.waitDepth(t, svc2, 0)
	posts := h.waitPosts(t, 1)
	h.settle(t, 1)
	if id := cardIssue(t, posts[0]); id != "1" {
		t.Errorf("posted issue %s, want 1", id)
	}
	h.waitCard(t, "1", "C0ALERTS")
}

func TestDuplicates(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	sub, _, err := h.db.AddSubscription(ctx, store.Subscription{ChannelID: "C0SUB"})
	if err != nil {
		t.Fatal(err)
	}
	svc := h.service()
	a := Alert{Kind: KindEventAlert, Action: "triggered", IssueID: "1", Issue: testIssue("1"), Rule: "R", RuleChannel: "C0ALERTS", DeliveryID: "same"}
	for range 3 {
		receive(t, svc, a)
	}
	// A new issue told by the webhook and by the poller is posted once.
	receive(t, svc, Alert{Kind: KindIssue, Action: "created", IssueID: "2", Issue: testIssue("2"), DeliveryID: "hook-2"})
	receive(t, svc, Alert{Kind: KindPoll, Action: "created", IssueID: "2", Issue: testIssue("2"), SubscriptionID: sub.ID, DeliveryID: "poll-2"})
	if d, err := svc.Depth(ctx); err != nil || d != 3 {
		t.Fatalf("Depth = %d, %v; want 3 (redeliveries not kept)", d, err)
	}
	h.start(t)
	h.waitPosts(t, 2)
	h.settle(t, 2)
}

func TestPermanentSlackError(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	var refused atomic.Int32
	h.api = &slackFns{Slack: h.client, PostFn: func(ctx context.Context, ch string, opts ...slack.MsgOption) (string, string, error) {
		if ch == "C0GONE" {
			refused.Add(1)
			return "", "", slack.SlackErrorResponse{Err: "channel_not_found"}
		}
		return h.client.PostMessageContext(ctx, ch, opts...)
	}}
	svc, _ := h.start(t)
	receive(t, svc, Alert{Kind: KindEventAlert, Action: "triggered", IssueID: "1", Issue: testIssue("1"), Rule: "R", RuleChannel: "C0GONE", DeliveryID: "d1"})
	receive(t, svc, Alert{Kind: KindEventAlert, Action: "triggered", IssueID: "2", Issue: testIssue("2"), Rule: "R", RuleChannel: "C0OK", DeliveryID: "d2"})
	h.waitPosts(t, 1)
	h.waitDepth(t, svc, 0)
	time.Sleep(10 * h.opts.RetryMax / 4)
	if n := refused.Load(); n != 1 {
		t.Errorf("refused post tried %d times, want 1", n)
	}
	failed, err := h.db.OutboxItems(ctx, store.ItemFailed)
	if err != nil || len(failed) != 1 || failed[0].ChannelID != "C0GONE" || failed[0].Error != "channel_not_found" {
		t.Errorf("failed outbox = %+v, %v", failed, err)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, `"level":"error"`) || !strings.Contains(logs, "channel_not_found") {
		t.Errorf("no error logged for the refused post:\n%s", logs)
	}
	h.settle(t, 1)
}

func TestRateLimited(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.fake.FailMethod("chat.postMessage", http.StatusTooManyRequests, time.Second, 1)
	svc, _ := h.start(t)
	receive(t, svc, Alert{Kind: KindEventAlert, Action: "triggered", IssueID: "1", Issue: testIssue("1"), Rule: "R", RuleChannel: "C0ALERTS", DeliveryID: "d1"})
	calls, err := h.fake.WaitCalls(ctx, "chat.postMessage", 2)
	if err != nil {
		t.Fatal(err)
	}
	if calls[0].Status != http.StatusTooManyRequests || calls[1].Error != "" {
		t.Fatalf("calls answered %d then %q", calls[0].Status, calls[1].Error)
	}
	if gap := calls[1].At.Sub(calls[0].At); gap < time.Second {
		t.Errorf("retried %v after a 429 with Retry-After 1s", gap)
	}
	h.settle(t, 1)
}

func TestRunTwice(t *testing.T) {
	h := newHarness(t)
	svc, _ := h.start(t)
	waitFor(t, "Run to start", func() bool { return svc.running.Load() })
	if err := svc.Run(context.Background()); err == nil {
		t.Error("a second Run on one Service started")
	}
}

func TestStopFinishesThePostInHand(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	entered := make(chan struct{})
	release := make(chan struct{})
	h.api = &slackFns{Slack: h.client, PostFn: func(ctx context.Context, ch string, opts ...slack.MsgOption) (string, string, error) {
		close(entered)
		<-release
		if ctx.Err() != nil {
			return "", "", ctx.Err()
		}
		return h.client.PostMessageContext(ctx, ch, opts...)
	}}
	svc, stop := h.start(t)
	receive(t, svc, Alert{Kind: KindEventAlert, Action: "triggered", IssueID: "1", Issue: testIssue("1"), Rule: "R", RuleChannel: "C0ALERTS", DeliveryID: "d1"})
	<-entered
	stopped := make(chan struct{})
	go func() {
		stop()
		close(stopped)
	}()
	select {
	case <-stopped:
		t.Fatal("Run returned with a post in progress")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-stopped
	if len(h.posts()) != 1 {
		t.Fatalf("%d posts, want 1", len(h.posts()))
	}
	if d, err := svc.Depth(ctx); err != nil || d != 0 {
		t.Errorf("Depth after stopping = %d, %v; want 0: the post was recorded", d, err)
	}
	if _, err := h.db.FirstAlertCard(ctx, "1", "C0ALERTS", time.Now().Add(-time.Hour)); err != nil {
		t.Errorf("card of the post in hand: %v", err)
	}
}
