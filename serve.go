package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"sentrybot/alerts"
	"sentrybot/apptoken"
	"sentrybot/authz"
	"sentrybot/bot"
	"sentrybot/config"
	"sentrybot/handlers"
	"sentrybot/issuecache"
	"sentrybot/links"
	"sentrybot/oauth"
	"sentrybot/poller"
	"sentrybot/sentry"
	"sentrybot/store"
	"sentrybot/web"
	"sentrybot/webhook"
)

// loadConfig parses the --config flag of a command and loads the
// configuration. Every failure here is the user's to fix: exit code 2.
func loadConfig(name string, args []string, getenv func(string) string, stderr io.Writer) (*config.Config, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", config.DefaultPath(func(p string) error { _, err := os.Stat(p); return err }), "configuration file (YAML)")
	if err := fs.Parse(args); err != nil {
		return nil, nil, usageError(err)
	}
	cfg, err := config.Load(*path, getenv)
	if err != nil {
		return nil, nil, usageError(err)
	}
	return cfg, fs.Args(), nil
}

func newLogger(cfg *config.Config, w io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(cfg.Log.Level)
	if err != nil {
		level = zerolog.InfoLevel // config validation already refused a bad level
	}
	if cfg.Log.Format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, _, err := loadConfig("run", args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	a, err := newApp(ctx, cfg, log, appOptions{})
	if err != nil {
		return err
	}
	return a.serve(ctx)
}

// appOptions are knobs the demo and the tests turn; production leaves them zero.
type appOptions struct {
	bot        bot.Config
	httpClient *http.Client
}

// app is sentrybot wired together: store, clients, handlers and the bot.
type app struct {
	log    zerolog.Logger
	db     *store.DB
	slack  *slack.Client
	bot    *bot.Bot
	web    *web.Server // nil unless http.listen is set
	alerts *alerts.Service
	poller *poller.Poller    // nil unless alerts.poll_interval is set
	apps   *apptoken.Manager // nil unless sentry.app.client_id is set
}

func newApp(ctx context.Context, cfg *config.Config, log zerolog.Logger, o appOptions) (*app, error) {
	httpClient := o.httpClient
	if httpClient == nil {
		// Many workers wait on Sentry or Slack at once; with the default
		// two idle connections per host most calls would open a new one.
		// Keeping one per worker instead measured 7 MB more RSS at 500
		// envelopes/s for no gain in latency.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		httpClient = &http.Client{Timeout: 15 * time.Second, Transport: tr}
	}
	m := newInstruments()
	sc, err := sentry.New(sentry.Config{
		BaseURL:    cfg.Sentry.URL,
		Token:      cfg.Sentry.Token.Reveal(),
		UserAgent:  userAgent(),
		HTTPClient: httpClient,
		Observe:    m.observeSentry,
	})
	if err != nil {
		return nil, usageError(fmt.Errorf("sentry client: %w", err))
	}
	api := slack.New(cfg.Slack.BotToken.Reveal(),
		slack.OptionAPIURL(cfg.Slack.APIURL),
		slack.OptionAppLevelToken(cfg.Slack.AppToken.Reveal()),
		slack.OptionHTTPClient(httpClient),
		// slack-go retries a 429 only when asked to, after Retry-After.
		slack.OptionRetry(3),
	)

	// Only the workspace the bot token belongs to is served: a user of
	// another one (Slack Connect, an Enterprise Grid sibling) acts on
	// nothing, even with a Sentry member's email.
	team, err := servedWorkspace(ctx, api, log)
	if err != nil {
		return nil, err
	}

	db, err := store.Open(ctx, cfg.Store.Path)
	if err != nil {
		return nil, fmt.Errorf("opening the store: %w", err)
	}

	org := cfg.Sentry.Org
	box := sealer(cfg, db, log)
	apps, err := newApps(cfg, db, box, httpClient, log.With().Str("component", "apptoken").Logger())
	if err != nil {
		db.Close()
		return nil, err
	}
	if apps != nil {
		// Calls carry the installation's token once Sentry has given one,
		// and sentry.token until then (or after an uninstall).
		sc = sc.WithTokenSource(apps.Bearer)
	}
	// Two thousand issues cover any burst of shared links; the cap keeps
	// memory flat when every link names a new issue.
	issues := issuecache.New(sc, issuecache.Options{MaxSize: 2000})
	matcher := links.NewMatcher(org, cfg.Sentry.LinkHosts)
	auth := countedAuthorizer{authz.New(db, sentryMembers{sc}, authz.SlackAdminChecker(api), log.With().Str("component", "authz").Logger(),
		authz.Options{Org: org, TeamID: team, Admins: cfg.Auth.Admins}), m}
	replier := handlers.NewSlackReplier(api, httpClient, responseHosts(cfg.Slack.APIURL))
	router := alerts.New(db, issues, api, log.With().Str("component", "alerts").Logger(), alerts.Options{
		Org: org, RuleChannels: cfg.Alerts.RuleChannels, DefaultChannel: cfg.Alerts.DefaultChannel})
	m.reg.GaugeFunc("sentrybot_sentry_breaker_open", "1 while calls to Sentry are held back after repeated failures (or one probe is let through), 0 otherwise.", func() float64 {
		if sc.BreakerState() == sentry.BreakerClosed {
			return 0
		}
		return 1
	})
	m.reg.GaugeFunc("sentrybot_outbox_depth", "Alerts and card updates waiting to reach Slack.", func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		n, err := router.Depth(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})
	triage := handlers.NewTriage(org, sc, issues, auth, api, replier, log.With().Str("handler", "triage").Logger())
	// Cards elsewhere follow a change when Sentry reports it (the issue
	// webhook, or the poller); the clicked card is redrawn at once, and its
	// "… by @user" line is kept for those later redraws.
	triage.KeepFooters(db)
	logins, err := newLogins(cfg, db, box, sc, auth, api, httpClient, log.With().Str("component", "oauth").Logger())
	if err != nil {
		db.Close()
		return nil, err
	}
	var loginCmds handlers.LoginLinks
	if logins != nil {
		triage.ActAs(sentryAs{svc: logins, org: sc})
		loginCmds = loginLinks{logins}
	}
	commands := handlers.NewCommands(handlers.CommandDeps{
		Org: org, Links: matcher, Issues: issues, Search: sc, Sentry: sc, Directory: sc,
		Identities: handlers.NewIdentities(org, api, sc, auth, db, nil),
		IDs:        db, Triage: triage, Auth: auth, Roles: auth, Overrides: db, AuditLog: db,
		Poster: api, Reply: replier, Subs: db, Cards: db, Logins: loginCmds, Log: log.With().Str("handler", "commands").Logger(),
	})
	unfurler := handlers.NewUnfurler(org, matcher, issues, countedUnfurls{api, m}, db, log.With().Str("handler", "unfurl").Logger())
	unfurler.TellFailures(api)
	h := bot.Handlers{
		LinkShared:  unfurler,
		Commands:    commands,
		Actions:     &handlers.ActionRouter{Triage: triage, Commands: commands},
		Suggestions: handlers.NewAssignees(org, sc, db, issues, nil),
	}
	botCfg := o.bot
	botCfg.Observe = m.observeEnvelope
	botCfg.TeamID = team
	b := bot.New(api, db, h, log.With().Str("component", "bot").Logger(), botCfg)

	a := &app{log: log, db: db, slack: api, bot: b, alerts: router, apps: apps}
	if cfg.Alerts.PollInterval > 0 {
		a.poller = poller.New(db, pollSubscriptions{db}, sc, router, log.With().Str("component", "poller").Logger(),
			poller.Options{Org: org, Interval: cfg.Alerts.PollInterval})
	}
	if cfg.HTTP.Listen != "" {
		a.web = web.New(web.Options{
			Addr: cfg.HTTP.Listen,
			// Without a secret every webhook is refused with 401, and the
			// handler logs why.
			Webhook: webhook.NewHandler([]byte(cfg.Sentry.WebhookSecret.Reveal()), router, db,
				log.With().Str("component", "webhook").Logger(), webhookOptions(apps)),
			Healthy: healthy(b.Connected, db.Writable),
			Extra:   extraRoutes(logins),
			Metrics: m.reg.Handler(),
			Log:     log.With().Str("component", "http").Logger(),
		})
	}
	return a, nil
}

// webhookOptions hands installation webhooks to apps, when there is one. A
// nil *Manager must not become a non-nil interface.
func webhookOptions(apps *apptoken.Manager) webhook.Options {
	var o webhook.Options
	if apps != nil {
		o.Installations = apps
	}
	return o
}

// extraRoutes are the sign-in pages, when Sentry logins are configured.
func extraRoutes(logins *oauth.Service) map[string]http.Handler {
	if logins == nil {
		return nil
	}
	return logins.Routes()
}

// servedWorkspace asks Slack which workspace the bot token belongs to
// (auth.test). A refused token stops the start; Slack out of reach is tried
// a few times, so a blip does not take the process down.
func servedWorkspace(ctx context.Context, api *slack.Client, log zerolog.Logger) (string, error) {
	var err error
	for attempt := range 4 {
		if attempt > 0 {
			wait := time.Duration(1<<attempt) * 500 * time.Millisecond
			log.Warn().Err(err).Dur("retry_in", wait).Msg("couldn't ask Slack which workspace this is (auth.test)")
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(wait):
			}
		}
		var r *slack.AuthTestResponse
		r, err = api.AuthTestContext(ctx)
		var se slack.SlackErrorResponse
		switch {
		case err == nil && r.TeamID != "":
			return r.TeamID, nil
		case err == nil:
			err = errors.New("auth.test named no team")
		case errors.As(err, &se) || isSlackCode(err):
			return "", usageError(fmt.Errorf("slack.bot_token was refused by auth.test (%v); check the Bot User OAuth Token", err))
		}
	}
	return "", fmt.Errorf("asking Slack which workspace this is (auth.test): %w", err)
}

// isSlackCode reports whether err is an error code Slack answered with
// (slack-go returns those as plain errors, like "invalid_auth").
func isSlackCode(err error) bool {
	switch err.Error() {
	case "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "not_allowed_token_type":
		return true
	}
	return false
}

// sentryMembers lets the authorization module ask Sentry about a member.
type sentryMembers struct{ c *sentry.Client }

func (s sentryMembers) Member(ctx context.Context, org, memberID string) (authz.MemberInfo, error) {
	m, err := s.c.Member(ctx, org, memberID)
	if errors.Is(err, sentry.ErrNotFound) {
		return authz.MemberInfo{}, fmt.Errorf("%w: %w", authz.ErrMemberNotFound, err)
	}
	if err != nil {
		return authz.MemberInfo{}, err
	}
	info := authz.MemberInfo{ID: m.ID, Email: m.Email, OrgRole: m.Role, Pending: m.Pending || m.Expired}
	if m.User != nil {
		info.UserID = m.User.ID
	} else {
		info.Pending = true
	}
	return info, nil
}

// responseHosts are the hosts a response_url may point at: Slack's hooks
// host, and the Web API's own host (where a test fake serves both).
func responseHosts(apiURL string) []string {
	hosts := []string{"hooks.slack.com"}
	if u, err := url.Parse(apiURL); err == nil && u.Host != "" {
		hosts = append(hosts, u.Host)
	}
	return hosts
}

// serve runs until ctx ends, then closes the store.
func (a *app) serve(ctx context.Context) error {
	a.log.Info().Str("version", versionLine()).Msg("starting")
	// The listener lives as long as the bot: when the bot stops for good
	// (say, the app token is revoked), /healthz must not keep saying ok.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	webDone := make(chan error, 1)
	if a.web != nil {
		go func() {
			err := a.web.Serve(ctx)
			if err != nil {
				cancel() // a listener that cannot listen stops the bot too
			}
			webDone <- err
		}()
	} else {
		webDone <- nil
	}
	// The alert router and the poller stop with the bot; the router
	// finishes the Slack call in hand, and anything queued waits in the
	// database for the next start.
	var workers sync.WaitGroup
	workers.Go(func() {
		if err := a.alerts.Run(ctx); err != nil {
			a.log.Error().Err(err).Msg("alert router stopped")
		}
	})
	if a.apps != nil {
		workers.Go(func() {
			if err := a.apps.Run(ctx); err != nil {
				a.log.Error().Err(err).Msg("installation token renewal stopped")
			}
		})
	}
	if a.poller != nil {
		workers.Go(func() {
			if err := a.poller.Run(ctx); err != nil {
				a.log.Error().Err(err).Msg("poller stopped")
			}
		})
	}
	err := a.bot.Run(ctx)
	cancel()
	workers.Wait()
	if werr := <-webDone; werr != nil {
		err = errors.Join(err, fmt.Errorf("http listener: %w", werr))
	}
	if cerr := a.db.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("closing the store: %w", cerr))
	}
	if err == nil {
		a.log.Info().Msg("stopped")
	}
	return err
}
