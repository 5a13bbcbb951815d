// Package alerts routes Sentry alerts and issue changes into Slack: it keeps
// them durably, decides which channel each belongs in, posts them at the
// pace Slack allows, threads repeats and keeps posted cards in sync.
package alerts

import (
	"time"

	"sentrybot/sentry"
)

// Kinds of alert sources.
const (
	KindEventAlert = "event_alert" // an alert rule fired (webhook)
	KindIssue      = "issue"       // an issue was created or changed (webhook)
	KindPoll       = "poll"        // the poller found a new matching issue
)

// Alert is one thing Sentry told us, or the poller found, that may be posted
// or may change cards already posted.
type Alert struct {
	Kind   string // KindEventAlert, KindIssue or KindPoll
	Action string // event_alert: "triggered"; issue: created, resolved, assigned, unresolved, ignored, archived

	IssueID string
	// Issue is the issue as the payload carried it, when it did (issue
	// webhooks and the poller); nil means it is fetched before posting.
	Issue       *sentry.Issue
	ProjectSlug string

	Rule        string // the alert rule's name (event_alert)
	RuleChannel string // the channel the rule's action names, "#name" or an id; "" if none

	// SubscriptionID is set by the poller: the subscription whose search
	// found the issue; such an alert goes to that subscription's channel.
	SubscriptionID int64

	// DeliveryID identifies the delivery (Sentry's Request-ID, or the
	// poller's key) so that a delivery is processed once.
	DeliveryID string
	ReceivedAt time.Time
}

// Changed reports whether the alert is a change to an existing issue rather
// than news of one, so it updates cards instead of posting.
func (a Alert) Changed() bool {
	if a.Kind != KindIssue {
		return false
	}
	switch a.Action {
	case "resolved", "assigned", "unresolved", "ignored", "archived":
		return true
	}
	return false
}
