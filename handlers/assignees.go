package handlers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"golang.org/x/sync/singleflight"

	"sentrybot/blocks"
	"sentrybot/sentry"
	"sentrybot/store"
)

// Directory lists who issues can be assigned to.
type Directory interface {
	Members(ctx context.Context, org, query string) ([]sentry.Member, error)
	Teams(ctx context.Context, org string) ([]sentry.Team, error)
}

// Assignees answers the "Assign…" menu's option requests. The organization's
// members and teams are kept for a minute: Slack asks on every keystroke and
// the answer must come back within Slack's deadline.
type Assignees struct {
	org    string
	dir    Directory
	ids    IdentityReader
	issues IssueFetcher
	ttl    time.Duration
	now    func() time.Time

	group   singleflight.Group
	mu      sync.Mutex
	people  []blocks.Assignable
	fetched time.Time
}

// NewAssignees builds the option source.
func NewAssignees(org string, dir Directory, ids IdentityReader, issues IssueFetcher, now func() time.Time) *Assignees {
	if now == nil {
		now = time.Now
	}
	return &Assignees{org: org, dir: dir, ids: ids, issues: issues, ttl: time.Minute, now: now}
}

// Suggest returns the options for what the user has typed: themselves
// first, Unassign when the issue has an assignee, then members and teams.
func (a *Assignees) Suggest(ctx context.Context, cb slack.InteractionCallback) (any, error) {
	if cb.ActionID != blocks.ActionAssign {
		return blocks.SuggestionResponse(nil), nil
	}
	q := blocks.AssigneeQuery{Typed: cb.Value}
	if id, err := a.ids.Identity(ctx, cb.Team.ID, cb.User.ID); err == nil && id.SentryUserID != "" {
		q.Me = &blocks.Assignable{Actor: "user:" + id.SentryUserID, Label: id.Email}
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("suggest assignees: reading the caller's link: %w", err)
	}
	if issueID, ok := blocks.IssueIDFromBlockID(cb.BlockID); ok {
		// The cached issue is enough to decide whether Unassign applies.
		if is, err := a.issues.Issue(ctx, a.org, issueID); err == nil {
			q.Assigned = is.AssignedTo != nil
		}
	}
	people, err := a.candidates(ctx)
	if err != nil {
		// Themselves and Unassign still work without the directory.
		return blocks.SuggestionResponse(blocks.AssigneeOptions(q)), err
	}
	q.Candidates = people
	return blocks.SuggestionResponse(blocks.AssigneeOptions(q)), nil
}

func (a *Assignees) candidates(ctx context.Context) ([]blocks.Assignable, error) {
	a.mu.Lock()
	if a.people != nil && a.now().Sub(a.fetched) < a.ttl {
		p := a.people
		a.mu.Unlock()
		return p, nil
	}
	a.mu.Unlock()
	ch := a.group.DoChan("directory", func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return a.load(fctx)
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.([]blocks.Assignable), nil
	}
}

func (a *Assignees) load(ctx context.Context) ([]blocks.Assignable, error) {
	members, err := a.dir.Members(ctx, a.org, "")
	if err != nil {
		return nil, fmt.Errorf("listing Sentry members: %w", err)
	}
	teams, err := a.dir.Teams(ctx, a.org)
	if err != nil {
		return nil, fmt.Errorf("listing Sentry teams: %w", err)
	}
	var people []blocks.Assignable
	for _, m := range members {
		actor, ok := m.Actor()
		if !ok || m.Pending || m.Expired {
			continue
		}
		label := m.Email
		if m.Name != "" && m.Name != m.Email {
			label = m.Name + " (" + m.Email + ")"
		}
		people = append(people, blocks.Assignable{Actor: actor, Label: label})
	}
	for _, t := range teams {
		people = append(people, blocks.Assignable{Actor: t.Actor(), Label: "#" + t.Slug})
	}
	a.mu.Lock()
	a.people, a.fetched = people, a.now()
	a.mu.Unlock()
	return people, nil
}
