package alerts

import (
	"errors"
	"net/http"
	"time"

	"github.com/slack-go/slack"
)

type failKind int

const (
	failTransient   failKind = iota // try again after a backoff
	failRateLimited                 // try again after the wait Slack asked for
	failPermanent                   // trying again cannot help
)

// transientCodes are the Slack error codes (answered with ok:false) that
// describe Slack's trouble rather than the request's
// (docs.slack.dev/reference/methods/chat.postMessage, "Errors").
var transientCodes = map[string]bool{
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
	"team_added_to_org":   true,
}

// classify says what to do after a failed Slack call, and for a rate limit
// how long to wait. Error codes such as channel_not_found, not_in_channel,
// is_archived or invalid_blocks are permanent; HTTP 5xx and network
// failures are transient.
func classify(err error) (failKind, time.Duration) {
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return failRateLimited, rl.RetryAfter
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		switch {
		case sc.Code == http.StatusTooManyRequests:
			return failRateLimited, 0
		case sc.Code >= 500, sc.Code == http.StatusRequestTimeout:
			return failTransient, 0
		}
		return failPermanent, 0
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		if se.Err == "ratelimited" {
			return failRateLimited, 0
		}
		if transientCodes[se.Err] {
			return failTransient, 0
		}
		return failPermanent, 0
	}
	return failTransient, 0
}
