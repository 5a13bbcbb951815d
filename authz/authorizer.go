package authz

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"sentrybot/store"
)

// MemberInfo is what Sentry says about an organization member.
type MemberInfo struct {
	ID      string // member id
	UserID  string // Sentry user id; empty while the invite is pending
	Email   string
	OrgRole string // role id: member, admin, manager, owner, billing, …
	Pending bool   // invited but not accepted (or the invite expired)
}

// ErrMemberNotFound is what a MemberLookup returns (or wraps) when Sentry
// answers that the member does not exist (404).
var ErrMemberNotFound = errors.New("authz: sentry member not found")

// ErrWorkspaceNotServed is returned (wrapped) when a user of a Slack
// workspace other than the one sentrybot serves tries to link.
var ErrWorkspaceNotServed = errors.New("workspace not served")

// MemberLookup fetches an organization member from Sentry.
type MemberLookup interface {
	Member(ctx context.Context, org, memberID string) (MemberInfo, error)
}

// SlackUsers tells Slack workspace owners and admins apart.
type SlackUsers interface {
	IsWorkspaceAdmin(ctx context.Context, teamID, userID string) (bool, error)
}

// Options configure an Authorizer.
type Options struct {
	Org string // Sentry organization slug (sentry.org)

	// TeamID is the Slack workspace sentrybot serves; subjects of any other
	// workspace are denied before anything is looked up. Empty accepts
	// every workspace (each decision and audit entry still carries the
	// subject's team id); set it whenever the workspace is known.
	TeamID string

	Admins []string // Slack user ids of sentrybot admins (auth.admins)

	MemberTTL time.Duration // how long a Sentry membership answer is current; default 60s
	AdminTTL  time.Duration // how long a Slack workspace-admin answer is kept; default 5m
	Now       func() time.Time
}

// Authorizer gathers the facts for decisions, caches what it learns from
// Sentry and Slack, and writes the audit log. Safe for concurrent use.
type Authorizer struct {
	db      *store.DB
	members MemberLookup
	slack   SlackUsers
	log     zerolog.Logger
	o       Options
	admins  []string
	isAdmin map[string]bool

	mu          sync.Mutex
	memberCache map[string]memberEntry   // by member id
	adminCache  map[[2]string]adminEntry // by team id, user id
}

type memberEntry struct {
	info      MemberInfo
	found     bool
	fetchedAt time.Time
}

type adminEntry struct {
	admin     bool
	fetchedAt time.Time
}

// New returns an Authorizer. members may be nil, in which case no change to
// Sentry is ever allowed (membership cannot be checked); slackUsers may be
// nil, in which case only configured admins and admin overrides are admins.
func New(db *store.DB, members MemberLookup, slackUsers SlackUsers, log zerolog.Logger, o Options) *Authorizer {
	if o.MemberTTL <= 0 {
		o.MemberTTL = 60 * time.Second
	}
	if o.AdminTTL <= 0 {
		o.AdminTTL = 5 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &Authorizer{
		db: db, members: members, slack: slackUsers, log: log, o: o,
		isAdmin:     map[string]bool{},
		memberCache: map[string]memberEntry{},
		adminCache:  map[[2]string]adminEntry{},
	}
	for _, id := range o.Admins {
		id = strings.TrimSpace(id)
		if id != "" && !a.isAdmin[id] {
			a.isAdmin[id] = true
			a.admins = append(a.admins, id)
		}
	}
	return a
}

// Admins returns the configured admins' Slack user ids.
func (a *Authorizer) Admins() []string { return append([]string(nil), a.admins...) }

// Authorize decides whether s may take act on r. The returned Facts are what
// the decision saw; pass both to Record. A non-nil error means the facts
// could not be gathered; the Decision is then a denial the user can be
// shown.
func (a *Authorizer) Authorize(ctx context.Context, s Subject, act Action, r Resource) (Decision, Facts, error) {
	if !act.Known() {
		// Nothing to look up for a request that is denied whatever the facts.
		f := Facts{AdminIDs: a.Admins()}
		return Decide(f, act, r), f, nil
	}
	f, err := a.facts(ctx, s, r, act.ChangesSentry())
	if err != nil {
		return Decision{Reason: ReasonInternal, Message: msgInternal, Role: RoleViewer}, f,
			fmt.Errorf("authz: authorize %s for %s/%s: %w", act, s.TeamID, s.UserID, err)
	}
	d := Decide(f, act, r)
	a.log.Debug().Str("team", s.TeamID).Str("user", s.UserID).Str("action", string(act)).
		Str("issue", r.IssueID).Bool("allow", d.Allow).Str("reason", string(d.Reason)).Msg("authz decision")
	return d, f, nil
}

// Role returns the subject's role for display and for checks that change
// nothing in Sentry. It may use membership facts older than MemberTTL when
// Sentry cannot be reached. It writes no audit entry.
func (a *Authorizer) Role(ctx context.Context, s Subject) (Role, Facts, error) {
	f, err := a.facts(ctx, s, Resource{}, false)
	if err != nil {
		return RoleViewer, f, fmt.Errorf("authz: role of %s/%s: %w", s.TeamID, s.UserID, err)
	}
	if !f.TeamAllowed {
		return RoleViewer, f, nil
	}
	return RoleFor(f), f, nil
}

// Record appends the audit entry for one attempt: the decision, the facts
// it was made on and, when the change was tried, its outcome (see Outcome).
func (a *Authorizer) Record(ctx context.Context, s Subject, act Action, r Resource, d Decision, f Facts, outcome, detail string) error {
	e := store.AuditEntry{
		TeamID: s.TeamID, UserID: s.UserID, ChannelID: s.ChannelID,
		Action: string(act), IssueID: r.IssueID,
		Decision: "deny", Reason: string(d.Reason),
		Outcome: outcome, Detail: detail,
	}
	if f.Linked {
		e.SentryMemberID = f.Identity.MemberID
	}
	if d.Allow {
		e.Decision = "allow"
	}
	if act == "" {
		e.Action = "(none)" // the log records even a malformed request
	}
	if err := a.appendAudit(ctx, e); err != nil {
		// The entry may describe a change already made in Sentry: if the
		// store will not take it, the log keeps it.
		a.log.Error().Err(err).
			Str("team", e.TeamID).Str("user", e.UserID).Str("channel", e.ChannelID).
			Str("sentry_member", e.SentryMemberID).Str("action", e.Action).Str("issue", e.IssueID).
			Str("decision", e.Decision).Str("reason", e.Reason).Str("outcome", e.Outcome).Str("detail", e.Detail).
			Msg("audit entry could not be stored; it is recorded in this log line instead")
		return fmt.Errorf("authz: record %s by %s/%s: %w", act, s.TeamID, s.UserID, err)
	}
	return nil
}

// Bounds on storing one audit entry: a locked or full database often
// clears within a second, and an entry is worth that wait.
const (
	auditAttempts   = 4
	auditFirstPause = 50 * time.Millisecond
	auditTimeout    = 3 * time.Second
)

// appendAudit stores e, trying again on failure. It does not give up when
// ctx is cancelled: the change it records may already be made.
func (a *Authorizer) appendAudit(ctx context.Context, e store.AuditEntry) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	if e.At.IsZero() {
		e.At = a.db.Now() // when it happened, not when it was stored
	}
	pause := auditFirstPause
	var err error
	for attempt := 1; ; attempt++ {
		if _, err = a.db.AppendAudit(ctx, e); err == nil || attempt == auditAttempts {
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		pause *= 2
	}
}

// Outcome is the audit outcome of an attempted change: "ok" or
// "error: <text>".
func Outcome(err error) string {
	if err == nil {
		return "ok"
	}
	return "error: " + err.Error()
}

// Link stores id as the link of s (the subject's team and user ids fill
// id's when empty) and forgets cached membership for the member.
func (a *Authorizer) Link(ctx context.Context, s Subject, id store.Identity) error {
	if !a.teamAllowed(s.TeamID) {
		return fmt.Errorf("authz: link %s/%s: %w", s.TeamID, s.UserID, ErrWorkspaceNotServed)
	}
	if id.TeamID == "" {
		id.TeamID = s.TeamID
	}
	if id.SlackUserID == "" {
		id.SlackUserID = s.UserID
	}
	if id.TeamID != s.TeamID {
		return fmt.Errorf("authz: link %s/%s: identity is for team %s", s.TeamID, s.UserID, id.TeamID)
	}
	if err := a.db.LinkIdentity(ctx, id); err != nil {
		return fmt.Errorf("authz: link %s/%s: %w", s.TeamID, s.UserID, err)
	}
	a.forgetMember(id.MemberID)
	return nil
}

// Unlink removes the link of s and reports whether there was one.
func (a *Authorizer) Unlink(ctx context.Context, s Subject) (bool, error) {
	id, err := a.db.Identity(ctx, s.TeamID, s.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("authz: unlink %s/%s: %w", s.TeamID, s.UserID, err)
	}
	removed, err := a.db.UnlinkIdentity(ctx, s.TeamID, s.UserID)
	if err != nil {
		return false, fmt.Errorf("authz: unlink %s/%s: %w", s.TeamID, s.UserID, err)
	}
	a.forgetMember(id.MemberID)
	return removed, nil
}

func (a *Authorizer) teamAllowed(teamID string) bool {
	return teamID != "" && (a.o.TeamID == "" || teamID == a.o.TeamID)
}

// facts gathers what a decision for s on r depends on. fresh asks for
// membership no older than MemberTTL, failing closed when Sentry cannot be
// reached.
func (a *Authorizer) facts(ctx context.Context, s Subject, r Resource, fresh bool) (Facts, error) {
	f := Facts{
		AdminIDs:    a.Admins(),
		TeamAllowed: a.teamAllowed(s.TeamID),
		OrgAllowed:  r.Org == "" || (a.o.Org != "" && strings.EqualFold(r.Org, a.o.Org)),
	}
	if !f.TeamAllowed {
		// A foreign workspace learns nothing and costs no lookups.
		return f, nil
	}
	if s.UserID == "" {
		return f, errors.New("no slack user id")
	}
	f.ConfiguredAdmin = a.isAdmin[s.UserID]

	rec, err := a.db.UserRecord(ctx, s.TeamID, s.UserID)
	if err != nil {
		return f, err
	}
	f.Override = Role(rec.Override)
	f.Linked, f.Identity = rec.Linked, rec.Identity

	if !f.OrgAllowed {
		// Denied whatever Slack or Sentry would say.
		return f, nil
	}
	if !f.ConfiguredAdmin && f.Override != RoleAdmin {
		f.WorkspaceAdmin = a.workspaceAdmin(ctx, s)
	}
	if f.Linked {
		a.membership(ctx, &f, fresh)
	}
	return f, nil
}

// workspaceAdmin asks Slack, through a cache, whether s is a workspace
// owner or admin. An unanswered question counts as no.
func (a *Authorizer) workspaceAdmin(ctx context.Context, s Subject) bool {
	if a.slack == nil {
		return false
	}
	key := [2]string{s.TeamID, s.UserID}
	now := a.o.Now()
	a.mu.Lock()
	e, ok := a.adminCache[key]
	a.mu.Unlock()
	if ok && now.Sub(e.fetchedAt) < a.o.AdminTTL {
		return e.admin
	}
	admin, err := a.slack.IsWorkspaceAdmin(ctx, s.TeamID, s.UserID)
	if err != nil {
		a.log.Warn().Err(err).Str("team", s.TeamID).Str("user", s.UserID).
			Msg("authz: could not ask Slack whether the user is a workspace admin; treating as not")
		return false
	}
	a.mu.Lock()
	a.adminCache[key] = adminEntry{admin: admin, fetchedAt: now}
	a.mu.Unlock()
	return admin
}

// membership fills f.MemberActive or f.MemberCheckFailed for the linked
// identity and brings the stored org role up to date with Sentry's.
func (a *Authorizer) membership(ctx context.Context, f *Facts, fresh bool) {
	memberID := f.Identity.MemberID
	now := a.o.Now()
	a.mu.Lock()
	e, cached := a.memberCache[memberID]
	a.mu.Unlock()

	if !cached || now.Sub(e.fetchedAt) >= a.o.MemberTTL {
		got, err := a.fetchMember(ctx, memberID, now)
		switch {
		case err == nil:
			e = got
		case cached && !fresh:
			// A read-only question may live with an older answer.
			a.log.Warn().Err(err).Str("member", memberID).Msg("authz: sentry member lookup failed; using the cached answer")
		default:
			a.log.Warn().Err(err).Str("member", memberID).Msg("authz: sentry member lookup failed")
			f.MemberCheckFailed = true
			return
		}
	}

	if !e.found || e.info.Pending ||
		(e.info.ID != "" && e.info.ID != memberID) ||
		(f.Identity.SentryUserID != "" && e.info.UserID != f.Identity.SentryUserID) {
		// A different user behind the member id is not the person who
		// linked it.
		return
	}
	f.MemberActive = true
	a.refreshIdentity(ctx, f, e.info)
}

func (a *Authorizer) fetchMember(ctx context.Context, memberID string, now time.Time) (memberEntry, error) {
	if a.members == nil {
		return memberEntry{}, errors.New("no member lookup configured")
	}
	info, err := a.members.Member(ctx, a.o.Org, memberID)
	var e memberEntry
	switch {
	case err == nil:
		e = memberEntry{info: info, found: true, fetchedAt: now}
	case errors.Is(err, ErrMemberNotFound):
		e = memberEntry{found: false, fetchedAt: now}
	default:
		return memberEntry{}, err
	}
	a.mu.Lock()
	a.memberCache[memberID] = e
	a.mu.Unlock()
	return e, nil
}

// refreshIdentity stores what Sentry now says about an active member: a
// changed org role, and the user id of an invite accepted since linking.
// The decision uses Sentry's values even if storing them fails.
func (a *Authorizer) refreshIdentity(ctx context.Context, f *Facts, info MemberInfo) {
	id := f.Identity
	roleChanged := info.OrgRole != "" && info.OrgRole != id.OrgRole
	userArrived := id.SentryUserID == "" && info.UserID != ""
	if !roleChanged && !userArrived {
		return
	}
	if roleChanged {
		a.log.Info().Str("team", id.TeamID).Str("user", id.SlackUserID).Str("member", id.MemberID).
			Str("from", id.OrgRole).Str("to", info.OrgRole).Msg("authz: sentry org role changed")
		f.Identity.OrgRole = info.OrgRole
	}
	if userArrived {
		f.Identity.SentryUserID = info.UserID
		// LinkIdentity keeps linked_at and the rest as given.
		if err := a.db.LinkIdentity(ctx, f.Identity); err != nil {
			a.log.Error().Err(err).Str("member", id.MemberID).Msg("authz: could not store the member's sentry user id")
		}
		return
	}
	if err := a.db.UpdateOrgRole(ctx, id.TeamID, id.SlackUserID, info.OrgRole); err != nil {
		a.log.Error().Err(err).Str("member", id.MemberID).Msg("authz: could not store the new org role")
	}
}

func (a *Authorizer) forgetMember(memberID string) {
	a.mu.Lock()
	delete(a.memberCache, memberID)
	a.mu.Unlock()
}
