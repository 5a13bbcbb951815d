package handlers

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"sentrybot/bot"
	"sentrybot/links"
	"sentrybot/sentry"
)

type fetchFn func(ctx context.Context, org, id string) (*sentry.Issue, error)

func (f fetchFn) Issue(ctx context.Context, org, id string) (*sentry.Issue, error) {
	return f(ctx, org, id)
}

// unfurlRecorder is an UnfurlPoster that records its calls.
type unfurlRecorder struct {
	mu    sync.Mutex
	calls []recordedUnfurl
	err   error
}

type recordedUnfurl struct {
	channel, ts, unfurlID, source string
	unfurls                       map[string]slack.Attachment
}

func (r *unfurlRecorder) UnfurlMessageContext(ctx context.Context, ch, ts string, u map[string]slack.Attachment, _ ...slack.MsgOption) (string, string, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, recordedUnfurl{channel: ch, ts: ts, unfurls: u})
	return ch, ts, "", r.err
}

func (r *unfurlRecorder) UnfurlMessageByIDContext(ctx context.Context, id, source string, u map[string]slack.Attachment, _ ...slack.MsgOption) (string, string, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, recordedUnfurl{unfurlID: id, source: source, unfurls: u})
	return "", "", "", r.err
}

var (
	_ IssueFetcher = fetchFn(nil)
	_ UnfurlPoster = (*unfurlRecorder)(nil)
)

func TestUnfurler(t *testing.T) {
	matcher := links.NewMatcher("acme", []string{"sentry.io"})
	issue := func(id string) *sentry.Issue {
		return &sentry.Issue{ID: id, ShortID: "BACKEND-" + id, Title: "boom " + id, Level: "error", Status: "unresolved"}
	}

	t.Run("OneFetchPerIssueOneCardPerURL", func(t *testing.T) {
		var mu sync.Mutex
		fetched := map[string]int{}
		rec := &unfurlRecorder{}
		u := NewUnfurler("acme", matcher, fetchFn(func(ctx context.Context, org, id string) (*sentry.Issue, error) {
			if org != "acme" {
				t.Errorf("fetched org %q", org)
			}
			mu.Lock()
			fetched[id]++
			mu.Unlock()
			return issue(id), nil
		}), rec, nil, zerolog.Nop())
		a := "https://acme.sentry.io/issues/1/"
		b := "https://sentry.io/organizations/acme/issues/1/events/latest/"
		c := "https://acme.sentry.io/issues/2/"
		err := u.HandleLinkShared(context.Background(), bot.LinkShared{Channel: "C1", MessageTS: "1.2", URLs: []string{a, b, c, "https://example.com/"}})
		if err != nil {
			t.Fatal(err)
		}
		if fetched["1"] != 1 || fetched["2"] != 1 || len(fetched) != 2 {
			t.Errorf("fetches = %v, want one per issue", fetched)
		}
		if len(rec.calls) != 1 {
			t.Fatalf("chat.unfurl calls = %d, want 1", len(rec.calls))
		}
		got := rec.calls[0]
		if got.channel != "C1" || got.ts != "1.2" || len(got.unfurls) != 3 {
			t.Fatalf("call = %+v", got)
		}
		if got.unfurls[a].Fallback != "BACKEND-1: boom 1" || got.unfurls[b].Fallback != "BACKEND-1: boom 1" {
			t.Errorf("cards for issue 1: %q / %q", got.unfurls[a].Fallback, got.unfurls[b].Fallback)
		}
	})

	t.Run("FailedIssueLeftOut", func(t *testing.T) {
		rec := &unfurlRecorder{}
		u := NewUnfurler("acme", matcher, fetchFn(func(ctx context.Context, org, id string) (*sentry.Issue, error) {
			if id == "2" {
				return nil, &sentry.Error{Op: "get issue", StatusCode: 404, Kind: sentry.KindNotFound}
			}
			return issue(id), nil
		}), rec, nil, zerolog.Nop())
		err := u.HandleLinkShared(context.Background(), bot.LinkShared{Channel: "C1", MessageTS: "1.2",
			URLs: []string{"https://acme.sentry.io/issues/1/", "https://acme.sentry.io/issues/2/"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.calls) != 1 || len(rec.calls[0].unfurls) != 1 {
			t.Fatalf("calls = %+v, want one call with one card", rec.calls)
		}
	})

	t.Run("NothingToUnfurlNoCall", func(t *testing.T) {
		rec := &unfurlRecorder{}
		u := NewUnfurler("acme", matcher, fetchFn(func(ctx context.Context, org, id string) (*sentry.Issue, error) {
			return nil, errors.New("unreachable")
		}), rec, nil, zerolog.Nop())
		err := u.HandleLinkShared(context.Background(), bot.LinkShared{Channel: "C1", MessageTS: "1.2",
			URLs: []string{"https://acme.sentry.io/issues/1/", "https://other.sentry.io/issues/1/"}})
		if err != nil || len(rec.calls) != 0 {
			t.Fatalf("err=%v calls=%d, want no call", err, len(rec.calls))
		}
	})

	t.Run("ComposerByUnfurlID", func(t *testing.T) {
		rec := &unfurlRecorder{}
		u := NewUnfurler("acme", matcher, fetchFn(func(ctx context.Context, org, id string) (*sentry.Issue, error) {
			return issue(id), nil
		}), rec, nil, zerolog.Nop())
		err := u.HandleLinkShared(context.Background(), bot.LinkShared{Channel: "COMPOSER", MessageTS: "U1-abc", UnfurlID: "U1-abc", Source: "composer",
			URLs: []string{"https://acme.sentry.io/issues/1/"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.calls) != 1 || rec.calls[0].unfurlID != "U1-abc" || rec.calls[0].source != "composer" || rec.calls[0].channel != "" {
			t.Fatalf("calls = %+v", rec.calls)
		}
	})

	t.Run("SlackErrorReturned", func(t *testing.T) {
		rec := &unfurlRecorder{err: errors.New("cannot_unfurl_url")}
		u := NewUnfurler("acme", matcher, fetchFn(func(ctx context.Context, org, id string) (*sentry.Issue, error) {
			return issue(id), nil
		}), rec, nil, zerolog.Nop())
		err := u.HandleLinkShared(context.Background(), bot.LinkShared{Channel: "C1", MessageTS: "1.2", URLs: []string{"https://acme.sentry.io/issues/1/"}})
		if err == nil {
			t.Fatal("a failed chat.unfurl was not reported")
		}
	})
}
