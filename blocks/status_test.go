package blocks

import (
	"encoding/json"
	"testing"

	"sentrybot/sentry"
)

func ptr[T any](v T) *T { return &v }

func TestStatusWords(t *testing.T) {
	tests := []struct {
		name, status string
		sub          *string
		details      string
		want         string
	}{
		{"new", "unresolved", ptr("new"), "", "New"},
		{"ongoing", "unresolved", ptr("ongoing"), "{}", "Ongoing"},
		{"escalating", "unresolved", ptr("escalating"), "", "Escalating"},
		{"regressed", "unresolved", ptr("regressed"), "", "Regressed"},
		{"unresolved no substatus", "unresolved", nil, "", "Unresolved"},
		{"unresolved unknown substatus", "unresolved", ptr("warming_up"), "", "Warming Up"},
		{"resolved", "resolved", nil, "{}", "Resolved"},
		{"resolved next release", "resolved", nil, `{"inNextRelease":true}`, "Resolved in next release"},
		{"resolved in release", "resolved", nil, `{"inRelease":"1.0.0"}`, "Resolved in release 1.0.0"},
		{"resolved in release escaped", "resolved", nil, `{"inRelease":"a<b>&c"}`, "Resolved in release a&lt;b&gt;&amp;c"},
		{"resolved in commit string", "resolved", nil, `{"inCommit":"17642328ead24b51867165985996d04b29310337"}`, "Resolved in commit 1764232"},
		{"resolved in commit object", "resolved", nil, `{"inCommit":{"commit":"123def456abc","repository":"getsentry/sentry"}}`, "Resolved in commit 123def4"},
		{"resolved bad details", "resolved", nil, `[1,2]`, "Resolved"},
		{"archived until escalating", "ignored", ptr("archived_until_escalating"), "{}", "Archived until escalating"},
		{"archived forever", "ignored", ptr("archived_forever"), "", "Archived forever"},
		{"archived until condition met", "ignored", ptr("archived_until_condition_met"), "", "Archived until condition met"},
		{"archived for duration", "ignored", ptr("archived_until_condition_met"), `{"ignoreDuration":60}`, "Archived until condition met (for 1 hour)"},
		{"archived until date", "ignored", ptr("archived_until_condition_met"), `{"ignoreDuration":60,"ignoreUntil":"2024-05-01T10:00:00Z"}`,
			"Archived until condition met (until <!date^1714557600^{date_short_pretty} {time}|2024-05-01 10:00 UTC>)"},
		{"archived until count", "ignored", ptr("archived_until_condition_met"), `{"ignoreCount":100,"ignoreWindow":60}`, "Archived until condition met (until 100 events in 1 hour)"},
		{"archived until one user", "ignored", ptr("archived_until_condition_met"), `{"ignoreUserCount":1}`, "Archived until condition met (until 1 user)"},
		{"archived all details", "ignored", ptr("archived_until_condition_met"),
			`{"ignoreCount":10,"ignoreDuration":100,"ignoreUserCount":10,"ignoreUserWindow":1440,"ignoreWindow":60}`,
			"Archived until condition met (for 100 minutes, until 10 events in 1 hour, until 10 users in 1 day)"},
		{"archived wrong types", "ignored", ptr("archived_forever"), `{"ignoreCount":"lots","ignoreDuration":30}`, "Archived forever (for 30 minutes)"},
		{"archived no substatus", "ignored", nil, "", "Archived"},
		{"archived unknown substatus", "ignored", ptr("archived_until_tuesday"), "", "Archived Until Tuesday"},
		{"unknown status", "pending_deletion", nil, "", "Pending Deletion"},
		{"unknown status escaped", "x<y", nil, "", "X&lt;y"},
		{"empty status", "", nil, "", "Unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := sentry.Issue{Status: tt.status, Substatus: tt.sub}
			if tt.details != "" {
				is.StatusDetails = json.RawMessage(tt.details)
			}
			if got := statusWords(is); got != tt.want {
				t.Errorf("statusWords = %q, want %q", got, tt.want)
			}
		})
	}
}
