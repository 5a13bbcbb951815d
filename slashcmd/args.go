package slashcmd

import (
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// issueRef validates an issue reference: a numeric id, a short ID
// (PROJECT-SUFFIX, returned upper-cased as Sentry shows it), or an http(s)
// URL returned as given.
func issueRef(t Token) (string, bool) {
	switch t.Kind {
	case TokenLink:
		if issueURL(t.ID) {
			return t.ID, true
		}
		return "", false
	case TokenWord:
	default:
		return "", false
	}
	s := t.Text
	switch {
	case numericID(s):
		return s, true
	case shortID(s):
		return strings.ToUpper(s), true
	case issueURL(s):
		return s, true
	}
	return "", false
}

// numericID: Sentry group ids are 64-bit integers.
func numericID(s string) bool {
	if s == "" || len(s) > 19 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// shortID matches [A-Za-z0-9][A-Za-z0-9_-]*-[A-Za-z0-9]+: a project slug,
// a dash, and a base-36 counter (BACKEND-1A2, my_app-web-3F).
func shortID(s string) bool {
	if len(s) < 3 || len(s) > 100 {
		return false
	}
	dash := strings.LastIndexByte(s, '-')
	if dash <= 0 || dash == len(s)-1 || !alnum(s[0]) {
		return false
	}
	for i := 1; i < dash; i++ {
		if !alnum(s[i]) && s[i] != '_' && s[i] != '-' {
			return false
		}
	}
	for i := dash + 1; i < len(s); i++ {
		if !alnum(s[i]) {
			return false
		}
	}
	return true
}

func alnum(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
}

// issueURL accepts any absolute http(s) URL with a host; which ones point
// at an issue of our Sentry is for the link parser to decide.
func issueURL(s string) bool {
	// Slack sends a link's own <>|" escaped, so these only come from a
	// garbled paste; refusing them keeps the reference safe to echo.
	if len(s) > 2000 || strings.ContainsAny(s, "<>|\"`") ||
		strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	return scheme == "http" || scheme == "https"
}

// resolveIn reads the optional release argument of resolve.
func resolveIn(args []Token) (string, error) {
	if len(args) == 0 {
		return "", nil
	}
	w, ok := words(args)
	if ok {
		w = strings.TrimPrefix(w, "in ")
		w = strings.TrimPrefix(w, "the ")
		w = strings.NewReplacer(" ", "-", "_", "-").Replace(w)
		switch w {
		case "next", "next-release":
			return ResolveNextRelease, nil
		case "current", "current-release", "latest", "latest-release":
			return ResolveCurrentRelease, nil
		}
	}
	return "", fail("`resolve` takes an issue and optionally `next-release` or `current-release`, so " + echoTokens(args) + " is unexpected, e.g. " + example(VerbResolve) + ".")
}

// words joins plain word tokens lower-cased with single spaces; ok is false
// if any token is a mention or link.
func words(args []Token) (string, bool) {
	parts := make([]string, len(args))
	for i, t := range args {
		if t.Kind != TokenWord {
			return "", false
		}
		parts[i] = strings.ToLower(strings.Join(strings.Fields(t.Text), " "))
	}
	return strings.Join(parts, " "), true
}

const archiveHelp = "`archive` takes an issue and optionally `until-escalating`, `forever`, a time (30m, 2h, 1d, 1w; up to 365d) or a number of events (100, 100x, 100 events; up to 1,000,000)"

// archiveArg reads the optional condition of archive.
func archiveArg(args []Token) (ArchiveArg, error) {
	if len(args) == 0 {
		return ArchiveArg{UntilEscalating: true}, nil
	}
	bad := fail(archiveHelp + ", so " + echoTokens(args) + " is unexpected, e.g. " + example(VerbArchive) + ".")
	w, ok := words(args)
	if !ok {
		return ArchiveArg{}, bad
	}
	w = strings.TrimPrefix(w, "for ")
	switch strings.NewReplacer(" ", "-", "_", "-").Replace(w) {
	case "escalating", "until-escalating":
		return ArchiveArg{UntilEscalating: true}, nil
	case "forever":
		return ArchiveArg{Forever: true}, nil
	}
	digits := 0
	for digits < len(w) && '0' <= w[digits] && w[digits] <= '9' {
		digits++
	}
	if digits == 0 {
		return ArchiveArg{}, bad
	}
	unit := strings.TrimSpace(w[digits:])
	per, count, known := archiveUnit(unit)
	if !known {
		return ArchiveArg{}, bad
	}
	n, err := strconv.Atoi(w[:digits])
	if count {
		if err != nil || n < 1 || n > MaxArchiveCount {
			return ArchiveArg{}, fail("Archive until 1 to 1,000,000 more events, not " + echoTokens(args) + ", e.g. `archive BACKEND-12 100x`.")
		}
		return ArchiveArg{Count: n}, nil
	}
	if err != nil || n < 1 || int64(n) > int64(MaxArchiveFor/per) {
		return ArchiveArg{}, fail("Archive for 1 minute to 365 days, not " + echoTokens(args) + ", e.g. " + example(VerbArchive) + ".")
	}
	return ArchiveArg{For: time.Duration(n) * per}, nil
}

// archiveUnit maps the word after the number: a time unit (m is minutes,
// as Sentry's ignoreDuration counts them), or nothing / x / events for a count.
func archiveUnit(u string) (per time.Duration, count, ok bool) {
	switch u {
	case "", "x", "event", "events", "times":
		return 0, true, true
	case "m", "min", "mins", "minute", "minutes":
		return time.Minute, false, true
	case "h", "hr", "hrs", "hour", "hours":
		return time.Hour, false, true
	case "d", "day", "days":
		return 24 * time.Hour, false, true
	case "w", "wk", "wks", "week", "weeks":
		return 7 * 24 * time.Hour, false, true
	}
	return 0, false, false
}

// target reads the assignee of assign.
func target(t Token) (Target, error) {
	const ex = "`assign BACKEND-12 @alice`"
	switch t.Kind {
	case TokenSpecial:
		return Target{}, fail("Mentions of groups like " + echo(t.Text) + " can't be assigned: mention one person or a team, e.g. " + ex + " or `assign BACKEND-12 #payments`.")
	case TokenUser:
		return Target{Kind: TargetSlackUser, ID: t.ID, Label: t.Label}, nil
	case TokenChannel:
		// Slack turns a typed #payments into a channel mention when such a
		// channel exists; its name is what the user meant as the team slug.
		if slug, ok := slugOf(t.Label); ok {
			return Target{Kind: TargetTeam, ID: slug, Label: slug}, nil
		}
		return Target{}, fail("Slack sent that channel without its name: write the team as `team:payments`, e.g. `assign BACKEND-12 team:payments`.")
	case TokenLink:
		if strings.HasPrefix(strings.ToLower(t.ID), "mailto:") {
			return email(t.Text)
		}
		return Target{}, fail("A link can't be assigned: use `me`, a person, `#team`, an email or `none`, e.g. " + ex + ".")
	}
	s := t.Text
	lower := strings.ToLower(s)
	switch lower {
	case "me":
		return Target{Kind: TargetMe}, nil
	case "none", "nobody", "unassign", "unassigned":
		return Target{Kind: TargetNobody}, nil
	}
	switch {
	case strings.HasPrefix(s, "@"):
		name := s[1:]
		switch strings.ToLower(name) {
		case "here", "channel", "everyone":
			return Target{}, fail("Mentions of groups like " + echo(s) + " can't be assigned: mention one person, e.g. " + ex + ".")
		}
		if name == "" || strings.IndexFunc(name, unicode.IsSpace) >= 0 || strings.Contains(name, "@") {
			return Target{}, fail(echo(s) + " isn't a person: mention them with @, e.g. " + ex + ".")
		}
		return Target{Kind: TargetSlackUser, Label: name}, nil
	case strings.HasPrefix(s, "#"):
		return team(s[1:], s)
	case strings.HasPrefix(lower, "team:"):
		return team(strings.TrimPrefix(s[len("team:"):], "#"), s)
	case strings.Contains(s, "@"):
		return email(s)
	}
	return Target{}, fail(echo(s) + " isn't someone Sentry can assign: use `me`, `@person`, `#team`, `team:slug`, an email or `none`, e.g. " + ex + ".")
}

func team(slug, typed string) (Target, error) {
	s, ok := slugOf(slug)
	if !ok {
		return Target{}, fail(echo(typed) + " isn't a team: use its Sentry slug, e.g. `assign BACKEND-12 #payments`.")
	}
	return Target{Kind: TargetTeam, ID: s, Label: s}, nil
}

func email(s string) (Target, error) {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s || len(s) > 254 {
		return Target{}, fail(echo(s) + " isn't an email address, e.g. `assign BACKEND-12 alice@example.com`.")
	}
	return Target{Kind: TargetEmail, ID: s, Label: s}, nil
}

// slugOf lower-cases and checks a Sentry slug (projects, teams): letters,
// digits, '-' and '_', starting with a letter or digit, at most 50 long.
func slugOf(s string) (string, bool) {
	s = strings.ToLower(s)
	if s == "" || len(s) > 50 || !alnum(s[0]) {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if !alnum(s[i]) && s[i] != '-' && s[i] != '_' {
			return "", false
		}
	}
	return s, true
}
