package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"sentrybot/alerts"
	"sentrybot/sentry"
)

// Resources (the Sentry-Hook-Resource header) that sentrybot acts on.
const (
	ResourceEventAlert   = "event_alert"
	ResourceIssue        = "issue"
	ResourceInstallation = "installation"
)

// KindInstallation marks the Alert Parse returns for an installation
// webhook. Such an alert is never passed to a Receiver; it only carries the
// action ("created", "deleted") for the log.
const KindInstallation = "installation"

// envelope is what every resource's payload shares.
type envelope struct {
	Action       string          `json:"action"`
	Data         json.RawMessage `json:"data"`
	Installation struct {
		UUID string `json:"uuid"`
	} `json:"installation"`
}

type eventAlertData struct {
	Event struct {
		IssueID  json.RawMessage `json:"issue_id"`
		IssueURL string          `json:"issue_url"`
		WebURL   string          `json:"web_url"`
		URL      string          `json:"url"`
		Project  json.RawMessage `json:"project"`
	} `json:"event"`
	TriggeredRule string `json:"triggered_rule"`
	IssueAlert    *struct {
		Title    string `json:"title"`
		Settings []struct {
			Name  string          `json:"name"`
			Value json.RawMessage `json:"value"`
		} `json:"settings"`
	} `json:"issue_alert"`
}

// issueData is decoded first with only what routing needs, so that an
// issue body whose other fields do not fit sentry.Issue still gets through.
type issueData struct {
	Issue *struct {
		ID      json.RawMessage `json:"id"`
		Project struct {
			Slug string `json:"slug"`
		} `json:"project"`
	} `json:"issue"`
}

// installData is data of an installation webhook. The code is a grant
// code: it is handed on, never logged.
type installData struct {
	Installation struct {
		UUID         string `json:"uuid"`
		Code         string `json:"code"`
		Organization struct {
			Slug string `json:"slug"`
		} `json:"organization"`
	} `json:"installation"`
}

// installation is what an installation webhook says: which installation,
// of which organization, and for action "created" the grant code.
type installation struct {
	UUID, Org, Code string
}

// Parse turns the body of a webhook of the given resource into an Alert.
// The bool says whether there is something to do: false for resources and
// actions sentrybot does not act on, and for installation webhooks (whose
// Alert has Kind KindInstallation). An error means the payload is malformed
// or lacks what its resource requires. DeliveryID is left for the caller.
func Parse(resource string, body []byte, receivedAt time.Time) (alerts.Alert, bool, error) {
	a, _, ok, err := parse(resource, body, receivedAt)
	return a, ok, err
}

// parse is Parse that also returns what the payload says of the
// installation: its uuid for every resource, and more for installation
// webhooks.
func parse(resource string, body []byte, receivedAt time.Time) (alerts.Alert, installation, bool, error) {
	switch resource {
	case ResourceEventAlert, ResourceIssue, ResourceInstallation:
	default:
		return alerts.Alert{}, installation{}, false, nil
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return alerts.Alert{}, installation{}, false, fmt.Errorf("webhook: decode %s payload: %w", resource, err)
	}
	inst := installation{UUID: env.Installation.UUID}
	a := alerts.Alert{Action: env.Action, ReceivedAt: receivedAt}
	var ok bool
	var err error
	switch resource {
	case ResourceEventAlert:
		a.Kind = alerts.KindEventAlert
		ok, err = parseEventAlert(&a, env)
	case ResourceIssue:
		a.Kind = alerts.KindIssue
		ok, err = parseIssue(&a, env)
	case ResourceInstallation:
		a.Kind = KindInstallation
		if env.Action == "" {
			err = errors.New("webhook: installation payload has no action")
			break
		}
		err = parseInstallation(&inst, env)
	}
	if err != nil {
		return alerts.Alert{}, inst, false, err
	}
	return a, inst, ok, nil
}

// parseInstallation reads data.installation, whose uuid wins over the
// top-level one; an installation webhook without data is left as it is.
func parseInstallation(inst *installation, env envelope) error {
	if isNull(env.Data) {
		return nil
	}
	var d installData
	if err := json.Unmarshal(env.Data, &d); err != nil {
		return fmt.Errorf("webhook: decode installation data: %w", err)
	}
	if d.Installation.UUID != "" {
		inst.UUID = d.Installation.UUID
	}
	inst.Org = d.Installation.Organization.Slug
	inst.Code = d.Installation.Code
	return nil
}

func parseEventAlert(a *alerts.Alert, env envelope) (bool, error) {
	if env.Action != "triggered" {
		if env.Action == "" {
			return false, errors.New("webhook: event_alert payload has no action")
		}
		return false, nil
	}
	if isNull(env.Data) {
		return false, errors.New("webhook: event_alert payload has no data")
	}
	var d eventAlertData
	if err := json.Unmarshal(env.Data, &d); err != nil {
		return false, fmt.Errorf("webhook: decode event_alert data: %w", err)
	}
	id, err := idString(d.Event.IssueID)
	if err != nil {
		return false, fmt.Errorf("webhook: event_alert issue_id: %w", err)
	}
	if id == "" {
		id = issueIDFromURL(d.Event.IssueURL)
	}
	if id == "" {
		id = issueIDFromURL(d.Event.WebURL)
	}
	if id == "" {
		return false, errors.New("webhook: event_alert payload names no issue (data.event.issue_id, issue_url, web_url)")
	}
	a.IssueID = id
	a.ProjectSlug = projectSlug(d.Event.URL, d.Event.Project)

	a.Rule = d.TriggeredRule
	if d.IssueAlert != nil {
		if a.Rule == "" {
			a.Rule = d.IssueAlert.Title
		}
		for _, s := range d.IssueAlert.Settings {
			if s.Name == "channel" {
				a.RuleChannel = settingValue(s.Value)
				break
			}
		}
	}
	return true, nil
}

func parseIssue(a *alerts.Alert, env envelope) (bool, error) {
	switch env.Action {
	case "created", "resolved", "assigned", "unresolved", "ignored", "archived":
	case "":
		return false, errors.New("webhook: issue payload has no action")
	default:
		return false, nil
	}
	if isNull(env.Data) {
		return false, errors.New("webhook: issue payload has no data")
	}
	var d issueData
	if err := json.Unmarshal(env.Data, &d); err != nil {
		return false, fmt.Errorf("webhook: decode issue data: %w", err)
	}
	if d.Issue == nil {
		return false, errors.New("webhook: issue payload has no data.issue")
	}
	id, err := idString(d.Issue.ID)
	if err != nil {
		return false, fmt.Errorf("webhook: issue id: %w", err)
	}
	if id == "" {
		return false, errors.New("webhook: issue payload has no data.issue.id")
	}
	a.IssueID = id
	a.ProjectSlug = d.Issue.Project.Slug

	// The full issue saves a fetch before posting. If some field has a shape
	// sentry.Issue does not expect, the alert still goes through and the
	// issue is fetched instead: losing the alert would be worse.
	var full struct {
		Issue sentry.Issue `json:"issue"`
	}
	if err := json.Unmarshal(env.Data, &full); err == nil && full.Issue.ID == id {
		a.Issue = &full.Issue
	}
	return true, nil
}

// idString accepts an id sent as a JSON string or number; Sentry uses both.
// Absent or null gives "".
func idString(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
	} else {
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return "", fmt.Errorf("want a string or number, got %.20s", raw)
		}
		s = n.String()
	}
	if s != "" && !isDigits(s) {
		return "", fmt.Errorf("not a numeric id: %.40q", s)
	}
	return s, nil
}

// issueIDFromURL takes the issue id out of an API or web URL of an issue:
// /api/0/issues/{id}/ (legacy), /api/0/organizations/{org}/issues/{id}/,
// /organizations/{org}/issues/{id}/ and /issues/{id}/ (SaaS subdomain),
// any of them possibly followed by more segments such as events/{id}/.
func issueIDFromURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	for i := 0; i+1 < len(segs); i++ {
		if segs[i] == "issues" && isDigits(segs[i+1]) {
			return segs[i+1]
		}
	}
	return ""
}

// projectSlug finds the project slug of an event: from the event's API URL
// (/api/0/projects/{org}/{project}/events/{id}/), else from data.event.project
// when it is a name rather than the numeric id Sentry usually sends.
func projectSlug(eventURL string, project json.RawMessage) string {
	if u, err := url.Parse(eventURL); err == nil && eventURL != "" {
		segs := strings.Split(strings.Trim(u.Path, "/"), "/")
		for i := 0; i+3 < len(segs); i++ {
			if segs[i] == "projects" && segs[i+3] == "events" && segs[i+2] != "" {
				return segs[i+2]
			}
		}
	}
	var s string
	if len(project) > 0 && project[0] == '"' && json.Unmarshal(project, &s) == nil && s != "" && !isDigits(s) {
		return s
	}
	return ""
}

// settingValue renders an alert rule setting as text: a string as is, a
// number by its digits (a channel may be given as an id), anything else "".
func settingValue(raw json.RawMessage) string {
	if isNull(raw) {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
