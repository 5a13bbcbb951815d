package alerts

import (
	"testing"

	"sentrybot/sentry"
)

func ptr[T any](v T) *T { return &v }

func TestMatchQuery(t *testing.T) {
	base := sentry.Issue{
		ID: "1", ShortID: "WEB-1", Title: "TypeError: Cannot read properties of undefined",
		Culprit: ptr("app/checkout/cart.js in addItem"), Level: "error",
		Status: sentry.StatusUnresolved, Substatus: ptr(sentry.SubstatusEscalating),
		Project: sentry.Project{Slug: "web"},
	}
	jane := base
	jane.AssignedTo = &sentry.Assignee{Type: "user", ID: "7", Name: "Jane Doe", Email: "jane@example.com"}
	team := base
	team.AssignedTo = &sentry.Assignee{Type: "team", ID: "3", Name: "backend"}
	resolved := base
	resolved.Status, resolved.Substatus = sentry.StatusResolved, nil
	archived := base
	archived.Status, archived.Substatus = sentry.StatusIgnored, ptr(sentry.SubstatusArchivedForever)
	info := base
	info.Level = "info"

	tests := []struct {
		name  string
		query string
		issue sentry.Issue
		want  bool
	}{
		{"Empty", "", base, true},
		{"Blank", "   ", base, true},
		{"IsUnresolved", "is:unresolved", base, true},
		{"IsUnresolvedOnResolved", "is:unresolved", resolved, false},
		{"IsResolved", "is:resolved", resolved, true},
		{"IsIgnored", "is:ignored", archived, true},
		{"IsArchivedSameAsIgnored", "is:archived", archived, true},
		{"IsArchivedOnUnresolved", "is:archived", base, false},
		{"IsUnassigned", "is:unassigned", base, true},
		{"IsUnassignedOnAssigned", "is:unassigned", jane, false},
		{"IsAssigned", "is:assigned", team, true},
		{"IsAssignedOnUnassigned", "is:assigned", base, false},
		{"IsSubstatus", "is:escalating", base, true},
		{"IsOtherSubstatus", "is:regressed", base, false},
		{"IsUnknownIsLenient", "is:for_review", base, true},
		{"Level", "level:error", base, true},
		{"LevelCase", "level:ERROR", base, true},
		{"LevelOther", "level:error", info, false},
		{"LevelList", "level:[warning,error]", base, true},
		{"LevelListSpaces", "level:[warning, fatal]", base, false},
		{"LevelListQuoted", `level:["info", "fatal"]`, info, true},
		{"NegatedLevel", "!level:info", base, true},
		{"NegatedLevelHit", "!level:info", info, false},
		{"NegatedList", "!level:[info,debug]", info, false},
		{"NegatedIs", "!is:resolved", resolved, false},
		{"AssignedEmail", "assigned:jane@example.com", jane, true},
		{"AssignedEmailCase", "assigned:Jane@Example.com", jane, true},
		{"AssignedOtherEmail", "assigned:bob@example.com", jane, false},
		{"AssignedEmailUnassigned", "assigned:jane@example.com", base, false},
		{"AssignedTeam", "assigned:#backend", team, true},
		{"AssignedOtherTeam", "assigned:#frontend", team, false},
		{"AssignedTeamNotUser", "assigned:#backend", jane, false},
		{"AssignedNone", "assigned:none", base, true},
		{"AssignedMeIsLenient", "assigned:me", base, true},
		{"NegatedAssignedMeIsLenient", "!assigned:me", jane, true},
		{"NegatedAssigned", "!assigned:#backend", team, false},
		{"Project", "project:web", base, true},
		{"ProjectOther", "project:api", base, false},
		{"ProjectList", "project:[api,web]", base, true},
		{"FreeTextTitle", "typeerror", base, true},
		{"FreeTextCulprit", "checkout", base, true},
		{"FreeTextMissing", "database", base, false},
		{"FreeTextAllWords", "TypeError checkout", base, true},
		{"FreeTextOneMissing", "TypeError database", base, false},
		{"QuotedPhrase", `"cannot read properties"`, base, true},
		{"QuotedPhraseOrder", `"properties cannot"`, base, false},
		{"QuotedWithColon", `"TypeError: Cannot"`, base, true},
		{"TextWithColonNotKey", "TypeError:", base, true},
		{"UnknownKeyIsLenient", "release:1.2.3", base, true},
		{"NegatedUnknownKeyIsLenient", "!has:user", base, true},
		{"UnknownKeyBesideKnownFalse", "release:1.2.3 level:info", base, false},
		{"Combined", "is:unresolved level:error project:web checkout", base, true},
		{"CombinedOneFalse", "is:unresolved level:error project:api checkout", base, false},
		{"Or", "level:info OR project:web", base, true},
		{"OrNeither", "level:info OR project:api", base, false},
		{"AndIsImplied", "level:error AND project:web", base, true},
		{"ParenthesesIgnored", "(level:error project:web)", base, true},
		{"ListWithUnknownValueIsLenient", "assigned:[me,bob@example.com]", jane, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := tt.issue
			if got := MatchQuery(tt.query, &is); got != tt.want {
				t.Errorf("MatchQuery(%q) = %v, want %v", tt.query, got, tt.want)
			}
		})
	}

	if MatchQuery("", nil) {
		t.Error("MatchQuery with a nil issue = true")
	}
}
