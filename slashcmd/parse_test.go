package slashcmd

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

type parseCase struct {
	name string
	in   string
	want Command
	// err, when set, is a substring the *Error message must contain.
	err string
}

// parseCases is shared by TestParse, FuzzParse (as seeds) and BenchmarkParse.
func parseCases() []parseCase {
	issue := func(v Verb, ref string) Command { return Command{Verb: v, Issue: ref} }
	archive := func(a ArchiveArg) Command { return Command{Verb: VerbArchive, Issue: "BACKEND-12", Archive: a} }
	assign := func(t Target) Command { return Command{Verb: VerbAssign, Issue: "BACKEND-12", Assignee: t} }
	resolve := func(in string) Command { return Command{Verb: VerbResolve, Issue: "BACKEND-12", ResolveIn: in} }
	search := func(q string) Command { return Command{Verb: VerbSearch, Query: q} }
	sub := func(q string, p ...string) Command { return Command{Verb: VerbSubscribe, Query: q, Projects: p} }
	role := func(u, r string) Command {
		return Command{Verb: VerbAdmin, AdminVerb: AdminRole, RoleUser: u, Role: r}
	}
	audit := func(t Target) Command { return Command{Verb: VerbAdmin, AdminVerb: AdminAudit, AuditFilter: t} }
	escalating := ArchiveArg{UntilEscalating: true}
	bob := Target{Kind: TargetSlackUser, ID: "U0BOB", Label: "bob"}
	payments := Target{Kind: TargetTeam, ID: "payments", Label: "payments"}
	email := Target{Kind: TargetEmail, ID: "alice@acme.com", Label: "alice@acme.com"}
	const groupErr = "Mentions of groups like"

	return []parseCase{
		// help and the no-argument verbs
		{name: "help", in: "help", want: Command{Verb: VerbHelp}},
		{name: "help upper case", in: "HELP", want: Command{Verb: VerbHelp}},
		{name: "help padded", in: "  \t Help \n ", want: Command{Verb: VerbHelp}},
		{name: "question mark", in: "?", want: Command{Verb: VerbHelp}},
		{name: "help with argument", in: "help me", err: "`help` takes nothing after it, so `me` is unexpected"},
		{name: "link", in: "link", want: Command{Verb: VerbLink}},
		{name: "unlink", in: "Unlink", want: Command{Verb: VerbUnlink}},
		{name: "whoami", in: "WhoAmI", want: Command{Verb: VerbWhoami}},
		{name: "link with argument", in: "link <@U0BOB|bob>", err: "`link` takes nothing after it, so `@bob` is unexpected"},
		{name: "whoami with arguments", in: "whoami really now", err: "`really now` is unexpected"},

		// unknown verbs
		{name: "unknown", in: "frobnicate BACKEND-12", err: "Unknown command `frobnicate`. Try `/sentry help`"},
		{name: "unknown mention", in: "<@U0BOB|bob> hi", err: "Unknown command `@bob`"},
		{name: "unknown special", in: "<!channel> look", err: "Unknown command `@channel`"},
		{name: "unknown link", in: "<https://acme.sentry.io/issues/1/>", err: "Unknown command `https://acme.sentry.io/issues/1/`. To show that issue, put `issue` before the link."},
		{name: "unknown garbled url", in: "http://0&gt;", err: "Unknown command `http://0`. Try `/sentry help`"},
		{name: "issue url with angle bracket", in: "issue https://acme.sentry.io/issues/1/&lt;x", err: "isn't an issue"},
		{name: "unknown bare short id", in: "backend-12", err: "Unknown command `backend-12`. To show that issue: `issue BACKEND-12`"},
		{name: "unknown unicode", in: "résoudre BACKEND-12", err: "Unknown command `résoudre`"},
		{name: "unknown long word truncated", in: strings.Repeat("x", 60), err: "Unknown command `" + strings.Repeat("x", 39) + "…`"},
		{name: "unknown entity", in: "&lt;script&gt;", err: "Unknown command `script`"},
		{name: "unknown quoted empty", in: `""`, err: "Unknown command `\"\"`"},

		// issue
		{name: "issue short id", in: "issue BACKEND-12", want: issue(VerbIssue, "BACKEND-12")},
		{name: "issue short id lower case", in: "issue backend-1a2", want: issue(VerbIssue, "BACKEND-1A2")},
		{name: "issue short id underscores", in: "issue my_app-web-3f", want: issue(VerbIssue, "MY_APP-WEB-3F")},
		{name: "issue numeric", in: "issue 4321", want: issue(VerbIssue, "4321")},
		{name: "issue url share", in: "issue https://acme.sentry.io/issues/4321/ share", want: Command{Verb: VerbIssue, Issue: "https://acme.sentry.io/issues/4321/", Share: true}},
		{name: "issue escaped url share", in: "issue <https://acme.sentry.io/issues/4321/> SHARE", want: Command{Verb: VerbIssue, Issue: "https://acme.sentry.io/issues/4321/", Share: true}},
		{name: "issue labelled url", in: "issue <https://acme.sentry.io/issues/4321/?q=a&amp;b=1|BACKEND-12>", want: issue(VerbIssue, "https://acme.sentry.io/issues/4321/?q=a&b=1")},
		{name: "issue quoted", in: `issue "BACKEND-12"`, want: issue(VerbIssue, "BACKEND-12")},
		{name: "issue typographic quotes", in: "issue “BACKEND-12”", want: issue(VerbIssue, "BACKEND-12")},
		{name: "issue single typographic quotes", in: "issue ‘BACKEND-12’", want: issue(VerbIssue, "BACKEND-12")},
		{name: "issue mixed case verb extra spaces", in: "   IsSuE     BACKEND-12   ", want: issue(VerbIssue, "BACKEND-12")},
		{name: "issue missing", in: "issue", err: "`issue` needs an issue, e.g. `issue BACKEND-12`."},
		{name: "issue extra", in: "issue BACKEND-12 share now", err: "so `now` is unexpected, e.g. `issue BACKEND-12 share`"},
		{name: "issue extra not share", in: "issue BACKEND-12 public", err: "so `public` is unexpected"},
		{name: "issue user mention", in: "issue <@U0BOB|bob>", err: "`@bob` isn't an issue: give its short ID (BACKEND-1A2), number or link, e.g. `issue BACKEND-12`."},
		{name: "issue channel mention", in: "issue <#C0PAY>", err: "`#C0PAY` isn't an issue"},
		{name: "issue here", in: "issue <!here>", err: groupErr + " `@here` can't be used as an issue"},
		{name: "issue ftp url", in: "issue ftp://acme.sentry.io/issues/1/", err: "isn't an issue"},
		{name: "issue mailto", in: "issue <mailto:a@acme.com|a@acme.com>", err: "`a@acme.com` isn't an issue"},
		{name: "issue with space", in: `issue "BACKEND 12"`, err: "`BACKEND 12` isn't an issue"},
		{name: "issue trailing dash", in: "issue BACKEND-", err: "isn't an issue"},
		{name: "issue leading dash", in: "issue -12", err: "isn't an issue"},
		{name: "issue short id bad character", in: "issue BACK.END-12", err: "`BACK.END-12` isn't an issue"},
		{name: "issue short id bad suffix", in: "issue BACKEND-1_2", err: "isn't an issue"},
		{name: "issue no dash", in: "issue BACKEND", err: "`BACKEND` isn't an issue"},
		{name: "issue id too long", in: "issue 12345678901234567890", err: "isn't an issue"},
		{name: "issue invalid utf8", in: "issue \xff\xfe", err: "isn't an issue"},

		// search
		{name: "search", in: "search is:unresolved level:error assigned:me", want: search("is:unresolved level:error assigned:me")},
		{name: "search whitespace", in: "SEARCH   is:unresolved \t\n level:error  ", want: search("is:unresolved level:error")},
		{name: "search quoted value", in: `search message:"timed out" is:unresolved`, want: search(`message:"timed out" is:unresolved`)},
		{name: "search quoted keeps inner spaces", in: `search message:"timed   out"`, want: search(`message:"timed   out"`)},
		{name: "search typographic quotes", in: "search message:“timed out”", want: search(`message:"timed out"`)},
		{name: "search single quotes", in: "search message:'timed out'", want: search("message:'timed out'")},
		{name: "search apostrophe", in: "search it’s broken", want: search("it's broken")},
		{name: "search html escapes", in: "search message:&lt;script&gt; &amp;&amp; done", want: search("message:<script> && done")},
		{name: "search channel becomes team", in: "search assigned:<#C0PAY|payments>", want: search("assigned:#payments")},
		{name: "search mailto becomes email", in: "search assigned:<mailto:alice@acme.com|alice@acme.com>", want: search("assigned:alice@acme.com")},
		{name: "search user mention", in: "search <@U0BOB|bob>", want: search("@bob")},
		{name: "search link", in: "search url:<https://acme.com/a?x=1&amp;y=2>", want: search("url:https://acme.com/a?x=1&y=2")},
		{name: "search negation", in: "search !is:resolved", want: search("!is:resolved")},
		{name: "search missing", in: "search", err: "`search` needs a query, e.g. `search is:unresolved level:error`."},
		{name: "search empty quotes", in: `search ""`, err: "`search` needs a query"},
		{name: "search unbalanced double", in: `search message:"timed out`, err: "A quote isn't closed"},
		{name: "search unbalanced single", in: "search 'timed out", err: "A quote isn't closed"},
		{name: "search unbalanced typographic", in: "search “timed out", err: "A quote isn't closed"},

		// resolve
		{name: "resolve", in: "resolve BACKEND-12", want: resolve("")},
		{name: "resolve upper case", in: "RESOLVE backend-12", want: resolve("")},
		{name: "resolve next-release", in: "resolve BACKEND-12 next-release", want: resolve(ResolveNextRelease)},
		{name: "resolve next", in: "resolve BACKEND-12 next", want: resolve(ResolveNextRelease)},
		{name: "resolve next_release", in: "resolve BACKEND-12 NEXT_RELEASE", want: resolve(ResolveNextRelease)},
		{name: "resolve in next release", in: "resolve BACKEND-12 in next release", want: resolve(ResolveNextRelease)},
		{name: "resolve quoted in next release", in: "resolve BACKEND-12 “in next release”", want: resolve(ResolveNextRelease)},
		{name: "resolve in the next release", in: "resolve BACKEND-12 in the next release", want: resolve(ResolveNextRelease)},
		{name: "resolve current", in: "resolve BACKEND-12 current", want: resolve(ResolveCurrentRelease)},
		{name: "resolve latest", in: "resolve BACKEND-12 latest", want: resolve(ResolveCurrentRelease)},
		{name: "resolve current-release", in: "resolve BACKEND-12 current-release", want: resolve(ResolveCurrentRelease)},
		{name: "resolve in current release", in: "resolve BACKEND-12 in current release", want: resolve(ResolveCurrentRelease)},
		{name: "resolve missing issue", in: "resolve", err: "`resolve` needs an issue, e.g. `resolve BACKEND-12 next-release`."},
		{name: "resolve bad release", in: "resolve BACKEND-12 tomorrow", err: "so `tomorrow` is unexpected, e.g. `resolve BACKEND-12 next-release`"},
		{name: "resolve extra words", in: "resolve BACKEND-12 next release please", err: "so `next release please` is unexpected"},
		{name: "resolve mention", in: "resolve BACKEND-12 <@U0BOB|bob>", err: "so `@bob` is unexpected"},
		{name: "resolve group", in: "resolve <!subteam^S123|@oncall>", err: groupErr + " `@oncall` can't be used as an issue"},

		// unresolve, unarchive
		{name: "unresolve", in: "unresolve 4321", want: issue(VerbUnresolve, "4321")},
		{name: "unresolve extra", in: "unresolve 4321 now", err: "`unresolve` takes only an issue, so `now` is unexpected, e.g. `unresolve BACKEND-12`."},
		{name: "unresolve missing", in: "unresolve", err: "`unresolve` needs an issue"},
		{name: "unarchive", in: "UnArchive backend-12", want: issue(VerbUnarchive, "BACKEND-12")},
		{name: "unarchive missing", in: "unarchive   ", err: "`unarchive` needs an issue, e.g. `unarchive BACKEND-12`."},
		{name: "unarchive extra", in: "unarchive BACKEND-12 1d", err: "so `1d` is unexpected"},

		// archive
		{name: "archive default", in: "archive BACKEND-12", want: archive(escalating)},
		{name: "archive 1d", in: "archive BACKEND-12 1d", want: archive(ArchiveArg{For: 24 * time.Hour})},
		{name: "archive 1h", in: "archive BACKEND-12 1h", want: archive(ArchiveArg{For: time.Hour})},
		{name: "archive 1w", in: "archive BACKEND-12 1w", want: archive(ArchiveArg{For: 7 * 24 * time.Hour})},
		{name: "archive 30m", in: "archive BACKEND-12 30m", want: archive(ArchiveArg{For: 30 * time.Minute})},
		{name: "archive 2d", in: "archive BACKEND-12 2D", want: archive(ArchiveArg{For: 48 * time.Hour})},
		{name: "archive 1m minimum", in: "archive BACKEND-12 1m", want: archive(ArchiveArg{For: time.Minute})},
		{name: "archive 365d maximum", in: "archive BACKEND-12 365d", want: archive(ArchiveArg{For: MaxArchiveFor})},
		{name: "archive 525600m maximum", in: "archive BACKEND-12 525600m", want: archive(ArchiveArg{For: MaxArchiveFor})},
		{name: "archive 52w", in: "archive BACKEND-12 52w", want: archive(ArchiveArg{For: 52 * 7 * 24 * time.Hour})},
		{name: "archive for 2 days", in: "archive BACKEND-12 for 2 days", want: archive(ArchiveArg{For: 48 * time.Hour})},
		{name: "archive escalating", in: "archive BACKEND-12 escalating", want: archive(escalating)},
		{name: "archive until-escalating", in: "archive BACKEND-12 until-escalating", want: archive(escalating)},
		{name: "archive until escalating words", in: "archive BACKEND-12 Until Escalating", want: archive(escalating)},
		{name: "archive forever", in: "archive BACKEND-12 FOREVER", want: archive(ArchiveArg{Forever: true})},
		{name: "archive count", in: "archive BACKEND-12 100", want: archive(ArchiveArg{Count: 100})},
		{name: "archive count x", in: "archive BACKEND-12 100x", want: archive(ArchiveArg{Count: 100})},
		{name: "archive count events", in: "archive BACKEND-12 100 events", want: archive(ArchiveArg{Count: 100})},
		{name: "archive count quoted events", in: `archive BACKEND-12 "100 events"`, want: archive(ArchiveArg{Count: 100})},
		{name: "archive count maximum", in: "archive BACKEND-12 1000000", want: archive(ArchiveArg{Count: MaxArchiveCount})},
		{name: "archive missing issue", in: "archive", err: "`archive` needs an issue, e.g. `archive BACKEND-12 1d`."},
		{name: "archive duration first", in: "archive 1d", err: "`1d` isn't an issue"},
		{name: "archive zero minutes", in: "archive BACKEND-12 0m", err: "Archive for 1 minute to 365 days, not `0m`"},
		{name: "archive too long", in: "archive BACKEND-12 366d", err: "Archive for 1 minute to 365 days, not `366d`"},
		{name: "archive 53w", in: "archive BACKEND-12 53w", err: "Archive for 1 minute to 365 days"},
		{name: "archive huge number", in: "archive BACKEND-12 99999999999999999999999d", err: "Archive for 1 minute to 365 days"},
		{name: "archive zero count", in: "archive BACKEND-12 0", err: "Archive until 1 to 1,000,000 more events, not `0`"},
		{name: "archive count too big", in: "archive BACKEND-12 1000001x", err: "Archive until 1 to 1,000,000 more events"},
		{name: "archive years", in: "archive BACKEND-12 1y", err: "`archive` takes an issue and optionally `until-escalating`"},
		{name: "archive fraction", in: "archive BACKEND-12 1.5h", err: "so `1.5h` is unexpected, e.g. `archive BACKEND-12 1d`."},
		{name: "archive two conditions", in: "archive BACKEND-12 1d forever", err: "so `1d forever` is unexpected"},
		{name: "archive mention", in: "archive BACKEND-12 <@U0BOB|bob>", err: "so `@bob` is unexpected"},

		// assign
		{name: "assign fixture escaped mention", in: "assign BACKEND-12 <@U0BOB|bob>", want: assign(bob)},
		{name: "assign mention without label", in: "assign BACKEND-12 <@U0BOB>", want: assign(Target{Kind: TargetSlackUser, ID: "U0BOB"})},
		{name: "assign mention label with at", in: "assign BACKEND-12 <@U0BOB|@bob>", want: assign(bob)},
		{name: "assign unescaped at name", in: "assign BACKEND-12 @alice", want: assign(Target{Kind: TargetSlackUser, Label: "alice"})},
		{name: "assign hash team", in: "assign BACKEND-12 #payments", want: assign(payments)},
		{name: "assign channel mention team", in: "assign BACKEND-12 <#C0PAY|payments>", want: assign(payments)},
		{name: "assign channel mention without label", in: "assign BACKEND-12 <#C0PAY>", err: "Slack sent that channel without its name: write the team as `team:payments`"},
		{name: "assign team prefix", in: "assign BACKEND-12 team:Payments", want: assign(payments)},
		{name: "assign team prefix hash", in: "assign BACKEND-12 TEAM:#payments", want: assign(payments)},
		{name: "assign me", in: "assign BACKEND-12 me", want: assign(Target{Kind: TargetMe})},
		{name: "assign ME", in: "Assign backend-12 ME", want: assign(Target{Kind: TargetMe})},
		{name: "assign none", in: "assign BACKEND-12 none", want: assign(Target{Kind: TargetNobody})},
		{name: "assign nobody", in: "assign BACKEND-12 Nobody", want: assign(Target{Kind: TargetNobody})},
		{name: "assign unassign", in: "assign BACKEND-12 unassign", want: assign(Target{Kind: TargetNobody})},
		{name: "assign email", in: "assign BACKEND-12 alice@acme.com", want: assign(email)},
		{name: "assign mailto", in: "assign BACKEND-12 <mailto:alice@acme.com|alice@acme.com>", want: assign(email)},
		{name: "assign to", in: "assign BACKEND-12 to <@U0BOB|bob>", want: assign(bob)},
		{name: "assign newline and tab", in: "assign\tBACKEND-12\n<@U0BOB|bob>", want: assign(bob)},
		{name: "assign no-break spaces", in: "assign\u00a0BACKEND-12\u00a0<@U0BOB|bob>", want: assign(bob)},
		{name: "assign numeric issue", in: "assign 4321 me", want: Command{Verb: VerbAssign, Issue: "4321", Assignee: Target{Kind: TargetMe}}},
		{name: "assign url issue", in: "assign <https://acme.sentry.io/issues/4321/> me", want: Command{Verb: VerbAssign, Issue: "https://acme.sentry.io/issues/4321/", Assignee: Target{Kind: TargetMe}}},
		{name: "assign missing target", in: "assign BACKEND-12", err: "`assign` needs someone to assign to: `me`, a person, `#team`, an email or `none`, e.g. `assign BACKEND-12 @alice`."},
		{name: "assign only to", in: "assign BACKEND-12 to", err: "`to` isn't someone Sentry can assign"},
		{name: "assign missing issue", in: "assign", err: "`assign` needs an issue, e.g. `assign BACKEND-12 @alice`."},
		{name: "assign here", in: "assign BACKEND-12 <!here>", err: groupErr + " `@here` can't be assigned"},
		{name: "assign channel special", in: "assign BACKEND-12 <!channel>", err: groupErr + " `@channel` can't be assigned"},
		{name: "assign everyone", in: "assign BACKEND-12 <!everyone>", err: groupErr + " `@everyone` can't be assigned"},
		{name: "assign subteam", in: "assign BACKEND-12 <!subteam^S123|@oncall>", err: groupErr + " `@oncall` can't be assigned"},
		{name: "assign subteam without label", in: "assign BACKEND-12 <!subteam^S123>", err: groupErr + " `@S123` can't be assigned"},
		{name: "assign typed at here", in: "assign BACKEND-12 @here", err: groupErr + " `@here` can't be assigned"},
		{name: "assign bare name", in: "assign BACKEND-12 bob", err: "`bob` isn't someone Sentry can assign: use `me`, `@person`, `#team`, `team:slug`, an email or `none`"},
		{name: "assign bare at", in: "assign BACKEND-12 @", err: "`@` isn't a person"},
		{name: "assign two people", in: "assign BACKEND-12 @alice <@U0BOB|bob>", err: "`assign` takes an issue and one assignee, so `@bob` is unexpected"},
		{name: "assign link", in: "assign BACKEND-12 <https://acme.com/>", err: "A link can't be assigned"},
		{name: "assign swapped", in: "assign @alice BACKEND-12", err: "`@alice` isn't an issue: give its short ID (BACKEND-1A2), number or link, e.g. `assign BACKEND-12 @alice`."},
		{name: "assign bad team", in: "assign BACKEND-12 #pay.ments", err: "`#pay.ments` isn't a team"},
		{name: "assign empty team", in: "assign BACKEND-12 team:", err: "`team:` isn't a team"},
		{name: "assign bad email", in: "assign BACKEND-12 alice@", err: "`alice@` isn't an email address"},
		{name: "assign email with name", in: `assign BACKEND-12 "Alice alice@acme.com"`, err: "isn't an email address"},

		// admin
		{name: "admin role", in: "admin role <@U0BOB|bob> responder", want: role("U0BOB", "responder")},
		{name: "admin role mixed case", in: "Admin ROLE <@U0BOB> Admin", want: role("U0BOB", "admin")},
		{name: "admin role viewer", in: "admin role <@U0BOB|bob> viewer", want: role("U0BOB", "viewer")},
		{name: "admin role default", in: "admin role <@U0BOB|bob> default", want: role("U0BOB", "default")},
		{name: "admin role bad role", in: "admin role <@U0BOB|bob> superuser", err: "`superuser` isn't a role: use one of admin, responder, viewer, default"},
		{name: "admin role typed name", in: "admin role @bob viewer", err: "`@bob` isn't a mention Slack recognised"},
		{name: "admin role bare name", in: "admin role bob viewer", err: "`bob` isn't a person: mention them with @"},
		{name: "admin role group", in: "admin role <!here> viewer", err: groupErr + " `@here` can't be used as a person"},
		{name: "admin role missing role", in: "admin role <@U0BOB|bob>", err: "`admin role` needs a person and a role (admin, responder, viewer, default)"},
		{name: "admin role missing all", in: "admin role", err: "`admin role` needs a person and a role"},
		{name: "admin role extra", in: "admin role <@U0BOB|bob> viewer now", err: "`admin role` takes a person and a role, so `now` is unexpected"},
		{name: "admin audit", in: "admin audit", want: audit(Target{})},
		{name: "admin audit issue", in: "admin AUDIT backend-12", want: audit(Target{Kind: TargetIssue, ID: "BACKEND-12"})},
		{name: "admin audit user", in: "admin audit <@U0BOB|bob>", want: audit(bob)},
		{name: "admin audit user without label", in: "admin audit <@U0BOB>", want: audit(Target{Kind: TargetSlackUser, ID: "U0BOB"})},
		{name: "admin audit typed name", in: "admin audit @bob", err: "`@bob` isn't a mention Slack recognised"},
		{name: "admin audit group", in: "admin audit <!channel>", err: groupErr + " `@channel` can't be used as a person"},
		{name: "admin audit junk", in: "admin audit yesterday", err: "`yesterday` isn't an issue or a person"},
		{name: "admin audit extra", in: "admin audit BACKEND-12 <@U0BOB|bob>", err: "`admin audit` takes at most one issue or person, so `@bob` is unexpected"},
		{name: "admin missing", in: "admin", err: "`admin` needs `role` or `audit`, e.g. `admin role @alice responder` or `admin audit BACKEND-12`."},
		{name: "admin unknown", in: "admin delete everything", err: "`admin` knows `role` and `audit`, not `delete`"},

		// subscribe, unsubscribe, subscriptions
		{name: "subscribe project and query", in: "subscribe backend level:error is:unresolved", want: sub("level:error is:unresolved", "backend")},
		{name: "subscribe query only", in: "subscribe level:error", want: sub("level:error")},
		{name: "subscribe projects only", in: "subscribe backend web", want: sub("", "backend", "web")},
		{name: "subscribe comma list and dedupe", in: "Subscribe backend,web, Backend !is:resolved", want: sub("!is:resolved", "backend", "web")},
		{name: "subscribe quoted free text", in: `subscribe backend "timed out" level:error`, want: sub(`"timed out" level:error`, "backend")},
		{name: "subscribe typographic quoted", in: "subscribe backend “timed out”", want: sub(`"timed out"`, "backend")},
		{name: "subscribe unquoted words are projects", in: "subscribe backend timed out", want: sub("", "backend", "timed", "out")},
		{name: "subscribe query keeps later words", in: "subscribe backend level:error timed out", want: sub("level:error timed out", "backend")},
		{name: "subscribe html escape in query", in: "subscribe backend message:a&amp;b", want: sub("message:a&b", "backend")},
		{name: "subscribe missing", in: "subscribe", err: "`subscribe` needs projects, a query or both, e.g. `subscribe backend level:error`."},
		{name: "subscribe channel", in: "subscribe <#C0PAY|payments> level:error", err: "`#payments` is a Slack channel: name Sentry projects by slug"},
		{name: "subscribe user", in: "subscribe <@U0BOB|bob>", err: "`@bob` isn't a project slug"},
		{name: "subscribe bad slug", in: "subscribe back.end level:error", err: "`back.end` isn't a project slug; quote free text and write filters as key:value"},
		{name: "subscribe group", in: "subscribe <!here>", err: groupErr + " `@here` can't be used as a project"},
		{name: "unsubscribe", in: "unsubscribe", want: Command{Verb: VerbUnsubscribe}},
		{name: "unsubscribe project", in: "unsubscribe backend", want: Command{Verb: VerbUnsubscribe, Projects: []string{"backend"}}},
		{name: "unsubscribe project and query", in: "unsubscribe backend level:error", want: Command{Verb: VerbUnsubscribe, Projects: []string{"backend"}, Query: "level:error"}},
		{name: "unsubscribe bad slug", in: "unsubscribe back/end", err: "isn't a project slug"},
		{name: "subscriptions", in: "subscriptions", want: Command{Verb: VerbSubscriptions}},
		{name: "subscriptions all", in: "Subscriptions ALL", want: Command{Verb: VerbSubscriptions, All: true}},
		{name: "subscriptions junk", in: "subscriptions mine", err: "`subscriptions` takes only `all`, so `mine` is unexpected"},
		{name: "subscriptions all extra", in: "subscriptions all now", err: "so `all now` is unexpected"},

		// cleaning and limits
		{name: "control characters stripped", in: "re\x00solve\x07 BACKEND-12\x1b", want: resolve("")},
		{name: "zero width space stripped", in: "resolve\u200b BACKEND\u200b-12", want: resolve("")},
		{name: "bidi override stripped", in: "\u202eresolve BACKEND-12", want: resolve("")},
		{name: "too long", in: "search " + strings.Repeat("a", MaxTextBytes), err: "That command is too long"},
		{name: "literal angle bracket kept as text", in: "search a < b", want: search("a < b")},
		{name: "unterminated escape", in: "search <@U0BOB", want: search("<@U0BOB")},
		{name: "escape with bad id is text", in: "issue <@bad id>", err: "isn't an issue"},
	}
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if tc.err != "" {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("Parse(%q) = %+v, %v; want *Error containing %q", tc.in, got, err, tc.err)
				}
				if !strings.Contains(e.Msg, tc.err) {
					t.Fatalf("Parse(%q) error:\n  %s\nwant it to contain:\n  %s", tc.in, e.Msg, tc.err)
				}
				if strings.ContainsAny(e.Msg, "<>") {
					t.Errorf("error message has angle brackets: %s", e.Msg)
				}
				if !reflect.DeepEqual(got, Command{}) {
					t.Errorf("Parse(%q) returned %+v with an error; want the zero Command", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseEmpty(t *testing.T) {
	for _, in := range []string{"", "   ", "\t\n\r ", "\x00\x01\u200b", "\u00a0"} {
		got, err := Parse(in)
		if !errors.Is(err, ErrEmpty) {
			t.Errorf("Parse(%q) error = %v, want ErrEmpty", in, err)
		}
		if got.Verb != VerbHelp {
			t.Errorf("Parse(%q) verb = %q, want help", in, got.Verb)
		}
	}
}

// The exact text a user sees for the example in the brief of each verb.
func TestParseErrorMessages(t *testing.T) {
	for in, want := range map[string]string{
		"archive":    "`archive` needs an issue, e.g. `archive BACKEND-12 1d`.",
		"frobnicate": "Unknown command `frobnicate`. Try `/sentry help` for the list of commands.",
		"assign BACKEND-12 <!here>": "Mentions of groups like `@here` can't be assigned: mention one person or a team, " +
			"e.g. `assign BACKEND-12 @alice` or `assign BACKEND-12 #payments`.",
		"<!subteam^S1|@all-hands> " + strings.Repeat("z", 50): "Unknown command `@all-hands`. Try `/sentry help` for the list of commands.",
		strings.Repeat("é", 41) + " x":                        "Unknown command `" + strings.Repeat("é", 39) + "…`. Try `/sentry help` for the list of commands.",
	} {
		_, err := Parse(in)
		if err == nil || err.Error() != want {
			t.Errorf("Parse(%q) error:\n  %v\nwant:\n  %s", in, err, want)
		}
	}
}

// The envelope Slack delivers for /sentry, as in the shared fixtures.
func TestParseFixtureEnvelope(t *testing.T) {
	raw, err := os.ReadFile("testdata/envelope-slash-command.json")
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Payload struct {
			Command string `json:"command"`
			Text    string `json:"text"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("decoding fixture: %v", err)
	}
	if env.Payload.Command != "/sentry" {
		t.Fatalf("fixture command = %q", env.Payload.Command)
	}
	got, err := Parse(env.Payload.Text)
	if err != nil {
		t.Fatalf("Parse(%q): %v", env.Payload.Text, err)
	}
	want := Command{Verb: VerbAssign, Issue: "BACKEND-12", Assignee: Target{Kind: TargetSlackUser, ID: "U0BOB", Label: "bob"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestRolesIsACopy(t *testing.T) {
	r := Roles()
	r[0] = "owner"
	if Roles()[0] != "admin" {
		t.Fatal("Roles() exposes the package's own slice")
	}
}

func TestKindStrings(t *testing.T) {
	if TokenUser.String() != "user mention" || TargetTeam.String() != "team" || TokenKind(99).String() != "unknown" || TargetKind(99).String() != "unknown" {
		t.Fatal("kind names changed")
	}
}
