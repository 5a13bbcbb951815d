// Package oauth links Slack users to their own Sentry login (OAuth 2.0
// authorization code flow with PKCE), keeps their tokens sealed in the
// store, and hands out a valid access token when sentrybot acts as them.
//
// The flow: StartURL records a single-use grant for a Slack user and gives
// the address of /oauth/start, which sends the browser to Sentry with a
// state bound to the grant; /oauth/callback takes the state back, exchanges
// the code, checks the Sentry user is a member of the organization, stores
// the tokens and links the identity. Token refreshes them before they run
// out, once per user however many callers need one at the same moment.
package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"sentrybot/authz"
	"sentrybot/internal/flight"
	"sentrybot/secrets"
	"sentrybot/sentry"
	"sentrybot/store"
)

// Scopes are what sentrybot asks Sentry for: enough to read issues and
// members and to change issues.
const Scopes = "org:read member:read project:read event:read event:write"

// IdentityMethod is the store.Identity Method of a link made by signing in.
const IdentityMethod = "oauth"

// Defaults of Config.
const (
	DefaultGrantTTL      = 10 * time.Minute
	DefaultRefreshBefore = 5 * time.Minute
)

// How long an expired grant is kept, so a late visit is told "expired"
// rather than "not valid".
const grantKeep = 24 * time.Hour

// refreshTimeout bounds one refresh, which runs detached from the callers
// that wait for it.
const refreshTimeout = 30 * time.Second

// Errors of Token (wrapped).
var (
	// ErrNotLinked means the user has no stored Sentry login.
	ErrNotLinked = errors.New("oauth: no Sentry login linked")
	// ErrStale means the user's Sentry login stopped working (revoked, or
	// its refresh expired): they must link again. Nothing acts for them
	// until then.
	ErrStale = errors.New("oauth: Sentry login link is stale")
)

// Config configures a Service. Every string is required.
type Config struct {
	SentryURL    string // Sentry base URL (sentry.url)
	PublicURL    string // where browsers reach sentrybot's listener (http.public_url)
	ClientID     string // Sentry OAuth application
	ClientSecret string // its secret; never logged
	Org          string // organization slug the user must be a member of

	GrantTTL      time.Duration // how long a grant, then its state, is valid; default 10m
	RefreshBefore time.Duration // refresh a token this long before it expires; default 5m

	HTTPClient *http.Client     // for the token endpoint; default: 10 s timeout
	Now        func() time.Time // default time.Now
}

// Members lists organization members; *sentry.Client (with the org token)
// has it.
type Members interface {
	Members(ctx context.Context, org, query string) ([]sentry.Member, error)
}

// Linker records a Slack user's link to a Sentry member; *authz.Authorizer
// has it.
type Linker interface {
	Link(ctx context.Context, s authz.Subject, id store.Identity) error
}

// Notifier sends a Slack user a direct message.
type Notifier interface {
	Notify(ctx context.Context, teamID, userID, text string) error
}

// Status is what is known about a user's Sentry login link.
type Status struct {
	Linked       bool      // tokens are stored (stale ones too)
	Stale        bool      // a refresh was refused: the user must link again
	ExpiresAt    time.Time // when the current access token runs out
	Scopes       string    // as Sentry granted them, space-separated
	SentryUserID string    // the Sentry user the tokens act as
}

// Service runs the link flow and hands out users' tokens. Safe for
// concurrent use.
type Service struct {
	cfg       Config
	sentryURL string // no trailing slash
	publicURL string // no trailing slash
	db        *store.DB
	box       *secrets.Box
	members   Members
	linker    Linker
	notify    Notifier
	log       zerolog.Logger
	http      *http.Client

	// flights shares one refresh among a user's concurrent callers.
	flights flight.Group[userKey, string]
}

type userKey struct{ team, user string }

// New checks cfg and returns a Service. notify may be nil (users are then
// not told in Slack). It makes no network calls.
func New(cfg Config, db *store.DB, box *secrets.Box, members Members, linker Linker, notify Notifier, log zerolog.Logger) (*Service, error) {
	sentryURL, err := baseURL("sentry URL", cfg.SentryURL)
	if err != nil {
		return nil, err
	}
	publicURL, err := baseURL("public URL", cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.ClientID == "":
		return nil, errors.New("oauth: client id is required")
	case cfg.ClientSecret == "":
		return nil, errors.New("oauth: client secret is required")
	case cfg.Org == "":
		return nil, errors.New("oauth: organization is required")
	case db == nil || box == nil || members == nil || linker == nil:
		return nil, errors.New("oauth: store, box, members and linker are required")
	case cfg.GrantTTL < 0 || cfg.RefreshBefore < 0:
		return nil, errors.New("oauth: durations must not be negative")
	}
	if cfg.GrantTTL == 0 {
		cfg.GrantTTL = DefaultGrantTTL
	}
	if cfg.RefreshBefore == 0 {
		cfg.RefreshBefore = DefaultRefreshBefore
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	hc := http.Client{Timeout: 10 * time.Second}
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	// A redirected POST would come back as a GET without the form.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Service{
		cfg: cfg, sentryURL: sentryURL, publicURL: publicURL,
		db: db, box: box, members: members, linker: linker, notify: notify,
		log:  log.With().Str("component", "oauth").Logger(),
		http: &hc,
	}, nil
}

func baseURL(what, raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("oauth: %s %q must be an absolute http or https URL", what, raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("oauth: %s must have no credentials, query or fragment", what)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// StartURL records a new single-use grant for subj and returns the address
// that starts the sign-in: {public_url}/oauth/start?grant=…. The grant is
// valid for GrantTTL; only its SHA-256 is stored.
func (s *Service) StartURL(ctx context.Context, subj authz.Subject) (string, error) {
	if subj.TeamID == "" || subj.UserID == "" {
		return "", errors.New("oauth: start URL: team and user ids are required")
	}
	grant, err := randomValue()
	if err != nil {
		return "", fmt.Errorf("oauth: start URL for %s/%s: %w", subj.TeamID, subj.UserID, err)
	}
	now := s.cfg.Now().UTC()
	if err := s.db.CreateOAuthGrant(ctx, store.OAuthGrant{
		Hash: hashOf(grant), TeamID: subj.TeamID, UserID: subj.UserID, ChannelID: subj.ChannelID,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.GrantTTL),
	}); err != nil {
		return "", fmt.Errorf("oauth: start URL for %s/%s: %w", subj.TeamID, subj.UserID, err)
	}
	if n, err := s.db.PurgeOAuthGrants(ctx, now.Add(-grantKeep)); err != nil {
		s.log.Warn().Err(err).Msg("could not purge old sign-in grants")
	} else if n > 0 {
		s.log.Debug().Int64("purged", n).Msg("purged old sign-in grants")
	}
	s.log.Debug().Str("team", subj.TeamID).Str("user", subj.UserID).Msg("sign-in grant created")
	return s.publicURL + "/oauth/start?" + url.Values{"grant": {grant}}.Encode(), nil
}

// Status says whether the user has a Sentry login link and until when its
// token runs. No link is a zero Status and no error.
func (s *Service) Status(ctx context.Context, teamID, userID string) (Status, error) {
	t, err := s.db.OAuthToken(ctx, teamID, userID)
	if errors.Is(err, store.ErrNotFound) {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, fmt.Errorf("oauth: status of %s/%s: %w", teamID, userID, err)
	}
	return Status{Linked: true, Stale: t.Stale, ExpiresAt: t.ExpiresAt, Scopes: t.Scopes, SentryUserID: t.SentryUserID}, nil
}

// Forget deletes the user's stored tokens and sign-ins in progress. The
// tokens are not revoked at Sentry; the user can do that in Sentry's
// settings (Applications).
func (s *Service) Forget(ctx context.Context, teamID, userID string) error {
	had, err := s.db.DeleteOAuth(ctx, teamID, userID)
	if err != nil {
		return fmt.Errorf("oauth: forget %s/%s: %w", teamID, userID, err)
	}
	if had {
		s.log.Info().Str("team", teamID).Str("user", userID).Msg("Sentry login tokens deleted")
	}
	return nil
}

// Token returns a valid access token of the user's Sentry login, refreshing
// it first when it expires within RefreshBefore. Concurrent callers for one
// user share a single refresh. Errors wrap ErrNotLinked when nothing is
// stored and ErrStale when the link must be made again; any other error
// (Sentry unreachable, a 5xx) leaves the link as it is. When a refresh
// fails that way while the current token has not yet expired, that token
// is returned.
func (s *Service) Token(ctx context.Context, teamID, userID string) (string, error) {
	t, err := s.db.OAuthToken(ctx, teamID, userID)
	if err != nil {
		return "", s.readError(teamID, userID, err)
	}
	if t.Stale {
		return "", fmt.Errorf("oauth: token of %s/%s: %w", teamID, userID, ErrStale)
	}
	if s.fresh(t) {
		return s.openAccess(t)
	}
	return s.sharedRefresh(ctx, teamID, userID, "")
}

// Rejected is told that Sentry refused the access token rejected (a 401):
// the user revoked sentrybot, or Sentry ended the token before its time.
// It refreshes the token at once, sharing the refresh like Token, unless
// another caller already replaced that token, and returns the new one. A
// refused refresh marks the link stale (ErrStale) and tells the user.
func (s *Service) Rejected(ctx context.Context, teamID, userID, rejected string) (string, error) {
	if rejected == "" {
		return "", errors.New("oauth: rejected token: empty")
	}
	return s.sharedRefresh(ctx, teamID, userID, rejected)
}

// ClientFor returns org (a client with the organization's token) acting
// as the user instead, with the token Token returns. Its errors are
// Token's; it never falls back to org's own token.
func (s *Service) ClientFor(ctx context.Context, org *sentry.Client, teamID, userID string) (*sentry.Client, error) {
	tok, err := s.Token(ctx, teamID, userID)
	if err != nil {
		return nil, err
	}
	c, err := org.WithToken(tok)
	if err != nil {
		return nil, fmt.Errorf("oauth: client for %s/%s: %w", teamID, userID, err)
	}
	return c, nil
}

func (s *Service) readError(teamID, userID string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("oauth: token of %s/%s: %w", teamID, userID, ErrNotLinked)
	}
	return fmt.Errorf("oauth: token of %s/%s: %w", teamID, userID, err)
}

func (s *Service) fresh(t store.OAuthToken) bool {
	return s.cfg.Now().Before(t.ExpiresAt.Add(-s.cfg.RefreshBefore))
}

func (s *Service) openAccess(t store.OAuthToken) (string, error) {
	b, err := s.box.Open(t.AccessSealed, tokenAAD(t.TeamID, t.UserID, "access"))
	if err != nil {
		return "", fmt.Errorf("oauth: token of %s/%s: opening the access token: %w", t.TeamID, t.UserID, err)
	}
	return string(b), nil
}

// sharedRefresh joins the user's refresh in progress, or starts one. The
// refresh runs detached from ctx, so a caller that gives up does not fail
// the others.
func (s *Service) sharedRefresh(ctx context.Context, teamID, userID, rejected string) (string, error) {
	tok, err := s.flights.Do(ctx, userKey{teamID, userID}, refreshTimeout, func(rctx context.Context) (string, error) {
		return s.refresh(rctx, teamID, userID, rejected)
	})
	switch {
	case errors.Is(err, flight.ErrPanic):
		s.log.Error().Err(err).Str("team", teamID).Str("user", userID).Msg("token refresh panicked")
		return "", fmt.Errorf("oauth: refreshing the token of %s/%s: panic", teamID, userID)
	case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return "", fmt.Errorf("oauth: token of %s/%s: waiting for the refresh: %w", teamID, userID, err)
	}
	return tok, err
}

// refresh is one refresh of the user's tokens. A token still fresh is kept,
// unless it is rejected, the one Sentry refused.
func (s *Service) refresh(ctx context.Context, teamID, userID, rejected string) (string, error) {
	log := s.log.With().Str("team", teamID).Str("user", userID).Logger()
	// Read again: a refresh that finished just before this one started
	// has already done the work.
	t, err := s.db.OAuthToken(ctx, teamID, userID)
	if err != nil {
		return "", s.readError(teamID, userID, err)
	}
	if t.Stale {
		return "", fmt.Errorf("oauth: token of %s/%s: %w", teamID, userID, ErrStale)
	}
	if s.fresh(t) {
		current, err := s.openAccess(t)
		if err != nil || rejected == "" || current != rejected {
			return current, err
		}
	}
	rt, err := s.box.Open(t.RefreshSealed, tokenAAD(teamID, userID, "refresh"))
	if err != nil {
		return "", fmt.Errorf("oauth: token of %s/%s: opening the refresh token: %w", teamID, userID, err)
	}

	log.Debug().Time("expires_at", t.ExpiresAt).Msg("refreshing the Sentry token")
	resp, err := s.tokenRequest(ctx, url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {string(rt)},
	})
	if errors.Is(err, errInvalidGrant) {
		return "", s.markStale(ctx, log, t, err)
	}
	if err == nil && resp.User.ID != "" && resp.User.ID != t.SentryUserID {
		err = fmt.Errorf("the refresh answered for Sentry user %s, the link is for user %s", resp.User.ID, t.SentryUserID)
	}
	if err != nil {
		if rejected == "" && s.cfg.Now().Before(t.ExpiresAt) {
			log.Warn().Err(err).Time("expires_at", t.ExpiresAt).Msg("could not refresh the Sentry token; using the current one while it lasts")
			return s.openAccess(t)
		}
		return "", fmt.Errorf("oauth: refreshing the token of %s/%s: %w", teamID, userID, err)
	}
	if resp.RefreshToken == "" {
		// Sentry always rotates it, but keeping the old one is harmless.
		resp.RefreshToken = string(rt)
	}

	next, err := s.sealTokens(teamID, userID, t.SentryUserID, resp)
	if err != nil {
		return "", err
	}
	next.CreatedAt = t.CreatedAt
	ok, err := s.db.ReplaceOAuthToken(ctx, next, t.RefreshSealed)
	if err != nil {
		return "", fmt.Errorf("oauth: refreshing the token of %s/%s: %w", teamID, userID, err)
	}
	if !ok {
		// Forgotten, or linked anew, while Sentry answered: the row as it
		// is now decides.
		log.Debug().Msg("the Sentry login changed during a refresh; its result is dropped")
		return s.current(ctx, teamID, userID)
	}
	log.Info().Time("expires_at", next.ExpiresAt).Msg("Sentry token refreshed")
	return resp.AccessToken, nil
}

// markStale records that the user's refresh token was refused and tells
// them, once.
func (s *Service) markStale(ctx context.Context, log zerolog.Logger, t store.OAuthToken, cause error) error {
	marked, err := s.db.MarkOAuthTokenStale(ctx, t.TeamID, t.UserID, t.RefreshSealed, s.cfg.Now().UTC())
	if err != nil {
		return fmt.Errorf("oauth: marking the link of %s/%s stale: %w", t.TeamID, t.UserID, err)
	}
	if !marked {
		return s.currentErr(ctx, t.TeamID, t.UserID)
	}
	log.Warn().Err(cause).Msg("Sentry refused to refresh the token; the login link is stale")
	if s.notify != nil {
		if err := s.notify.Notify(ctx, t.TeamID, t.UserID, staleText); err != nil {
			log.Error().Err(err).Msg("could not tell the user their Sentry login link is stale")
		}
	}
	return fmt.Errorf("oauth: token of %s/%s: %w", t.TeamID, t.UserID, ErrStale)
}

// current returns the access token of the row as it is now, without
// refreshing it.
func (s *Service) current(ctx context.Context, teamID, userID string) (string, error) {
	t, err := s.db.OAuthToken(ctx, teamID, userID)
	switch {
	case err != nil:
		return "", s.readError(teamID, userID, err)
	case t.Stale:
		return "", fmt.Errorf("oauth: token of %s/%s: %w", teamID, userID, ErrStale)
	case !s.cfg.Now().Before(t.ExpiresAt):
		return "", fmt.Errorf("oauth: token of %s/%s: the link changed during a refresh; try again", teamID, userID)
	}
	return s.openAccess(t)
}

func (s *Service) currentErr(ctx context.Context, teamID, userID string) error {
	_, err := s.current(ctx, teamID, userID)
	if err == nil {
		return fmt.Errorf("oauth: token of %s/%s: the link changed during a refresh; try again", teamID, userID)
	}
	return err
}

const staleText = "Your Sentry login link has expired or was revoked, so sentrybot can't act as you in Sentry any more. Run `/sentry link` to link again."

// sealTokens seals a token answer into a row for the user.
func (s *Service) sealTokens(teamID, userID, sentryUserID string, resp *tokenResponse) (store.OAuthToken, error) {
	access, err := s.box.Seal([]byte(resp.AccessToken), tokenAAD(teamID, userID, "access"))
	if err != nil {
		return store.OAuthToken{}, fmt.Errorf("oauth: sealing the access token of %s/%s: %w", teamID, userID, err)
	}
	refresh, err := s.box.Seal([]byte(resp.RefreshToken), tokenAAD(teamID, userID, "refresh"))
	if err != nil {
		return store.OAuthToken{}, fmt.Errorf("oauth: sealing the refresh token of %s/%s: %w", teamID, userID, err)
	}
	now := s.cfg.Now().UTC()
	return store.OAuthToken{
		TeamID: teamID, UserID: userID, SentryUserID: sentryUserID,
		AccessSealed: access, RefreshSealed: refresh,
		ExpiresAt: resp.expiry(now), Scopes: resp.Scope,
		CreatedAt: now, UpdatedAt: now,
	}, nil
}

// tokenAAD binds a sealed token to its row and column, so that a sealed
// value moved to another user or swapped between access and refresh does
// not open. Slack ids never contain NUL.
func tokenAAD(teamID, userID, which string) string {
	return "sentrybot/oauth_tokens\x00" + teamID + "\x00" + userID + "\x00" + which
}

// verifierAAD binds a sealed PKCE verifier to its grant.
func verifierAAD(grantHash []byte) string {
	return "sentrybot/oauth_grants\x00" + base64.RawURLEncoding.EncodeToString(grantHash) + "\x00verifier"
}

// randomValue is 32 random bytes, base64url without padding (43
// characters): grants, states and PKCE verifiers.
func randomValue() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// wellFormed reports whether v can be a value randomValue made, so that
// junk is refused before it reaches the store.
func wellFormed(v string) bool {
	if len(v) != 43 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil && len(b) == 32
}

func hashOf(v string) []byte {
	h := sha256.Sum256([]byte(v))
	return h[:]
}

// challengeOf is the PKCE S256 code challenge of a verifier.
func challengeOf(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}
