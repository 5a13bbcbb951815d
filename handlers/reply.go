package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/slack-go/slack"
)

// EphemeralPoster posts a message only one user sees.
type EphemeralPoster interface {
	PostEphemeralContext(ctx context.Context, channelID, userID string, options ...slack.MsgOption) (string, error)
}

// SlackReplier answers users privately through Slack.
type SlackReplier struct {
	api    EphemeralPoster
	client *http.Client
	// hooks are the hosts a response_url may point at; anything else is
	// refused, so a payload cannot make sentrybot post elsewhere.
	hooks []string
}

// NewSlackReplier builds a SlackReplier. responseHosts lists the hosts that
// response_urls may use (Slack's is hooks.slack.com).
func NewSlackReplier(api EphemeralPoster, client *http.Client, responseHosts []string) *SlackReplier {
	return &SlackReplier{api: api, client: client, hooks: responseHosts}
}

var _ Replier = (*SlackReplier)(nil)

// Ephemeral shows text to one user: through responseURL when Slack gave
// one (it works even where the bot is not a channel member), else with
// chat.postEphemeral.
func (r *SlackReplier) Ephemeral(ctx context.Context, responseURL, channelID, userID, text string) error {
	if responseURL != "" {
		err := r.post(ctx, responseURL, &slack.WebhookMessage{Text: text, ResponseType: slack.ResponseTypeEphemeral, ReplaceOriginal: false})
		if err == nil || channelID == "" {
			return err
		}
	}
	if channelID == "" || userID == "" {
		return fmt.Errorf("replying privately: no response_url and no channel")
	}
	if _, err := r.api.PostEphemeralContext(ctx, channelID, userID, slack.MsgOptionText(text, false)); err != nil {
		return fmt.Errorf("replying privately with chat.postEphemeral: %w", err)
	}
	return nil
}

// ReplaceOriginal replaces the message that responseURL belongs to.
func (r *SlackReplier) ReplaceOriginal(ctx context.Context, responseURL string, att slack.Attachment) error {
	return r.post(ctx, responseURL, &slack.WebhookMessage{Text: att.Fallback, Attachments: []slack.Attachment{att}, ReplaceOriginal: true})
}

// EphemeralCard shows a card to the user who typed a command.
func (r *SlackReplier) EphemeralCard(ctx context.Context, responseURL string, att slack.Attachment) error {
	return r.post(ctx, responseURL, &slack.WebhookMessage{Text: att.Fallback, Attachments: []slack.Attachment{att}, ResponseType: slack.ResponseTypeEphemeral})
}

// Respond posts a whole message to a response_url (slash command replies).
func (r *SlackReplier) Respond(ctx context.Context, responseURL string, msg *slack.WebhookMessage) error {
	return r.post(ctx, responseURL, msg)
}

func (r *SlackReplier) post(ctx context.Context, responseURL string, msg *slack.WebhookMessage) error {
	u, err := url.Parse(responseURL)
	if err != nil || !r.allowed(u) {
		return fmt.Errorf("response_url %q is not a Slack hook", redactURL(responseURL))
	}
	if err := slack.PostWebhookCustomHTTPContext(ctx, responseURL, r.client, msg); err != nil {
		return hookError{url: responseURL, err: err}
	}
	return nil
}

// hookError is a failed post to a response_url. Transport errors quote the
// URL, whose path is a credential, so the message shows only its host; the
// cause stays reachable for errors.Is.
type hookError struct {
	url string
	err error
}

func (e hookError) Error() string {
	return "posting to response_url: " + strings.ReplaceAll(e.err.Error(), e.url, redactURL(e.url))
}

func (e hookError) Unwrap() error { return e.err }

func (r *SlackReplier) allowed(u *url.URL) bool {
	if u.Scheme != "https" && u.Scheme != "http" {
		return false
	}
	for _, h := range r.hooks {
		if strings.EqualFold(u.Host, h) {
			return u.Scheme == "https" || isLoopback(u.Hostname())
		}
	}
	return false
}

func isLoopback(host string) bool { return host == "127.0.0.1" || host == "localhost" || host == "::1" }

// redactURL keeps a response_url's host for logs: its path is a credential.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "(unparseable)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}
