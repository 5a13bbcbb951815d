package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestSubscriptions(t *testing.T) {
	ctx := context.Background()

	t.Run("AddIsIdempotent", func(t *testing.T) {
		db := MustOpenDB(t)
		clk := newClock(db)
		s, created, err := db.AddSubscription(ctx, Subscription{TeamID: "T1", ChannelID: "C1",
			Projects: []string{"web", " api", "web", ""}, Query: " is:unresolved ", CreatedBy: "U1"})
		if err != nil {
			t.Fatal(err)
		}
		if !created || s.ID == 0 || !slices.Equal(s.Projects, []string{"api", "web"}) || s.Query != "is:unresolved" ||
			s.TeamID != "T1" || s.CreatedBy != "U1" || !s.CreatedAt.Equal(clk.Now()) {
			t.Fatalf("AddSubscription = %+v, %v", s, created)
		}
		// The same projects in another order and the same query: the same one.
		again, created, err := db.AddSubscription(ctx, Subscription{ChannelID: "C1", Projects: []string{"api", "web"}, Query: "is:unresolved", CreatedBy: "U2"})
		if err != nil {
			t.Fatal(err)
		}
		if created || again.ID != s.ID || again.CreatedBy != "U1" {
			t.Errorf("second AddSubscription = %+v, %v; want the first one, false", again, created)
		}
		// Another channel is another subscription.
		other, created, err := db.AddSubscription(ctx, Subscription{ChannelID: "C2", Query: "is:unresolved"})
		if err != nil {
			t.Fatal(err)
		}
		if !created || other.ID == s.ID || other.Projects != nil {
			t.Errorf("AddSubscription in C2 = %+v, %v", other, created)
		}
		if _, _, err := db.AddSubscription(ctx, Subscription{Query: "x"}); err == nil {
			t.Error("AddSubscription without a channel succeeded")
		}

		all, err := db.Subscriptions(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 2 || all[0].ID != s.ID || all[1].ID != other.ID {
			t.Errorf("Subscriptions(all) = %+v", all)
		}
		c1, err := db.Subscriptions(ctx, "C1")
		if err != nil {
			t.Fatal(err)
		}
		if len(c1) != 1 || c1[0].ID != s.ID {
			t.Errorf("Subscriptions(C1) = %+v", c1)
		}
		got, err := db.Subscription(ctx, other.ID)
		if err != nil || got.ChannelID != "C2" {
			t.Errorf("Subscription(%d) = %+v, %v", other.ID, got, err)
		}
		if _, err := db.Subscription(ctx, 999); !errors.Is(err, ErrNotFound) {
			t.Errorf("Subscription(999) error = %v, want ErrNotFound", err)
		}
	})

	t.Run("Remove", func(t *testing.T) {
		db := MustOpenDB(t)
		for _, s := range []Subscription{
			{ChannelID: "C1", Projects: []string{"api"}, Query: "level:error"},
			{ChannelID: "C1", Projects: []string{"api"}},
			{ChannelID: "C1", Query: "level:error"},
			{ChannelID: "C2", Query: "level:error"},
		} {
			if _, _, err := db.AddSubscription(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		n, err := db.RemoveSubscriptions(ctx, "C1", []string{"api"}, "level:error")
		if err != nil || n != 1 {
			t.Fatalf("RemoveSubscriptions exact = %d, %v; want 1", n, err)
		}
		n, err = db.RemoveSubscriptions(ctx, "C1", []string{"nope"}, "")
		if err != nil || n != 0 {
			t.Fatalf("RemoveSubscriptions of a missing one = %d, %v; want 0", n, err)
		}
		n, err = db.RemoveSubscriptions(ctx, "C1", nil, "")
		if err != nil || n != 2 {
			t.Fatalf("RemoveSubscriptions all of C1 = %d, %v; want 2", n, err)
		}
		left, err := db.Subscriptions(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(left) != 1 || left[0].ChannelID != "C2" {
			t.Errorf("left = %+v, want C2's only", left)
		}
	})
}

func TestCards(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	clk := newClock(db)
	now := clk.Now()

	cards := []Card{
		{IssueID: "1", ChannelID: "C1", TS: "1.1", Kind: CardMessage, Alert: true, Footer: "rule", PostedAt: now.Add(-2 * time.Hour)},
		{IssueID: "1", ChannelID: "C1", TS: "1.2", Kind: CardMessage, Alert: true, PostedAt: now.Add(-time.Hour)},
		{IssueID: "1", ChannelID: "C1", TS: "1.3", Kind: CardMessage, PostedAt: now.Add(-3 * time.Hour)}, // a thread reply
		{IssueID: "1", ChannelID: "C2", TS: "2.1", UnfurlURL: "https://s/1", Kind: CardUnfurl},
		{IssueID: "1", ChannelID: "C1", TS: "0.1", Kind: CardMessage, Alert: true, PostedAt: now.Add(-8 * 24 * time.Hour)},
		{IssueID: "2", ChannelID: "C1", TS: "3.1", Kind: CardMessage, Alert: true},
	}
	for _, c := range cards {
		if err := db.RecordCard(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for name, bad := range map[string]Card{
		"NoTS":           {IssueID: "1", ChannelID: "C1", Kind: CardMessage},
		"UnfurlNoURL":    {IssueID: "1", ChannelID: "C1", TS: "9", Kind: CardUnfurl},
		"MessageWithURL": {IssueID: "1", ChannelID: "C1", TS: "9", Kind: CardMessage, UnfurlURL: "https://x"},
		"UnknownKind":    {IssueID: "1", ChannelID: "C1", TS: "9", Kind: "toast"},
	} {
		if err := db.RecordCard(ctx, bad); err == nil {
			t.Errorf("RecordCard %s succeeded", name)
		}
	}

	got, err := db.CardsForIssue(ctx, "1", now.Add(-7*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var ts []string
	for _, c := range got {
		ts = append(ts, c.TS)
	}
	if !slices.Equal(ts, []string{"1.3", "1.1", "1.2", "2.1"}) {
		t.Errorf("CardsForIssue ts = %v, want [1.3 1.1 1.2 2.1] (oldest first, none older than the window)", ts)
	}
	if got[1].Footer != "rule" || !got[1].Alert || got[3].Kind != CardUnfurl || !got[3].PostedAt.Equal(now) {
		t.Errorf("cards read back wrong: %+v", got)
	}

	first, err := db.FirstAlertCard(ctx, "1", "C1", now.Add(-24*time.Hour))
	if err != nil || first.TS != "1.1" {
		t.Errorf("FirstAlertCard = %+v, %v; want 1.1 (the reply 1.3 is not a thread root)", first, err)
	}
	first, err = db.FirstAlertCard(ctx, "1", "C1", now.Add(-90*time.Minute))
	if err != nil || first.TS != "1.2" {
		t.Errorf("FirstAlertCard in 90m = %+v, %v; want 1.2", first, err)
	}
	if _, err := db.FirstAlertCard(ctx, "1", "C2", now.Add(-24*time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Errorf("FirstAlertCard in C2 (an unfurl only) error = %v, want ErrNotFound", err)
	}

	// Upsert: the same message again replaces the record.
	if err := db.RecordCard(ctx, Card{IssueID: "1", ChannelID: "C1", TS: "1.1", Kind: CardMessage, Footer: "new"}); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "cards"); n != len(cards) {
		t.Errorf("cards has %d rows after an upsert, want %d", n, len(cards))
	}
}

func TestInboxOutbox(t *testing.T) {
	ctx := context.Background()

	t.Run("Flow", func(t *testing.T) {
		db := MustOpenDB(t)
		clk := newClock(db)
		now := clk.Now()

		ok, err := db.EnqueueInbox(ctx, InboxItem{DeliveryID: "d1", Job: JobAlert, Payload: []byte(`{"a":1}`)})
		if err != nil || !ok {
			t.Fatalf("EnqueueInbox = %v, %v", ok, err)
		}
		ok, err = db.EnqueueInbox(ctx, InboxItem{DeliveryID: "d1", Job: JobAlert, Payload: []byte(`{"a":2}`)})
		if err != nil || ok {
			t.Fatalf("EnqueueInbox of a redelivery = %v, %v; want false", ok, err)
		}
		// No delivery id: never a duplicate.
		for range 2 {
			if ok, err := db.EnqueueInbox(ctx, InboxItem{Job: JobSync, Payload: []byte(`{}`)}); err != nil || !ok {
				t.Fatalf("EnqueueInbox without id = %v, %v", ok, err)
			}
		}
		if _, err := db.EnqueueInbox(ctx, InboxItem{Job: JobAlert, Payload: []byte(`{`)}); err == nil {
			t.Error("EnqueueInbox of bad JSON succeeded")
		}
		if d, err := db.OutboxDepth(ctx); err != nil || d != 3 {
			t.Errorf("OutboxDepth = %d, %v; want 3", d, err)
		}

		due, err := db.DueInbox(ctx, now, 10)
		if err != nil || len(due) != 3 || due[0].DeliveryID != "d1" || string(due[0].Payload) != `{"a":1}` || due[1].DeliveryID != "" {
			t.Fatalf("DueInbox = %+v, %v", due, err)
		}

		// Retry pushes the item into the future.
		if err := db.RetryInbox(ctx, due[1].ID, now.Add(time.Minute), "sentry down"); err != nil {
			t.Fatal(err)
		}
		due2, _ := db.DueInbox(ctx, now, 10)
		if len(due2) != 2 {
			t.Errorf("due after a retry = %d items, want 2", len(due2))
		}
		next, ok, err := db.NextAlertDue(ctx, now)
		if err != nil || !ok || !next.Equal(now.Add(time.Minute)) {
			t.Errorf("NextAlertDue = %v, %v, %v; want %v (items already due do not count)", next, ok, err, now.Add(time.Minute))
		}
		if err := db.CloseInbox(ctx, due[2].ID, ItemFailed, "gone"); err != nil {
			t.Fatal(err)
		}

		// Routing adds outbox items and closes the inbox item at once;
		// a key already queued is skipped.
		items := []OutboxItem{
			{Key: "k1", ChannelID: "C1", IssueID: "1", Issue: []byte(`{"id":"1"}`), Payload: []byte(`{"f":1}`), CreatedAt: now},
			{Key: "k2", ChannelID: "#general", IssueID: "1", Issue: []byte(`{"id":"1"}`), CreatedAt: now},
		}
		n, err := db.RouteInbox(ctx, due[0].ID, items)
		if err != nil || n != 2 {
			t.Fatalf("RouteInbox = %d, %v; want 2", n, err)
		}
		n, err = db.RouteInbox(ctx, due[0].ID, items[:1])
		if err != nil || n != 0 {
			t.Fatalf("RouteInbox again = %d, %v; want 0", n, err)
		}
		done, _ := db.InboxItems(ctx, ItemDone)
		failed, _ := db.InboxItems(ctx, ItemFailed)
		if len(done) != 1 || len(failed) != 1 || failed[0].Error != "gone" {
			t.Errorf("inbox done %+v, failed %+v", done, failed)
		}
		// One inbox item is pending (in a minute) and two outbox items.
		if d, _ := db.OutboxDepth(ctx); d != 3 {
			t.Errorf("OutboxDepth = %d, want 3", d)
		}

		out, err := db.DueOutbox(ctx, now, 10)
		if err != nil || len(out) != 2 || out[0].Key != "k1" || string(out[1].Payload) != "{}" || out[1].ChannelID != "#general" {
			t.Fatalf("DueOutbox = %+v, %v", out, err)
		}
		if n, err := db.RefreshOutboxIssue(ctx, "1", []byte(`{"id":"1","status":"resolved"}`)); err != nil || n != 2 {
			t.Errorf("RefreshOutboxIssue = %d, %v; want 2", n, err)
		}
		if err := db.RetryOutbox(ctx, []int64{out[1].ID}, now.Add(time.Second), "500"); err != nil {
			t.Fatal(err)
		}
		card := Card{IssueID: "1", ChannelID: "C1", TS: "5.5", Kind: CardMessage, Alert: true}
		if err := db.DeliverOutbox(ctx, []int64{out[0].ID}, "5.5", []Card{card}); err != nil {
			t.Fatal(err)
		}
		if c, err := db.FirstAlertCard(ctx, "1", "C1", now.Add(-time.Hour)); err != nil || c.TS != "5.5" {
			t.Errorf("card of the delivered item = %+v, %v", c, err)
		}
		out, _ = db.DueOutbox(ctx, now.Add(time.Second), 10)
		if len(out) != 1 || out[0].Attempts != 1 || out[0].Error != "500" || string(out[0].Issue) != `{"id":"1","status":"resolved"}` {
			t.Fatalf("DueOutbox after retry = %+v", out)
		}
		if err := db.CloseOutbox(ctx, []int64{out[0].ID}, ItemFailed, "channel_not_found"); err != nil {
			t.Fatal(err)
		}
		if err := db.CloseOutbox(ctx, []int64{out[0].ID}, ItemDone, ""); err == nil {
			t.Error("CloseOutbox as done succeeded; DeliverOutbox is the way")
		}
		delivered, _ := db.OutboxItems(ctx, ItemDone)
		if len(delivered) != 1 || delivered[0].PostedTS != "5.5" {
			t.Errorf("delivered = %+v", delivered)
		}
		// A closed item is not delivered afterwards.
		if err := db.DeliverOutbox(ctx, []int64{out[0].ID}, "6.6", nil); err != nil {
			t.Fatal(err)
		}
		if f, _ := db.OutboxItems(ctx, ItemFailed); len(f) != 1 || f[0].Error != "channel_not_found" || f[0].PostedTS != "" {
			t.Errorf("failed = %+v", f)
		}

		// Purge removes finished items and old cards, never pending ones.
		clk.Advance(8 * 24 * time.Hour)
		purged, err := db.PurgeAlerts(ctx, clk.Now().Add(-7*24*time.Hour), clk.Now().Add(-7*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if purged != 5 { // 2 inbox, 2 outbox, 1 card
			t.Errorf("PurgeAlerts = %d, want 5", purged)
		}
		if d, _ := db.OutboxDepth(ctx); d != 1 {
			t.Errorf("OutboxDepth after purge = %d, want the 1 pending item", d)
		}
	})

	t.Run("NothingPending", func(t *testing.T) {
		db := MustOpenDB(t)
		if _, ok, err := db.NextAlertDue(ctx, time.Time{}); err != nil || ok {
			t.Errorf("NextAlertDue on an empty db = %v, %v", ok, err)
		}
	})
}

func TestChannelNames(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	if err := db.RememberChannelName(ctx, "#general", "C1"); err != nil {
		t.Fatal(err)
	}
	if err := db.RememberChannelName(ctx, "#general", "C2"); err != nil {
		t.Fatal(err)
	}
	if err := db.RememberChannelName(ctx, "#ops", "C3"); err != nil {
		t.Fatal(err)
	}
	if err := db.RememberChannelName(ctx, "", "C3"); err == nil {
		t.Error("RememberChannelName without a name succeeded")
	}
	got, err := db.ChannelNames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["#general"] != "C2" || got["#ops"] != "C3" {
		t.Errorf("ChannelNames = %v, want #general C2 and #ops C3", got)
	}
}

func TestSetCardFooter(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	c := Card{IssueID: "42", ChannelID: "C1", TS: "1.1", Kind: CardMessage, Alert: true}
	if err := db.RecordCard(ctx, c); err != nil {
		t.Fatal(err)
	}
	ok, err := db.SetCardFooter(ctx, "C1", "1.1", "", "Resolved by <@U1>")
	if err != nil || !ok {
		t.Fatalf("SetCardFooter = %v, %v", ok, err)
	}
	cards, err := db.CardsForIssue(ctx, "42", time.Time{})
	if err != nil || len(cards) != 1 {
		t.Fatalf("cards = %v, %v", cards, err)
	}
	if cards[0].Footer != "Resolved by <@U1>" || !cards[0].Alert {
		t.Fatalf("card = %+v: footer not kept, or the alert mark lost", cards[0])
	}
	if ok, _ := db.SetCardFooter(ctx, "C1", "9.9", "", "x"); ok {
		t.Fatal("an unknown card was changed")
	}
}
