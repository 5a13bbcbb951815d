package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"
)

func TestPollState(t *testing.T) {
	ctx := context.Background()

	t.Run("NeverPolled", func(t *testing.T) {
		db := MustOpenDB(t)
		st, err := db.PollState(ctx, 7)
		if err != nil {
			t.Fatal(err)
		}
		if st != (PollState{SubscriptionID: 7}) {
			t.Errorf("PollState = %+v, want the zero state of subscription 7", st)
		}
	})

	t.Run("InitThenAdvance", func(t *testing.T) {
		db := MustOpenDB(t)
		clk := newClock(db)
		watermark := time.Date(2025, 2, 28, 9, 30, 0, 123e6, time.UTC)
		floor := watermark.Add(-48 * time.Hour)
		if err := db.InitPoll(ctx, 7, watermark, floor, []PollIssue{
			{IssueID: "1", Status: "unresolved", Substatus: "new"},
			{IssueID: "2", Status: "resolved", Assignee: "user:9"},
		}); err != nil {
			t.Fatal(err)
		}
		st, err := db.PollState(ctx, 7)
		if err != nil {
			t.Fatal(err)
		}
		want := PollState{SubscriptionID: 7, Initialized: true, Watermark: watermark, Floor: floor, UpdatedAt: clk.Now()}
		if st != want {
			t.Errorf("PollState after init = %+v, want %+v", st, want)
		}

		clk.Advance(time.Minute)
		later := watermark.Add(time.Hour)
		if err := db.AdvancePoll(ctx, 7, later); err != nil {
			t.Fatal(err)
		}
		// An older watermark never moves it back.
		if err := db.AdvancePoll(ctx, 7, watermark); err != nil {
			t.Fatal(err)
		}
		st, err = db.PollState(ctx, 7)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Watermark.Equal(later) || !st.UpdatedAt.Equal(clk.Now()) || !st.Floor.Equal(floor) {
			t.Errorf("PollState after advance = %+v, want watermark %v, floor %v, updated %v", st, later, floor, clk.Now())
		}
	})

	t.Run("ZeroTimesStayZero", func(t *testing.T) {
		db := MustOpenDB(t)
		if err := db.InitPoll(ctx, 1, time.Time{}, time.Time{}, nil); err != nil {
			t.Fatal(err)
		}
		st, err := db.PollState(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Initialized || !st.Watermark.IsZero() || !st.Floor.IsZero() {
			t.Errorf("PollState = %+v, want initialized with zero watermark and floor", st)
		}
	})

	t.Run("AdvanceUninitialized", func(t *testing.T) {
		db := MustOpenDB(t)
		if err := db.AdvancePoll(ctx, 3, time.Now()); !errors.Is(err, ErrNotFound) {
			t.Errorf("AdvancePoll of an unknown subscription = %v, want ErrNotFound", err)
		}
	})

	t.Run("InitIsAllOrNothing", func(t *testing.T) {
		db := MustOpenDB(t)
		err := db.InitPoll(ctx, 4, time.Now(), time.Time{}, []PollIssue{{IssueID: "1"}, {IssueID: ""}})
		if err == nil {
			t.Fatal("InitPoll with an empty issue id succeeded")
		}
		if n := countRows(t, db, "poll_state") + countRows(t, db, "poll_seen"); n != 0 {
			t.Errorf("failed InitPoll left %d rows", n)
		}
	})
}

func TestPollSeen(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	newClock(db)
	if err := db.InitPoll(ctx, 1, time.Now(), time.Time{}, []PollIssue{
		{IssueID: "10", Status: "unresolved", Substatus: "ongoing"},
		{IssueID: "11", Status: "unresolved", Substatus: "new"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.InitPoll(ctx, 2, time.Now(), time.Time{}, []PollIssue{{IssueID: "10", Status: "unresolved"}}); err != nil {
		t.Fatal(err)
	}

	seen := func(sub int64, ids ...string) map[string]PollIssue {
		t.Helper()
		got, err := db.PollSeen(ctx, sub, ids)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	got := seen(1, "10", "11", "12")
	want := map[string]PollIssue{
		"10": {IssueID: "10", Status: "unresolved", Substatus: "ongoing"},
		"11": {IssueID: "11", Status: "unresolved", Substatus: "new"},
	}
	if !maps.Equal(got, want) {
		t.Errorf("PollSeen(1) = %v, want %v", got, want)
	}
	if got := seen(2, "11"); len(got) != 0 {
		t.Errorf("PollSeen(2, 11) = %v, want nothing: subscriptions are separate", got)
	}
	if got := seen(1); len(got) != 0 {
		t.Errorf("PollSeen with no ids = %v, want empty", got)
	}

	// MarkPollSeen adds new issues and rewrites the state of known ones.
	if err := db.MarkPollSeen(ctx, 1, PollIssue{IssueID: "12", Status: "unresolved"}); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkPollSeen(ctx, 1, PollIssue{IssueID: "10", Status: "resolved", Assignee: "team:4"}); err != nil {
		t.Fatal(err)
	}
	got = seen(1, "10", "12")
	want = map[string]PollIssue{
		"10": {IssueID: "10", Status: "resolved", Assignee: "team:4"},
		"12": {IssueID: "12", Status: "unresolved"},
	}
	if !maps.Equal(got, want) {
		t.Errorf("PollSeen(1) after marks = %v, want %v", got, want)
	}

	// Many ids go in one parameter, past SQLite's bound-parameter limit.
	many := make([]string, 40000)
	for i := range many {
		many[i] = fmt.Sprint(i)
	}
	if got := seen(1, many...); len(got) != 3 {
		t.Errorf("PollSeen with %d ids found %d, want 3", len(many), len(got))
	}

	if err := db.MarkPollSeen(ctx, 99, PollIssue{IssueID: "1"}); err == nil {
		t.Error("MarkPollSeen for a subscription never initialized succeeded, want an error")
	}
}

func TestPrunePoll(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	for _, sub := range []int64{1, 2, 3} {
		if err := db.InitPoll(ctx, sub, time.Now(), time.Time{}, []PollIssue{{IssueID: "a"}, {IssueID: "b"}}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := db.PrunePoll(ctx, []int64{1, 3, 42})
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("PrunePoll removed %d subscriptions, want 1", n)
	}
	if st, _ := db.PollState(ctx, 2); st.Initialized {
		t.Error("subscription 2 still has poll state after being pruned")
	}
	if got := countRows(t, db, "poll_seen"); got != 4 {
		t.Errorf("poll_seen has %d rows after pruning one of three subscriptions, want 4", got)
	}

	n, err = db.PrunePoll(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || countRows(t, db, "poll_state")+countRows(t, db, "poll_seen") != 0 {
		t.Errorf("PrunePoll(nil) removed %d, left %d state and %d seen rows; want 2 removed and nothing left",
			n, countRows(t, db, "poll_state"), countRows(t, db, "poll_seen"))
	}
}
