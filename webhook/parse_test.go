package webhook

import (
	"strings"
	"testing"
	"time"

	"sentrybot/alerts"
)

func TestParseEventAlert(t *testing.T) {
	at := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name string
		body string
		want alerts.Alert
	}{
		{"IssueIDNumber",
			`{"action":"triggered","data":{"event":{"issue_id":42},"triggered_rule":"R"}}`,
			alerts.Alert{IssueID: "42", Rule: "R"}},
		{"LegacyIssueURL",
			`{"action":"triggered","data":{"event":{"issue_url":"https://sentry.io/api/0/issues/7/"},"triggered_rule":"R"}}`,
			alerts.Alert{IssueID: "7", Rule: "R"}},
		{"OrgIssueURL",
			`{"action":"triggered","data":{"event":{"issue_url":"https://sentry.example.com/api/0/organizations/acme/issues/8/"},"triggered_rule":"R"}}`,
			alerts.Alert{IssueID: "8", Rule: "R"}},
		{"WebURLWithEvent",
			`{"action":"triggered","data":{"event":{"issue_id":null,"web_url":"https://sentry.io/organizations/acme/issues/9/events/abc/"}}}`,
			alerts.Alert{IssueID: "9"}},
		{"RuleFromIssueAlertTitleAndChannelID",
			`{"action":"triggered","data":{"event":{"issue_id":"5","project":"backend"},"issue_alert":{"title":"T","settings":[{"name":"tags","value":{"x":1}},{"name":"channel","value":"C0123ABC"}]}}}`,
			alerts.Alert{IssueID: "5", Rule: "T", RuleChannel: "C0123ABC", ProjectSlug: "backend"}},
		{"NumericProjectIsNoSlug",
			`{"action":"triggered","data":{"event":{"issue_id":"5","project":"12"},"triggered_rule":"R","issue_alert":{"settings":[]}}}`,
			alerts.Alert{IssueID: "5", Rule: "R"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, ok, err := Parse("event_alert", []byte(tt.body), at)
			if err != nil || !ok {
				t.Fatalf("Parse: ok=%v err=%v", ok, err)
			}
			tt.want.Kind, tt.want.Action, tt.want.ReceivedAt = alerts.KindEventAlert, "triggered", at
			if a != tt.want {
				t.Errorf("\n got %+v\nwant %+v", a, tt.want)
			}
		})
	}
}

func TestParseIssueActions(t *testing.T) {
	for _, action := range []string{"created", "resolved", "assigned", "unresolved", "ignored", "archived"} {
		body := `{"action":"` + action + `","data":{"issue":{"id":"77","shortId":"API-1","permalink":null,"status":"ignored","project":{"id":"3","slug":"api"}}}}`
		a, ok, err := Parse("issue", []byte(body), time.Time{})
		if err != nil || !ok {
			t.Fatalf("%s: ok=%v err=%v", action, ok, err)
		}
		if a.Kind != alerts.KindIssue || a.Action != action || a.IssueID != "77" || a.ProjectSlug != "api" {
			t.Errorf("%s: %+v", action, a)
		}
		if a.Issue == nil || a.Issue.ShortID != "API-1" {
			t.Errorf("%s: issue %+v", action, a.Issue)
		}
		if want := action != "created"; a.Changed() != want {
			t.Errorf("%s: Changed() = %v, want %v", action, a.Changed(), want)
		}
	}
}

func TestParseIssueOddShapeStillRoutes(t *testing.T) {
	// count as a number does not fit sentry.Issue; the alert still goes
	// through and the issue is fetched later.
	body := `{"action":"resolved","data":{"issue":{"id":"77","count":5,"project":{"slug":"api"}}}}`
	a, ok, err := Parse("issue", []byte(body), time.Time{})
	if err != nil || !ok {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	if a.IssueID != "77" || a.ProjectSlug != "api" || a.Issue != nil {
		t.Errorf("%+v", a)
	}
}

func TestParseNothingToDo(t *testing.T) {
	for _, tc := range []struct{ resource, body string }{
		{"issue", `{"action":"merged","data":{"issue":{"id":"1"}}}`},
		{"event_alert", `{"action":"resolved","data":{}}`},
		{"error", `{"action":"created","data":{"error":{}}}`},
		{"metric_alert", `not even json`},
	} {
		a, ok, err := Parse(tc.resource, []byte(tc.body), time.Time{})
		if err != nil || ok {
			t.Errorf("%s %s: ok=%v err=%v, want nothing to do", tc.resource, tc.body, ok, err)
		}
		if a.Kind == alerts.KindIssue && a.IssueID != "" {
			t.Errorf("%s: filled an alert it will not act on: %+v", tc.body, a)
		}
	}
}

func TestParseInstallation(t *testing.T) {
	for _, action := range []string{"created", "deleted"} {
		body := `{"action":"` + action + `","data":{},"installation":{"uuid":"u-1"}}`
		a, inst, ok, err := parse("installation", []byte(body), time.Time{})
		if err != nil || ok || a.Kind != KindInstallation || a.Action != action || inst != (installation{UUID: "u-1"}) {
			t.Errorf("%s: a=%+v inst=%+v ok=%v err=%v", action, a, inst, ok, err)
		}
	}

	t.Run("Documented", func(t *testing.T) {
		// The payload of Sentry's installation webhook documentation.
		body := `{"action":"created","actor":{"id":1,"name":"Meredith Heller","type":"user"},
			"data":{"installation":{"status":"pending","organization":{"slug":"test-org"},
				"app":{"uuid":"2ebf071f-28df-4989-aca9-c37c763b278f","slug":"webhooks-galore"},
				"code":"f3c71b491e3949b6b033ae45312a4fcb","uuid":"a8e5d37a-696c-4c54-adb5-b3f28d64c7de"}},
			"installation":{"uuid":"a8e5d37a-696c-4c54-adb5-b3f28d64c7de"}}`
		a, inst, ok, err := parse("installation", []byte(body), time.Time{})
		want := installation{UUID: "a8e5d37a-696c-4c54-adb5-b3f28d64c7de", Org: "test-org", Code: "f3c71b491e3949b6b033ae45312a4fcb"}
		if err != nil || ok || a.Action != "created" || inst != want {
			t.Errorf("a=%+v inst=%+v ok=%v err=%v; want %+v", a, inst, ok, err, want)
		}
	})

	t.Run("DataUUIDWins", func(t *testing.T) {
		body := `{"action":"deleted","data":{"installation":{"uuid":"u-data"}},"installation":{"uuid":"u-top"}}`
		_, inst, _, err := parse("installation", []byte(body), time.Time{})
		if err != nil || inst.UUID != "u-data" {
			t.Errorf("inst=%+v err=%v, want data.installation.uuid", inst, err)
		}
	})

	t.Run("MalformedData", func(t *testing.T) {
		body := `{"action":"created","data":{"installation":"nope"}}`
		if _, _, _, err := parse("installation", []byte(body), time.Time{}); err == nil || !strings.Contains(err.Error(), "installation data") {
			t.Errorf("err = %v, want a decode error", err)
		}
	})
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ resource, body, want string }{
		{"issue", `{"action":"created","data":{}}`, "no data.issue"},
		{"issue", `{"action":"created"}`, "no data"},
		{"issue", `{"data":{"issue":{"id":"1"}}}`, "no action"},
		{"issue", `{"action":"created","data":{"issue":{"id":""}}}`, "no data.issue.id"},
		{"issue", `{"action":"created","data":{"issue":{"id":"../1"}}}`, "not a numeric id"},
		{"issue", `{"action":"created","data":{"issue":{"id":true}}}`, "issue id"},
		{"event_alert", `{"action":"triggered","data":{"event":{"issue_id":"1x"}}}`, "not a numeric id"},
		{"event_alert", `{"action":"triggered","data":{"event":{"issue_url":"https://sentry.io/api/0/projects/"}}}`, "names no issue"},
		{"event_alert", `[]`, "decode"},
		{"installation", `{}`, "no action"},
	} {
		_, ok, err := Parse(tc.resource, []byte(tc.body), time.Time{})
		if err == nil || ok || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: ok=%v err=%v, want error containing %q", tc.resource, tc.body, ok, err, tc.want)
		}
	}
}

func TestIssueIDFromURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://sentry.io/api/0/issues/1117540176/":                      "1117540176",
		"https://sentry.io/api/0/organizations/acme/issues/12/":           "12",
		"https://sentry.io/organizations/acme/issues/13/events/e4874d66/": "13",
		"https://acme.sentry.io/issues/14/":                               "14",
		"https://sentry.example.com/organizations/acme/issues/15":         "15",
		"https://sentry.io/api/0/organizations/acme/issues/":              "",
		"https://sentry.io/organizations/acme/issues/FRONT-END-9/":        "",
		"::not a url": "",
		"":            "",
	} {
		if got := issueIDFromURL(in); got != want {
			t.Errorf("issueIDFromURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSignVerify(t *testing.T) {
	body := []byte(`{"action":"created"}`)
	sig := Sign(testSecret, body)
	if len(sig) != 64 || strings.ToLower(sig) != sig {
		t.Fatalf("Sign = %q, want 64 lowercase hex digits", sig)
	}
	// Known answer: HMAC-SHA256 with key "key" over the pangram (RFC 4231 style
	// test vector published on Wikipedia's HMAC page).
	if got := Sign([]byte("key"), []byte("The quick brown fox jumps over the lazy dog")); got != "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8" {
		t.Errorf("known answer: %s", got)
	}
	for _, tc := range []struct {
		name string
		sig  string
		want bool
	}{
		{"Good", sig, true},
		{"Uppercase", strings.ToUpper(sig), true},
		{"Empty", "", false},
		{"Short", sig[:62], false},
		{"Long", sig + "00", false},
		{"NonHex", "g" + sig[1:], false},
		{"OtherDigit", otherHexDigit(sig[0]) + sig[1:], false},
		{"Prefixed", "sha256=" + sig[:57], false},
	} {
		if got := Verify(testSecret, body, tc.sig); got != tc.want {
			t.Errorf("%s: Verify = %v, want %v", tc.name, got, tc.want)
		}
	}
	if Verify(nil, body, Sign(nil, body)) {
		t.Error("Verify accepted a signature with an empty secret")
	}
}

// otherHexDigit returns a hex digit different from c, so that the signature
// stays well-formed and fails only by its value.
func otherHexDigit(c byte) string {
	if c == '0' {
		return "1"
	}
	return "0"
}
