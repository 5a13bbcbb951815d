package main

import (
	"context"

	"sentrybot/poller"
	"sentrybot/store"
)

// pollSubscriptions gives the poller every stored subscription.
type pollSubscriptions struct{ db *store.DB }

func (p pollSubscriptions) PollSubscriptions(ctx context.Context) ([]poller.Sub, error) {
	subs, err := p.db.Subscriptions(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make([]poller.Sub, len(subs))
	for i, s := range subs {
		out[i] = poller.Sub{ID: s.ID, Projects: s.Projects, Query: s.Query}
	}
	return out, nil
}
