package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"sentrybot/apptoken"
	"sentrybot/authz"
	"sentrybot/config"
	"sentrybot/handlers"
	"sentrybot/oauth"
	"sentrybot/secrets"
	"sentrybot/sentry"
	"sentrybot/store"
)

// newLogins builds the per-user Sentry login service when a Sentry OAuth
// application is configured, and nil otherwise.
func newLogins(cfg *config.Config, db *store.DB, box func() (*secrets.Box, error), sc *sentry.Client, auth oauth.Linker, api *slack.Client, httpClient *http.Client, log zerolog.Logger) (*oauth.Service, error) {
	if cfg.Sentry.OAuth.ClientID == "" {
		return nil, nil
	}
	b, err := box()
	if err != nil {
		return nil, err
	}
	return oauth.New(oauth.Config{
		SentryURL:    cfg.Sentry.URL,
		PublicURL:    cfg.HTTP.PublicURL,
		ClientID:     cfg.Sentry.OAuth.ClientID,
		ClientSecret: cfg.Sentry.OAuth.ClientSecret.Reveal(),
		Org:          cfg.Sentry.Org,
		HTTPClient:   httpClient,
	}, db, b, sc, auth, slackNotifier{api}, log)
}

// newApps builds the keeper of a Sentry public integration's installation
// token when the integration is configured, and nil otherwise.
func newApps(cfg *config.Config, db *store.DB, box func() (*secrets.Box, error), httpClient *http.Client, log zerolog.Logger) (*apptoken.Manager, error) {
	if cfg.Sentry.App.ClientID == "" {
		return nil, nil
	}
	b, err := box()
	if err != nil {
		return nil, err
	}
	m, err := apptoken.New(apptoken.Config{
		SentryURL:    cfg.Sentry.URL,
		ClientID:     cfg.Sentry.App.ClientID,
		ClientSecret: cfg.Sentry.WebhookSecret.Reveal(),
		Org:          cfg.Sentry.Org,
		UserAgent:    userAgent(),
		HTTPClient:   httpClient,
	}, db, b, log)
	if err != nil {
		return nil, usageError(fmt.Errorf("sentry app: %w", err))
	}
	return m, nil
}

// sealer opens the box that encrypts the tokens sentrybot stores, once,
// and only if something needs it.
func sealer(cfg *config.Config, db *store.DB, log zerolog.Logger) func() (*secrets.Box, error) {
	return sync.OnceValues(func() (*secrets.Box, error) {
		key, err := secretKey(cfg, db, log)
		if err != nil {
			return nil, err
		}
		b, err := secrets.NewBox(key)
		if err != nil {
			return nil, fmt.Errorf("secret key: %w", err)
		}
		return b, nil
	})
}

// secretKey is SENTRYBOT_SECRET_KEY, or the key file beside the database,
// generated (mode 0600) the first time.
func secretKey(cfg *config.Config, db *store.DB, log zerolog.Logger) ([32]byte, error) {
	if cfg.SecretKey != "" {
		return config.DecodeSecretKey(cfg.SecretKey)
	}
	path := secrets.KeyFilePath(db.Path())
	key, created, err := secrets.LoadKeyFile(path)
	if err != nil {
		return key, usageError(fmt.Errorf("secret key: %w", err))
	}
	if created {
		log.Info().Str("path", path).Msg("generated the secret key that encrypts stored Sentry tokens; back it up with the database")
	}
	return key, nil
}

// slackNotifier tells a user something in their direct messages with the app.
type slackNotifier struct{ api *slack.Client }

func (n slackNotifier) Notify(ctx context.Context, teamID, userID, text string) error {
	if _, _, err := n.api.PostMessageContext(ctx, userID, slack.MsgOptionText(text, false)); err != nil {
		return fmt.Errorf("telling %s/%s in Slack: %w", teamID, userID, err)
	}
	return nil
}

// loginLinks adapts the login service to the command handlers.
type loginLinks struct{ svc *oauth.Service }

func (l loginLinks) StartURL(ctx context.Context, s authz.Subject) (string, error) {
	return l.svc.StartURL(ctx, s)
}

func (l loginLinks) Login(ctx context.Context, teamID, userID string) (handlers.LoginStatus, error) {
	st, err := l.svc.Status(ctx, teamID, userID)
	if err != nil {
		return handlers.LoginStatus{}, err
	}
	return handlers.LoginStatus{Linked: st.Linked, Stale: st.Stale, ExpiresAt: st.ExpiresAt}, nil
}

func (l loginLinks) Forget(ctx context.Context, teamID, userID string) error {
	return l.svc.Forget(ctx, teamID, userID)
}

// sentryAs gives triage the client that acts as a user.
type sentryAs struct {
	svc *oauth.Service
	org *sentry.Client
}

func (a sentryAs) For(ctx context.Context, s authz.Subject) (handlers.IssueChanger, bool, error) {
	tok, err := a.svc.Token(ctx, s.TeamID, s.UserID)
	switch {
	case errors.Is(err, oauth.ErrNotLinked):
		return nil, false, nil
	case errors.Is(err, oauth.ErrStale):
		return nil, false, handlers.ErrLoginStale
	case err != nil:
		return nil, false, err
	}
	c, err := a.org.WithToken(tok)
	if err != nil {
		return nil, false, err
	}
	return &userClient{svc: a.svc, org: a.org, teamID: s.TeamID, userID: s.UserID, token: tok, c: c}, true, nil
}

// userClient is a Sentry client acting as one user. When Sentry refuses
// the user's token before its time (they revoked sentrybot, or Sentry
// ended it), the token is refreshed once and the call tried again; a
// refused refresh is a stale link, never the org token.
type userClient struct {
	svc            *oauth.Service
	org            *sentry.Client
	teamID, userID string
	token          string
	c              *sentry.Client
	refused        bool // Sentry refused the token and its refresh
}

func (u *userClient) Issue(ctx context.Context, org, issueID string) (*sentry.Issue, error) {
	if u.refused {
		return nil, handlers.ErrLoginStale
	}
	is, err := u.c.Issue(ctx, org, issueID)
	if u.renewed(ctx, err) {
		is, err = u.c.Issue(ctx, org, issueID)
	}
	return is, u.stale(err)
}

func (u *userClient) UpdateIssue(ctx context.Context, org, issueID string, up sentry.IssueUpdate) error {
	if u.refused {
		return handlers.ErrLoginStale
	}
	err := u.c.UpdateIssue(ctx, org, issueID, up)
	if u.renewed(ctx, err) {
		err = u.c.UpdateIssue(ctx, org, issueID, up)
	}
	return u.stale(err)
}

// renewed reports whether err was Sentry refusing the token and a new one
// is now in place; a refused refresh is kept for stale to report.
func (u *userClient) renewed(ctx context.Context, err error) bool {
	if !errors.Is(err, sentry.ErrUnauthorized) {
		return false
	}
	tok, rerr := u.svc.Rejected(ctx, u.teamID, u.userID, u.token)
	if errors.Is(rerr, oauth.ErrStale) {
		u.refused = true
		return false
	}
	if rerr != nil || tok == u.token {
		return false
	}
	c, cerr := u.org.WithToken(tok)
	if cerr != nil {
		return false
	}
	u.token, u.c = tok, c
	return true
}

// stale turns a refusal after a refused refresh into ErrLoginStale.
func (u *userClient) stale(err error) error {
	if err != nil && u.refused {
		return fmt.Errorf("%w: %w", handlers.ErrLoginStale, err)
	}
	return err
}
