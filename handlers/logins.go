package handlers

import (
	"context"
	"errors"
	"time"

	"sentrybot/authz"
)

// LoginLinks are per-user links made by signing in to Sentry (OAuth), so
// that sentrybot acts in Sentry as the person rather than as its own token.
type LoginLinks interface {
	// StartURL is a single-use address, valid for minutes, where the user
	// signs in to Sentry.
	StartURL(ctx context.Context, s authz.Subject) (string, error)
	// Login says whether and until when the user's login link holds.
	Login(ctx context.Context, teamID, userID string) (LoginStatus, error)
	// Forget deletes the user's stored Sentry tokens.
	Forget(ctx context.Context, teamID, userID string) error
}

// LoginStatus is the state of one user's login link.
type LoginStatus struct {
	Linked    bool      // tokens are stored
	Stale     bool      // the refresh failed: the user must sign in again
	ExpiresAt time.Time // when the access token runs out (it is refreshed before)
}

// SentryAs picks the Sentry client that makes a user's change.
type SentryAs interface {
	// For returns a client acting as the user through their Sentry login,
	// or ok false when they have no login link, and the organization's
	// token acts. A login link that no longer works is ErrLoginStale.
	For(ctx context.Context, s authz.Subject) (c IssueChanger, ok bool, err error)
}

// ErrLoginStale means the user's Sentry login link stopped working (the
// token was revoked, or could not be refreshed): they must link again.
// Nothing falls back to the organization's token.
var ErrLoginStale = errors.New("the Sentry login link is stale")
