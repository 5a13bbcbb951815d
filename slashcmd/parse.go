// Package slashcmd turns the text of the /sentry slash command into a typed
// Command. It is pure: no I/O, no Slack or Sentry calls.
//
// The app manifest sets should_escape, so Slack sends mentions and links as
// escapes (<@U123|alice>, <#C123|payments>, <https://…|label>, <!here>) and
// encodes & < > as HTML entities; Tokenize undoes both.
package slashcmd

import (
	"strings"
	"time"
)

// Verb is the first word of the command.
type Verb string

const (
	VerbHelp          Verb = "help"
	VerbLink          Verb = "link"
	VerbUnlink        Verb = "unlink"
	VerbWhoami        Verb = "whoami"
	VerbIssue         Verb = "issue"
	VerbSearch        Verb = "search"
	VerbResolve       Verb = "resolve"
	VerbUnresolve     Verb = "unresolve"
	VerbArchive       Verb = "archive"
	VerbUnarchive     Verb = "unarchive"
	VerbAssign        Verb = "assign"
	VerbAdmin         Verb = "admin"
	VerbSubscribe     Verb = "subscribe"
	VerbUnsubscribe   Verb = "unsubscribe"
	VerbSubscriptions Verb = "subscriptions"
)

// Known reports whether v is one of the verbs above.
func (v Verb) Known() bool {
	switch v {
	case VerbHelp, VerbLink, VerbUnlink, VerbWhoami, VerbIssue, VerbSearch,
		VerbResolve, VerbUnresolve, VerbArchive, VerbUnarchive, VerbAssign,
		VerbAdmin, VerbSubscribe, VerbUnsubscribe, VerbSubscriptions:
		return true
	}
	return false
}

// Values of Command.ResolveIn.
const (
	ResolveNextRelease    = "next-release"
	ResolveCurrentRelease = "current-release"
)

// Values of Command.AdminVerb.
const (
	AdminRole  = "role"
	AdminAudit = "audit"
)

// Command is one parsed /sentry command. Only the fields of its Verb are set.
type Command struct {
	Verb Verb
	// Issue is the issue reference as given: a numeric id, a short ID
	// upper-cased (BACKEND-1A2), or an http(s) URL unwrapped from <…>, left
	// for the link parser to interpret.
	Issue string
	// Share is set by `issue X share`: post the card for the channel to see.
	Share bool
	// Query is the Sentry search query: the rest of the text after the verb
	// (search) or after the projects (subscribe, unsubscribe). Tokens are
	// joined by one space; inside a token the text is kept verbatim except
	// that entities are decoded, Slack escapes become their readable form
	// (<#C1|payments> → #payments, <mailto:a@b.c|a@b.c> → a@b.c) and
	// typographic quotes become ASCII quotes.
	Query string
	// Projects are the leading project slugs of subscribe/unsubscribe,
	// lower-cased, de-duplicated, in order. They are the tokens before the
	// first query term, where a query term is a token that contains ':', starts
	// with '!', or is quoted: `subscribe backend web level:error` gives
	// [backend web] and "level:error". A comma list (backend,web) also works.
	// Every project token must be a valid slug, so free-text search words must
	// be quoted: `subscribe backend "timed out"`.
	Projects []string
	// ResolveIn is "", ResolveNextRelease or ResolveCurrentRelease.
	ResolveIn string
	// Archive is set for VerbArchive.
	Archive ArchiveArg
	// Assignee is set for VerbAssign.
	Assignee Target
	// AdminVerb is AdminRole or AdminAudit.
	AdminVerb string
	// RoleUser is the Slack user id of `admin role`; always from a real
	// mention, never a typed name.
	RoleUser string
	// Role is the role of `admin role`: one of Roles, lower-cased.
	Role string
	// AuditFilter narrows `admin audit`: TargetNone, TargetIssue (ID is the
	// issue reference) or TargetSlackUser (ID is the Slack user id).
	AuditFilter Target
	// All is set by `subscriptions all`: every channel, not just this one.
	All bool
}

// ArchiveArg says how long an archived issue stays archived. Exactly one of
// UntilEscalating, Forever, For > 0 or Count > 0 is set.
type ArchiveArg struct {
	// UntilEscalating is the default when no argument is given.
	UntilEscalating bool
	Forever         bool
	// For is between MinArchiveFor and MaxArchiveFor, whole minutes (Sentry's
	// ignoreDuration is in minutes).
	For time.Duration
	// Count archives until this many more events, 1..MaxArchiveCount.
	Count int
}

// Bounds of ArchiveArg.
const (
	MinArchiveFor   = time.Minute
	MaxArchiveFor   = 365 * 24 * time.Hour
	MaxArchiveCount = 1_000_000
)

// TargetKind is what a Target names.
type TargetKind int

const (
	TargetNone TargetKind = iota
	TargetMe
	TargetNobody
	TargetSlackUser
	TargetTeam
	TargetEmail
	TargetIssue
)

func (k TargetKind) String() string {
	switch k {
	case TargetNone:
		return "none"
	case TargetMe:
		return "me"
	case TargetNobody:
		return "nobody"
	case TargetSlackUser:
		return "slack user"
	case TargetTeam:
		return "team"
	case TargetEmail:
		return "email"
	case TargetIssue:
		return "issue"
	}
	return "unknown"
}

// Target is who (or what) a command points at.
//
//   - TargetSlackUser: ID is the Slack user id from a mention, Label its name.
//     A typed `@alice` that Slack did not escape has an empty ID and Label
//     "alice": the handler must ask for a real mention.
//   - TargetTeam: ID and Label are the Sentry team slug, lower-cased.
//   - TargetEmail: ID and Label are the address.
//   - TargetIssue: ID is the issue reference, as Command.Issue.
type Target struct {
	Kind  TargetKind
	ID    string
	Label string
}

// roles is fixed; Roles hands out copies.
var roles = [...]string{"admin", "responder", "viewer", "default"}

// Roles returns the roles `admin role` accepts.
func Roles() []string { return append([]string(nil), roles[:]...) }

// Parse parses the text Slack sent after /sentry. Verbs are case-insensitive;
// `?` means help. Mistakes are reported as *Error with a message for the
// user. Text that is blank gives ErrEmpty, together with a help Command.
func Parse(text string) (Command, error) {
	toks, err := Tokenize(text)
	if err != nil {
		return Command{}, err
	}
	if len(toks) == 0 {
		return Command{Verb: VerbHelp}, ErrEmpty
	}
	verb, ok := lookupVerb(toks[0])
	if !ok {
		return Command{}, unknown(toks[0])
	}
	args := toks[1:]
	cmd := Command{Verb: verb}
	switch verb {
	case VerbHelp, VerbLink, VerbUnlink, VerbWhoami:
		err = noArgs(verb, args)
	case VerbIssue:
		err = parseIssue(&cmd, args)
	case VerbSearch:
		err = parseSearch(&cmd, args)
	case VerbResolve:
		err = parseResolve(&cmd, args)
	case VerbUnresolve, VerbUnarchive:
		err = parseIssueOnly(&cmd, args)
	case VerbArchive:
		err = parseArchive(&cmd, args)
	case VerbAssign:
		err = parseAssign(&cmd, args)
	case VerbAdmin:
		err = parseAdmin(&cmd, args)
	case VerbSubscribe, VerbUnsubscribe:
		err = parseSubscribe(&cmd, args)
	case VerbSubscriptions:
		err = parseSubscriptions(&cmd, args)
	}
	if err != nil {
		return Command{}, err
	}
	return cmd, nil
}

func lookupVerb(t Token) (Verb, bool) {
	if t.Kind != TokenWord {
		return "", false
	}
	w := strings.ToLower(t.Text)
	if w == "?" {
		return VerbHelp, true
	}
	v := Verb(w)
	return v, v.Known()
}

func unknown(t Token) error {
	if t.Kind != TokenSpecial && t.Kind != TokenUser && t.Kind != TokenChannel {
		if ref, ok := issueRef(t); ok {
			if issueURL(ref) {
				return fail("Unknown command " + echo(t.Text) + ". To show that issue, put `issue` before the link.")
			}
			return fail("Unknown command " + echo(t.Text) + ". To show that issue: " + echo("issue "+ref) + ".")
		}
	}
	return fail("Unknown command " + echo(t.Text) + ". Try `/sentry help` for the list of commands.")
}

// example is the usage shown in errors about each verb.
func example(v Verb) string {
	switch v {
	case VerbIssue:
		return "`issue BACKEND-12`"
	case VerbSearch:
		return "`search is:unresolved level:error`"
	case VerbResolve:
		return "`resolve BACKEND-12 next-release`"
	case VerbUnresolve:
		return "`unresolve BACKEND-12`"
	case VerbArchive:
		return "`archive BACKEND-12 1d`"
	case VerbUnarchive:
		return "`unarchive BACKEND-12`"
	case VerbAssign:
		return "`assign BACKEND-12 @alice`"
	case VerbAdmin:
		return "`admin role @alice responder` or `admin audit BACKEND-12`"
	case VerbSubscribe:
		return "`subscribe backend level:error`"
	case VerbUnsubscribe:
		return "`unsubscribe backend`"
	case VerbSubscriptions:
		return "`subscriptions all`"
	}
	return "`" + string(v) + "`"
}

func extra(v Verb, what string, toks []Token) error {
	return fail("`" + string(v) + "` " + what + ", so " + echoTokens(toks) + " is unexpected, e.g. " + example(v) + ".")
}

func noArgs(v Verb, args []Token) error {
	if len(args) > 0 {
		return extra(v, "takes nothing after it", args)
	}
	return nil
}

// needIssue reads the issue reference that starts the arguments of v.
func needIssue(v Verb, args []Token) (string, error) {
	if len(args) == 0 {
		return "", fail("`" + string(v) + "` needs an issue, e.g. " + example(v) + ".")
	}
	return issueArg(v, args[0])
}

func issueArg(v Verb, t Token) (string, error) {
	if t.Kind == TokenSpecial {
		return "", groupMention(t, "an issue")
	}
	ref, ok := issueRef(t)
	if !ok {
		return "", fail(echo(t.Text) + " isn't an issue: give its short ID (BACKEND-1A2), number or link, e.g. " + example(v) + ".")
	}
	return ref, nil
}

func groupMention(t Token, slot string) error {
	return fail("Mentions of groups like " + echo(t.Text) + " can't be used as " + slot + ": mention one person, e.g. `assign BACKEND-12 @alice`.")
}

func parseIssue(cmd *Command, args []Token) (err error) {
	if cmd.Issue, err = needIssue(VerbIssue, args); err != nil {
		return err
	}
	rest := args[1:]
	if len(rest) > 0 && rest[0].Kind == TokenWord && strings.EqualFold(rest[0].Text, "share") {
		cmd.Share = true
		rest = rest[1:]
	}
	if len(rest) > 0 {
		return fail("`issue` takes an issue and optionally `share`, so " + echoTokens(rest) + " is unexpected, e.g. `issue BACKEND-12 share`.")
	}
	return nil
}

func parseIssueOnly(cmd *Command, args []Token) (err error) {
	if cmd.Issue, err = needIssue(cmd.Verb, args); err != nil {
		return err
	}
	if len(args) > 1 {
		return extra(cmd.Verb, "takes only an issue", args[1:])
	}
	return nil
}

func parseSearch(cmd *Command, args []Token) error {
	q, ok := query(args)
	if !ok {
		return fail("`search` needs a query, e.g. " + example(VerbSearch) + ".")
	}
	cmd.Query = q
	return nil
}

// query joins tokens into a search query; ok is false when it says nothing.
func query(toks []Token) (string, bool) {
	parts := make([]string, len(toks))
	ok := false
	for i, t := range toks {
		parts[i] = plain(t.Raw)
		ok = ok || strings.TrimSpace(t.Text) != ""
	}
	return strings.Join(parts, " "), ok
}

func parseResolve(cmd *Command, args []Token) (err error) {
	if cmd.Issue, err = needIssue(VerbResolve, args); err != nil {
		return err
	}
	cmd.ResolveIn, err = resolveIn(args[1:])
	return err
}

func parseArchive(cmd *Command, args []Token) (err error) {
	if cmd.Issue, err = needIssue(VerbArchive, args); err != nil {
		return err
	}
	cmd.Archive, err = archiveArg(args[1:])
	return err
}

func parseAssign(cmd *Command, args []Token) (err error) {
	if cmd.Issue, err = needIssue(VerbAssign, args); err != nil {
		return err
	}
	rest := args[1:]
	// "assign X to @alice" reads naturally; "to" is only a filler word here.
	if len(rest) > 1 && rest[0].Kind == TokenWord && !rest[0].Quoted && strings.EqualFold(rest[0].Text, "to") {
		rest = rest[1:]
	}
	if len(rest) == 0 {
		return fail("`assign` needs someone to assign to: `me`, a person, `#team`, an email or `none`, e.g. " + example(VerbAssign) + ".")
	}
	if len(rest) > 1 {
		return extra(VerbAssign, "takes an issue and one assignee", rest[1:])
	}
	cmd.Assignee, err = target(rest[0])
	return err
}

func parseAdmin(cmd *Command, args []Token) error {
	if len(args) == 0 {
		return fail("`admin` needs `role` or `audit`, e.g. " + example(VerbAdmin) + ".")
	}
	sub := strings.ToLower(args[0].Text)
	rest := args[1:]
	switch {
	case args[0].Kind == TokenWord && sub == AdminRole:
		cmd.AdminVerb = AdminRole
		return parseAdminRole(cmd, rest)
	case args[0].Kind == TokenWord && sub == AdminAudit:
		cmd.AdminVerb = AdminAudit
		return parseAdminAudit(cmd, rest)
	}
	return fail("`admin` knows `role` and `audit`, not " + echo(args[0].Text) + ", e.g. " + example(VerbAdmin) + ".")
}

const roleExample = "`admin role @alice responder`"

func parseAdminRole(cmd *Command, args []Token) error {
	if len(args) < 2 {
		return fail("`admin role` needs a person and a role (" + strings.Join(roles[:], ", ") + "), e.g. " + roleExample + ".")
	}
	id, err := mentionedUser(args[0], roleExample)
	if err != nil {
		return err
	}
	role := strings.ToLower(args[1].Text)
	if args[1].Kind != TokenWord || !validRole(role) {
		return fail(echo(args[1].Text) + " isn't a role: use one of " + strings.Join(roles[:], ", ") + ", e.g. " + roleExample + ".")
	}
	if len(args) > 2 {
		return fail("`admin role` takes a person and a role, so " + echoTokens(args[2:]) + " is unexpected, e.g. " + roleExample + ".")
	}
	cmd.RoleUser, cmd.Role = id, role
	return nil
}

func validRole(r string) bool {
	for _, v := range roles {
		if r == v {
			return true
		}
	}
	return false
}

// mentionedUser insists on a user mention that Slack escaped, because only
// that carries the user id; a typed name could be anyone.
func mentionedUser(t Token, ex string) (string, error) {
	switch t.Kind {
	case TokenUser:
		return t.ID, nil
	case TokenSpecial:
		return "", groupMention(t, "a person")
	}
	if strings.HasPrefix(t.Text, "@") && len(t.Text) > 1 {
		return "", fail(echo(t.Text) + " isn't a mention Slack recognised: pick the person from the list that appears as you type @, e.g. " + ex + ".")
	}
	return "", fail(echo(t.Text) + " isn't a person: mention them with @, e.g. " + ex + ".")
}

func parseAdminAudit(cmd *Command, args []Token) error {
	const ex = "`admin audit BACKEND-12` or `admin audit @alice`"
	if len(args) == 0 {
		return nil
	}
	if len(args) > 1 {
		return fail("`admin audit` takes at most one issue or person, so " + echoTokens(args[1:]) + " is unexpected, e.g. " + ex + ".")
	}
	t := args[0]
	if t.Kind == TokenUser || t.Kind == TokenSpecial || strings.HasPrefix(t.Text, "@") {
		id, err := mentionedUser(t, ex)
		if err != nil {
			return err
		}
		cmd.AuditFilter = Target{Kind: TargetSlackUser, ID: id, Label: t.Label}
		return nil
	}
	ref, ok := issueRef(t)
	if !ok {
		return fail(echo(t.Text) + " isn't an issue or a person, e.g. " + ex + ".")
	}
	cmd.AuditFilter = Target{Kind: TargetIssue, ID: ref}
	return nil
}

func parseSubscribe(cmd *Command, args []Token) error {
	var seen map[string]bool
	for i, t := range args {
		if queryTerm(t) {
			cmd.Query, _ = query(args[i:])
			break
		}
		if err := addProjects(cmd, t, &seen); err != nil {
			return err
		}
	}
	if cmd.Verb == VerbSubscribe && len(cmd.Projects) == 0 && cmd.Query == "" {
		return fail("`subscribe` needs projects, a query or both, e.g. " + example(VerbSubscribe) + ".")
	}
	return nil
}

// queryTerm is the rule documented on Command.Projects.
func queryTerm(t Token) bool {
	return t.Quoted || strings.Contains(t.Text, ":") || strings.HasPrefix(t.Text, "!")
}

func addProjects(cmd *Command, t Token, seen *map[string]bool) error {
	ex := example(cmd.Verb)
	switch t.Kind {
	case TokenSpecial:
		return groupMention(t, "a project")
	case TokenChannel:
		return fail(echo(t.Text) + " is a Slack channel: name Sentry projects by slug, e.g. " + ex + ".")
	case TokenUser, TokenLink:
		return fail(echo(t.Text) + " isn't a project slug: name Sentry projects by slug, e.g. " + ex + ".")
	}
	for _, p := range strings.Split(t.Text, ",") {
		if p == "" {
			continue
		}
		slug, ok := slugOf(p)
		if !ok {
			return fail(echo(p) + " isn't a project slug; quote free text and write filters as key:value, e.g. " + ex + ".")
		}
		if *seen == nil {
			*seen = map[string]bool{}
		}
		if !(*seen)[slug] {
			(*seen)[slug] = true
			cmd.Projects = append(cmd.Projects, slug)
		}
	}
	return nil
}

func parseSubscriptions(cmd *Command, args []Token) error {
	if len(args) == 1 && args[0].Kind == TokenWord && strings.EqualFold(args[0].Text, "all") {
		cmd.All = true
		return nil
	}
	if len(args) > 0 {
		return fail("`subscriptions` takes only `all`, so " + echoTokens(args) + " is unexpected, e.g. `subscriptions` or `subscriptions all`.")
	}
	return nil
}
