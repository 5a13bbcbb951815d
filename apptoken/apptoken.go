// Package apptoken keeps the token of sentrybot's Sentry public integration
// (a Sentry App) usable without anyone rotating it.
//
// When the integration is installed in the organization, Sentry sends an
// installation webhook ("created") with the installation's uuid and a grant
// code valid ten minutes. Installed exchanges the code at
// /api/0/sentry-app-installations/{uuid}/authorizations/ for a token that
// lasts eight hours and a refresh token, and stores both sealed. Token
// hands the token out, renewing it with the refresh token shortly before it
// runs out, once however many callers need it at that moment; Run renews
// it in the background so that it does not run out while nobody calls.
// Uninstalled ("deleted") forgets it, and callers go back to the static
// sentry.token.
//
// Facts about the protocol come from Sentry's documentation ("Public
// Integrations", "Installation" webhooks) and its source
// (src/sentry/sentry_apps/token_exchange/).
package apptoken

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"sentrybot/internal/flight"
	"sentrybot/secrets"
	"sentrybot/store"
)

// Defaults of Config.
const (
	DefaultRefreshBefore = 30 * time.Minute
	DefaultRetryAfter    = time.Minute
)

// refreshTimeout bounds one refresh, which runs detached from the callers
// that wait for it.
const refreshTimeout = 30 * time.Second

// maxRunWait is the longest Run sleeps before it looks at the token again,
// so that a clock step or a suspended machine does not make it oversleep.
const maxRunWait = 5 * time.Minute

// Errors of Token (wrapped).
var (
	// ErrNone means no installation token is stored: the integration is
	// not installed, or was uninstalled. Callers use the static token.
	ErrNone = errors.New("apptoken: no installation token")
	// ErrRefused means the token ran out and Sentry refused to renew it
	// (the refresh token, the client credentials or the installation are
	// no longer good). Installing the integration again mends it.
	ErrRefused = errors.New("apptoken: Sentry refused to renew the installation token")
)

// Config configures a Manager. SentryURL, ClientID, ClientSecret and Org
// are required.
type Config struct {
	SentryURL    string // Sentry base URL (sentry.url)
	ClientID     string // the integration's client id
	ClientSecret string // its client secret, which also signs its webhooks; never logged
	Org          string // the organization slug: installations elsewhere are refused

	// RefreshBefore: renew the token this long before it runs out;
	// default 30m.
	RefreshBefore time.Duration
	// RetryAfter: after a renewal failed, how long the current token is
	// used (while it lasts) before Sentry is asked again; default 1m.
	RetryAfter time.Duration

	UserAgent  string           // default "sentrybot"
	HTTPClient *http.Client     // default: a client with a 10 s timeout
	Now        func() time.Time // default time.Now
}

// Status is what is known about the installation.
type Status struct {
	Installed bool
	UUID, Org string
	ExpiresAt time.Time // when the current token runs out
	CreatedAt time.Time // when the installation's code was exchanged
	UpdatedAt time.Time // when the token was last renewed
}

// Manager exchanges, stores and renews the installation's token. It is safe
// for concurrent use.
type Manager struct {
	cfg       Config
	sentryURL string // no trailing slash
	db        *store.DB
	box       *secrets.Box
	log       zerolog.Logger
	http      *http.Client
	kick      chan struct{} // wakes Run when the installation changes

	// flights shares one renewal among concurrent callers.
	flights flight.Group[struct{}, string]

	mu     sync.Mutex
	failed *failure
	// cached is the token while it needs no renewal, so that the calls
	// it signs do not each read and unseal the stored row. gen counts the
	// changes to the stored installation made here; a token read before
	// one is not cached after it.
	cached *cachedToken
	gen    uint64
}

// cachedToken is an unsealed token and the time it is due for renewal.
type cachedToken struct {
	tok string
	due time.Time
}

// failure is the last renewal that failed, which holds back the next one
// until until. It belongs to the stored row whose refresh token was
// refresh; a row written since is not held back.
type failure struct {
	refresh []byte
	until   time.Time
	err     error
}

// New checks cfg and returns a Manager. It makes no network calls.
func New(cfg Config, db *store.DB, box *secrets.Box, log zerolog.Logger) (*Manager, error) {
	u, err := url.Parse(strings.TrimSpace(cfg.SentryURL))
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, fmt.Errorf("apptoken: sentry URL %q must be an absolute http or https URL", cfg.SentryURL)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("apptoken: sentry URL must have no credentials, query or fragment")
	case cfg.ClientID == "":
		return nil, errors.New("apptoken: client id is required")
	case cfg.ClientSecret == "":
		return nil, errors.New("apptoken: client secret is required")
	case cfg.Org == "":
		return nil, errors.New("apptoken: organization is required")
	case db == nil || box == nil:
		return nil, errors.New("apptoken: store and box are required")
	case cfg.RefreshBefore < 0 || cfg.RetryAfter < 0:
		return nil, errors.New("apptoken: durations must not be negative")
	}
	if cfg.RefreshBefore == 0 {
		cfg.RefreshBefore = DefaultRefreshBefore
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "sentrybot"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	hc := http.Client{Timeout: 10 * time.Second}
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	// A redirected POST would come back as a GET without the body.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Manager{
		cfg:       cfg,
		sentryURL: strings.TrimRight(u.String(), "/"),
		db:        db,
		box:       box,
		log:       log.With().Str("component", "apptoken").Logger(),
		http:      &hc,
		kick:      make(chan struct{}, 1),
	}, nil
}

// Installed takes a new installation of the integration: it exchanges the
// grant code and stores the tokens, replacing any installation stored
// before. An installation in an organization other than Config.Org is
// refused: taken is false and nothing is stored or sent. An error leaves
// what was stored as it was.
func (m *Manager) Installed(ctx context.Context, uuid, org, code string) (taken bool, err error) {
	log := m.log.With().Str("installation", uuid).Str("org", org).Logger()
	if org != m.cfg.Org {
		log.Warn().Str("configured_org", m.cfg.Org).
			Msg("refused an installation of the Sentry integration in another organization; sentrybot serves only sentry.org")
		return false, nil
	}
	if !validUUID(uuid) {
		return false, fmt.Errorf("apptoken: installation id %.40q is not a uuid", uuid)
	}
	if code == "" {
		return false, fmt.Errorf("apptoken: installation %s: no grant code", uuid)
	}

	ans, err := m.exchangeCode(ctx, uuid, code)
	if err != nil {
		if errors.Is(err, errRefused) && m.holds(ctx, uuid) {
			// A redelivered webhook whose code was already exchanged.
			log.Info().Err(err).Msg("the installation is already stored; its grant code was used")
			return true, nil
		}
		return false, fmt.Errorf("apptoken: exchanging the grant code of installation %s: %w", uuid, err)
	}
	prev, perr := m.db.AppInstall(ctx)
	in, err := m.seal(uuid, org, ans)
	if err != nil {
		return false, err
	}
	m.changed()
	err = m.db.SaveAppInstall(ctx, in)
	m.changed()
	if err != nil {
		return false, fmt.Errorf("apptoken: storing installation %s: %w", uuid, err)
	}
	m.forgetFailure()
	m.wake()
	ev := log.Info().Time("expires_at", in.ExpiresAt).Strs("scopes", ans.Scopes)
	if perr == nil && prev.UUID != uuid {
		ev = ev.Str("replaces", prev.UUID)
	}
	ev.Msg("Sentry integration installed; Sentry calls now use its token")
	return true, nil
}

// holds reports whether the installation uuid is the one stored.
func (m *Manager) holds(ctx context.Context, uuid string) bool {
	in, err := m.db.AppInstall(ctx)
	return err == nil && in.UUID == uuid
}

// Uninstalled forgets the installation uuid and its tokens. Another uuid
// than the stored one changes nothing; that is not an error.
func (m *Manager) Uninstalled(ctx context.Context, uuid string) error {
	m.changed()
	had, err := m.db.DeleteAppInstall(ctx, uuid)
	m.changed()
	if err != nil {
		return fmt.Errorf("apptoken: forgetting installation %s: %w", uuid, err)
	}
	if !had {
		m.log.Info().Str("installation", uuid).Msg("an installation of the Sentry integration that was not stored was removed")
		return nil
	}
	m.forgetFailure()
	m.wake()
	m.log.Info().Str("installation", uuid).Msg("Sentry integration uninstalled; its token is forgotten and Sentry calls use sentry.token again")
	return nil
}

// Status says whether an installation is stored and until when its token
// runs. None is a zero Status and no error.
func (m *Manager) Status(ctx context.Context) (Status, error) {
	in, err := m.db.AppInstall(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, fmt.Errorf("apptoken: status: %w", err)
	}
	return Status{Installed: true, UUID: in.UUID, Org: in.Org, ExpiresAt: in.ExpiresAt,
		CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt}, nil
}

// Token returns the installation's token, renewing it first when it runs
// out within RefreshBefore. Concurrent callers share one renewal. Errors
// wrap ErrNone when no installation is stored, and ErrRefused when the
// token ran out and Sentry would not renew it. While a renewal fails for
// any reason, the current token is returned as long as it lasts, and
// Sentry is asked again only after RetryAfter.
func (m *Manager) Token(ctx context.Context) (string, error) {
	m.mu.Lock()
	c, gen := m.cached, m.gen
	m.mu.Unlock()
	if c != nil && m.cfg.Now().Before(c.due) {
		return c.tok, nil
	}
	in, err := m.db.AppInstall(ctx)
	if err != nil {
		return "", readError(err)
	}
	if tok, done, err := m.settled(in); done {
		if err == nil {
			m.keep(gen, tok, in)
		}
		return tok, err
	}
	return m.sharedRefresh(ctx)
}

// keep caches tok, read from in, unless the installation changed since
// gen or the token is already due for renewal.
func (m *Manager) keep(gen uint64, tok string, in store.AppInstall) {
	due := in.ExpiresAt.Add(-m.cfg.RefreshBefore)
	if !m.cfg.Now().Before(due) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gen == gen {
		m.cached = &cachedToken{tok: tok, due: due}
	}
}

// changed drops the cached token: the stored installation is being
// changed. Writers call it on both sides of the write: before, so that a
// Token that read the row earlier does not keep it; after, so that one
// that read the old row while the write ran is dropped.
func (m *Manager) changed() {
	m.mu.Lock()
	m.cached = nil
	m.gen++
	m.mu.Unlock()
}

// Bearer is Token for sentry.Client.WithTokenSource: no installation gives
// "" and no error, so that the client sends its static token.
func (m *Manager) Bearer(ctx context.Context) (string, error) {
	tok, err := m.Token(ctx)
	if errors.Is(err, ErrNone) {
		return "", nil
	}
	return tok, err
}

// Run renews the token in the background, RefreshBefore ahead of its
// expiry, until ctx ends; it returns nil then. Without Run the token is
// renewed when Token is called, which also works after an idle night: the
// refresh token outlives the token.
func (m *Manager) Run(ctx context.Context) error {
	for {
		wait := m.untilDue(ctx)
		if wait <= 0 {
			if _, err := m.Token(ctx); err != nil && !errors.Is(err, ErrNone) && ctx.Err() == nil {
				m.log.Debug().Err(err).Msg("background renewal of the installation token failed")
			}
			wait = m.untilDue(ctx)
			if wait <= 0 {
				// Only a store that cannot be read gets here twice.
				wait = m.cfg.RetryAfter
			}
		}
		t := time.NewTimer(min(wait, maxRunWait))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-m.kick:
			t.Stop()
		case <-t.C:
		}
	}
}

// untilDue is how long until the stored token should be renewed (or a
// failed renewal tried again); maxRunWait when nothing is stored.
func (m *Manager) untilDue(ctx context.Context) time.Duration {
	in, err := m.db.AppInstall(ctx)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return maxRunWait
	case err != nil:
		return m.cfg.RetryAfter
	}
	now := m.cfg.Now()
	due := in.ExpiresAt.Add(-m.cfg.RefreshBefore)
	if f := m.failureFor(in); f != nil && f.until.After(due) {
		due = f.until
	}
	return due.Sub(now)
}

func (m *Manager) wake() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

func readError(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return ErrNone
	}
	return fmt.Errorf("apptoken: reading the installation: %w", err)
}

// settled answers Token without asking Sentry when it can: the token is
// fresh, or a renewal failed a moment ago (then the current token while it
// lasts, else that failure). done is false when a renewal is due.
func (m *Manager) settled(in store.AppInstall) (tok string, done bool, err error) {
	now := m.cfg.Now()
	if now.Before(in.ExpiresAt.Add(-m.cfg.RefreshBefore)) {
		tok, err := m.open(in)
		return tok, true, err
	}
	f := m.failureFor(in)
	if f == nil || !now.Before(f.until) {
		return "", false, nil
	}
	if now.Before(in.ExpiresAt) {
		tok, err := m.open(in)
		return tok, true, err
	}
	return "", true, f.err
}

// sharedRefresh joins the renewal in progress, or starts one. The renewal
// runs detached from ctx, so a caller that gives up does not fail the
// others.
func (m *Manager) sharedRefresh(ctx context.Context) (string, error) {
	tok, err := m.flights.Do(ctx, struct{}{}, refreshTimeout, m.refresh)
	switch {
	case errors.Is(err, flight.ErrPanic):
		m.log.Error().Err(err).Msg("renewal of the installation token panicked")
		return "", errors.New("apptoken: renewing the installation token: panic")
	case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return "", fmt.Errorf("apptoken: waiting for the renewal of the installation token: %w", err)
	}
	return tok, err
}

// refresh is one renewal of the stored installation's tokens: with the
// refresh token, and when Sentry refuses that, with a JWT (the refresh
// token is lost when a renewal's answer is).
func (m *Manager) refresh(ctx context.Context) (string, error) {
	// Read again: a renewal that finished just before this one started,
	// or a new installation, has already done the work.
	in, err := m.db.AppInstall(ctx)
	if err != nil {
		return "", readError(err)
	}
	if tok, done, err := m.settled(in); done {
		return tok, err
	}
	log := m.log.With().Str("installation", in.UUID).Logger()
	rt, err := m.box.Open(in.RefreshSealed, aad(in.UUID, "refresh"))
	if err != nil {
		return "", fmt.Errorf("apptoken: installation %s: opening the refresh token: %w", in.UUID, err)
	}

	log.Debug().Time("expires_at", in.ExpiresAt).Msg("renewing the installation token")
	ans, err := m.refreshTokens(ctx, in.UUID, string(rt))
	if errors.Is(err, errRefused) {
		log.Warn().Err(err).Msg("Sentry refused the refresh token; asking for a new token with a signed JWT instead")
		var jerr error
		if ans, jerr = m.manualRefresh(ctx, in.UUID); jerr != nil {
			err = fmt.Errorf("with the refresh token: %w; with a JWT: %w", err, jerr)
		} else {
			err = nil
		}
	}
	if err != nil {
		return m.renewalFailed(log, in, err)
	}

	next, err := m.seal(in.UUID, in.Org, ans)
	if err != nil {
		return "", err
	}
	m.changed()
	ok, err := m.db.ReplaceAppInstallTokens(ctx, next, in.RefreshSealed)
	m.changed()
	if err != nil {
		// Sentry has already deleted the old pair; the JWT renewal mends
		// this next time.
		return "", fmt.Errorf("apptoken: installation %s: storing the renewed tokens: %w", in.UUID, err)
	}
	m.forgetFailure()
	if !ok {
		// Uninstalled, or installed anew, while Sentry answered: the row
		// as it is now decides.
		log.Info().Msg("the installation changed during a renewal; its result is dropped")
		now, err := m.db.AppInstall(ctx)
		if err != nil {
			return "", readError(err)
		}
		return m.open(now)
	}
	log.Info().Time("expires_at", next.ExpiresAt).Msg("installation token renewed")
	return ans.Token, nil
}

// renewalFailed records a failed renewal, which holds the next one back for
// RetryAfter, and returns the current token while it lasts.
func (m *Manager) renewalFailed(log zerolog.Logger, in store.AppInstall, cause error) (string, error) {
	err := fmt.Errorf("apptoken: renewing the token of installation %s: %w", in.UUID, cause)
	if errors.Is(cause, errRefused) {
		err = fmt.Errorf("%w (installation %s; install the integration again): %w", ErrRefused, in.UUID, cause)
	}
	m.mu.Lock()
	m.failed = &failure{refresh: in.RefreshSealed, until: m.cfg.Now().Add(m.cfg.RetryAfter), err: err}
	m.mu.Unlock()
	if m.cfg.Now().Before(in.ExpiresAt) {
		log.Warn().Err(cause).Time("expires_at", in.ExpiresAt).Dur("retry_in", m.cfg.RetryAfter).
			Msg("could not renew the installation token; using the current one while it lasts")
		return m.open(in)
	}
	log.Error().Err(cause).Dur("retry_in", m.cfg.RetryAfter).Msg("could not renew the installation token, and it has run out")
	return "", err
}

func (m *Manager) failureFor(in store.AppInstall) *failure {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failed == nil || !bytes.Equal(m.failed.refresh, in.RefreshSealed) {
		return nil
	}
	return m.failed
}

func (m *Manager) forgetFailure() {
	m.mu.Lock()
	m.failed = nil
	m.mu.Unlock()
}

// open unseals the stored token.
func (m *Manager) open(in store.AppInstall) (string, error) {
	b, err := m.box.Open(in.TokenSealed, aad(in.UUID, "token"))
	if err != nil {
		return "", fmt.Errorf("apptoken: installation %s: opening the token: %w", in.UUID, err)
	}
	return string(b), nil
}

// seal turns an answer into a row for the installation.
func (m *Manager) seal(uuid, org string, ans *answer) (store.AppInstall, error) {
	tok, err := m.box.Seal([]byte(ans.Token), aad(uuid, "token"))
	if err != nil {
		return store.AppInstall{}, fmt.Errorf("apptoken: installation %s: sealing the token: %w", uuid, err)
	}
	refresh, err := m.box.Seal([]byte(ans.RefreshToken), aad(uuid, "refresh"))
	if err != nil {
		return store.AppInstall{}, fmt.Errorf("apptoken: installation %s: sealing the refresh token: %w", uuid, err)
	}
	now := m.cfg.Now().UTC()
	return store.AppInstall{UUID: uuid, Org: org, TokenSealed: tok, RefreshSealed: refresh,
		ExpiresAt: ans.expiry(now), CreatedAt: now, UpdatedAt: now}, nil
}

// aad binds a sealed token to its installation and kind, so that a sealed
// value moved to another installation, or swapped between token and
// refresh token, does not open. Uuids never contain NUL.
func aad(uuid, kind string) string {
	return "sentrybot/app_installation\x00" + uuid + "\x00" + kind
}

// validUUID accepts what can be an installation id: Sentry's are UUIDs.
// It keeps junk out of URLs and logs.
func validUUID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F' || r == '-') {
			return false
		}
	}
	return true
}
