// Package authz decides who may do what through sentrybot and records every
// attempted change in the audit log.
//
// Decide is the one place a decision is made: a pure function of Facts, the
// action and the resource, denying anything it does not positively allow.
// Authorizer gathers the Facts (links and overrides from the store, admin
// status from configuration and Slack, membership from Sentry) and writes
// the audit log.
package authz

import (
	"fmt"
	"regexp"
	"strings"

	"sentrybot/store"
)

// Role is a sentrybot role. Higher roles can do everything lower ones can.
type Role string

// Roles, lowest first.
const (
	RoleViewer    Role = "viewer"
	RoleResponder Role = "responder"
	RoleAdmin     Role = "admin"
)

// rank orders roles; an unknown role ranks below viewer so it can do
// nothing.
func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleResponder:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// ParseRole accepts the name of a role, as typed in a command.
func ParseRole(s string) (Role, bool) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	return r, r.rank() > 0
}

// Action is something a Slack user asks sentrybot to do.
type Action string

// Actions. Those up to ActionUnassign change an issue in Sentry.
const (
	ActionResolve   Action = "resolve"
	ActionUnresolve Action = "unresolve"
	ActionArchive   Action = "archive"
	ActionUnarchive Action = "unarchive"
	ActionAssign    Action = "assign"
	ActionUnassign  Action = "unassign"

	ActionSubscribe Action = "subscribe" // subscribe a channel to alerts

	ActionAdminRole          Action = "admin.role"
	ActionAdminAudit         Action = "admin.audit"
	ActionAdminSubscriptions Action = "admin.subscriptions"
)

type actionKind int

const (
	kindUnknown actionKind = iota
	kindChange             // changes Sentry: needs a current, active member
	kindLocal              // changes only sentrybot's own state
	kindAdmin              // sentrybot administration
)

// actions describes every known action; an action missing here is denied.
var actions = map[Action]struct {
	kind actionKind
	does string // completes "which can't …" / "Only sentrybot admins can …"
}{
	ActionResolve:            {kindChange, "resolve issues"},
	ActionUnresolve:          {kindChange, "reopen issues"},
	ActionArchive:            {kindChange, "archive issues"},
	ActionUnarchive:          {kindChange, "unarchive issues"},
	ActionAssign:             {kindChange, "assign issues"},
	ActionUnassign:           {kindChange, "unassign issues"},
	ActionSubscribe:          {kindLocal, "subscribe channels to alerts"},
	ActionAdminRole:          {kindAdmin, "change sentrybot roles"},
	ActionAdminAudit:         {kindAdmin, "read the audit log"},
	ActionAdminSubscriptions: {kindAdmin, "manage alert subscriptions"},
}

// Actions returns every known action.
func Actions() []Action {
	return []Action{
		ActionResolve, ActionUnresolve, ActionArchive, ActionUnarchive, ActionAssign, ActionUnassign,
		ActionSubscribe, ActionAdminRole, ActionAdminAudit, ActionAdminSubscriptions,
	}
}

// Known reports whether a is an action Decide knows.
func (a Action) Known() bool { return actions[a].kind != kindUnknown }

// ChangesSentry reports whether a changes an issue in Sentry. Such actions
// are decided on membership facts no older than Options.MemberTTL.
func (a Action) ChangesSentry() bool { return actions[a].kind == kindChange }

// AdminOnly reports whether only sentrybot admins may take a.
func (a Action) AdminOnly() bool { return actions[a].kind == kindAdmin }

// Subject is who asks, and where.
type Subject struct {
	TeamID, UserID, ChannelID string // Slack ids
}

// Resource is what an action is taken on. Org is the Sentry organization
// slug; empty means the configured one.
type Resource struct {
	IssueID     string
	Org         string
	ProjectSlug string
}

// Reason is the machine-readable code of a Decision, recorded in the audit
// log.
type Reason string

// Reason codes.
const (
	ReasonAllowedResponder  Reason = "allowed_responder"
	ReasonAllowedAdmin      Reason = "allowed_admin"
	ReasonNotLinked         Reason = "not_linked"
	ReasonViewerRole        Reason = "viewer_role"
	ReasonAdminOnly         Reason = "admin_only"
	ReasonWrongTeam         Reason = "wrong_team"
	ReasonWrongOrg          Reason = "wrong_org"
	ReasonMemberGone        Reason = "member_gone"
	ReasonUnknownAction     Reason = "unknown_action"
	ReasonSentryUnreachable Reason = "sentry_unreachable"
	ReasonInternal          Reason = "internal_error" // the facts could not be gathered
)

// Facts is everything a decision depends on.
type Facts struct {
	Linked   bool
	Identity store.Identity // valid when Linked

	// MemberActive: Sentry says the linked member exists and has accepted
	// the invite. For actions that change Sentry this is no older than
	// Options.MemberTTL.
	MemberActive bool
	// MemberCheckFailed: Sentry could not be asked when the decision needed
	// an answer. Decisions fail closed on it.
	MemberCheckFailed bool

	ConfiguredAdmin bool     // the user is in auth.admins
	WorkspaceAdmin  bool     // Slack workspace owner or admin
	Override        Role     // local role override; "" for none
	AdminIDs        []string // configured admins, named in messages

	TeamAllowed bool // the Slack workspace is the one sentrybot serves
	OrgAllowed  bool // the resource is in the configured Sentry organization
}

// Decision is the answer to one request.
type Decision struct {
	Allow   bool
	Reason  Reason
	Message string // for the user (Slack mrkdwn): why, and what to do next; empty when allowed
	Role    Role   // the subject's role as the decision saw it
}

// responderOrgRoles are the Sentry organization roles (their ids, as the
// members API returns them in orgRole) that make a linked member a
// responder. Billing and anything unknown give viewer.
var responderOrgRoles = map[string]bool{"member": true, "admin": true, "manager": true, "owner": true}

// RoleFor is the subject's sentrybot role: admin for configured and Slack
// workspace admins and admin overrides; otherwise the override; otherwise,
// for a linked and active member, the role their Sentry org role gives;
// otherwise viewer.
func RoleFor(f Facts) Role {
	if f.ConfiguredAdmin || f.WorkspaceAdmin || f.Override == RoleAdmin {
		return RoleAdmin
	}
	if f.Override != "" {
		if f.Override.rank() == 0 {
			return RoleViewer // an override this build does not know grants nothing
		}
		return f.Override
	}
	if f.Linked && f.MemberActive && !f.MemberCheckFailed && responderOrgRoles[f.Identity.OrgRole] {
		return RoleResponder
	}
	return RoleViewer
}

// Decide says whether the subject described by f may take action a on r.
// Anything not explicitly allowed below is denied.
func Decide(f Facts, a Action, r Resource) Decision {
	role := RoleFor(f)
	deny := func(reason Reason, msg string) Decision {
		return Decision{Reason: reason, Message: msg, Role: role}
	}
	spec, known := actions[a]
	switch {
	case !known:
		return deny(ReasonUnknownAction, "sentrybot doesn't know that action.")
	case !f.TeamAllowed:
		return deny(ReasonWrongTeam, "sentrybot isn't set up for this workspace.")
	case !f.OrgAllowed:
		return deny(ReasonWrongOrg, "sentrybot isn't set up for this organization.")
	}

	allowed := func() Decision {
		reason := ReasonAllowedResponder
		if role == RoleAdmin {
			reason = ReasonAllowedAdmin
		}
		return Decision{Allow: true, Reason: reason, Role: role}
	}

	switch spec.kind {
	case kindAdmin:
		if role == RoleAdmin {
			return allowed()
		}
		return deny(ReasonAdminOnly, "Only sentrybot admins can "+spec.does+". The admins are "+adminsWho(f.AdminIDs)+".")

	case kindChange:
		// Every change in Sentry is made for a member who exists now,
		// whatever the role.
		switch {
		case !f.Linked:
			return deny(ReasonNotLinked, msgNotLinked)
		case f.MemberCheckFailed:
			return deny(ReasonSentryUnreachable, msgUnreachable)
		case !f.MemberActive:
			return deny(ReasonMemberGone, msgMemberGone)
		case role.rank() >= RoleResponder.rank():
			return allowed()
		}
		return deny(ReasonViewerRole, viewerMessage(spec.does, f.AdminIDs))

	case kindLocal:
		if role.rank() >= RoleResponder.rank() {
			return allowed()
		}
		// Say what would most likely fix it.
		switch {
		case !f.Linked:
			return deny(ReasonNotLinked, msgNotLinked)
		case f.MemberCheckFailed:
			return deny(ReasonSentryUnreachable, msgUnreachable)
		case !f.MemberActive:
			return deny(ReasonMemberGone, msgMemberGone)
		}
		return deny(ReasonViewerRole, viewerMessage(spec.does, f.AdminIDs))
	}
	return deny(ReasonUnknownAction, "sentrybot doesn't know that action.")
}

// Messages users see on a denial.
const (
	msgNotLinked   = "You haven't linked your Slack account to Sentry yet. Run `/sentry link` to link it, then try again."
	msgUnreachable = "Couldn't reach Sentry to check your membership; try again in a minute."
	msgMemberGone  = "Your linked Sentry member no longer exists or hasn't accepted the invite. Run `/sentry link` again."
	msgInternal    = "Something went wrong while checking your permissions; try again in a minute."
)

// maxNamedAdmins bounds how many admins a message mentions.
const maxNamedAdmins = 5

// slackUserID matches user ids that are safe to put inside <@…>; anything
// else from configuration could break out of the mention.
var slackUserID = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)

func viewerMessage(does string, admins []string) string {
	who := "a Slack workspace admin"
	if m := adminMentions(admins); m != "" {
		who = "a sentrybot admin (" + m + " or a Slack workspace admin)"
	}
	return fmt.Sprintf("Your sentrybot role is *viewer*, which can't %s. Ask %s to give you the responder role.", does, who)
}

// adminsWho names the admins for a message: the configured ones, and the
// Slack workspace admins, who always are.
func adminsWho(admins []string) string {
	if m := adminMentions(admins); m != "" {
		return m + " and the Slack workspace admins"
	}
	return "the Slack workspace admins"
}

// adminMentions mentions up to maxNamedAdmins configured admins.
func adminMentions(admins []string) string {
	var mentions []string
	seen := map[string]bool{}
	for _, id := range admins {
		if len(mentions) == maxNamedAdmins {
			break
		}
		if slackUserID.MatchString(id) && !seen[id] {
			seen[id] = true
			mentions = append(mentions, "<@"+id+">")
		}
	}
	return strings.Join(mentions, ", ")
}
