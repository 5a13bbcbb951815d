package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"sentrybot/sentry"
	"sentrybot/store"
)

// check is one line of the doctor's report.
type check struct {
	name string
	run  func(ctx context.Context) (string, error)
}

func runDoctor(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, _, err := loadConfig("doctor", args, getenv, stderr)
	if err != nil {
		fmt.Fprintf(stdout, "FAIL config: %v\n", err)
		return &exitError{code: 1, err: fmt.Errorf("doctor: configuration is not valid")}
	}
	fmt.Fprintf(stdout, "ok   config: organization %q at %s, Slack API %s\n", cfg.Sentry.Org, cfg.Sentry.URL, cfg.Slack.APIURL)

	httpClient := &http.Client{Timeout: 10 * time.Second}
	api := slack.New(cfg.Slack.BotToken.Reveal(), slack.OptionAPIURL(cfg.Slack.APIURL),
		slack.OptionAppLevelToken(cfg.Slack.AppToken.Reveal()), slack.OptionHTTPClient(httpClient))
	sc, err := sentry.New(sentry.Config{BaseURL: cfg.Sentry.URL, Token: cfg.Sentry.Token.Reveal(), UserAgent: userAgent(), HTTPClient: httpClient})
	if err != nil {
		fmt.Fprintf(stdout, "FAIL sentry client: %v\n", err)
		return &exitError{code: 1, err: fmt.Errorf("doctor: 1 check failed")}
	}

	checks := []check{
		{"slack bot token", func(ctx context.Context) (string, error) {
			r, err := api.AuthTestContext(ctx)
			if err != nil {
				return "", fmt.Errorf("auth.test: %w", err)
			}
			return fmt.Sprintf("workspace %q as %s (%s)", r.Team, r.User, r.UserID), nil
		}},
		{"slack socket mode", func(ctx context.Context) (string, error) {
			if _, _, err := api.StartSocketModeContext(ctx); err != nil {
				return "", fmt.Errorf("apps.connections.open: %w (is Socket Mode on, and does the app-level token have connections:write?)", err)
			}
			return "apps.connections.open answered with a socket URL", nil
		}},
		{"sentry reachable", func(ctx context.Context) (string, error) {
			a, err := sc.Whoami(ctx)
			if err != nil {
				return "", err
			}
			who := "an integration token"
			if a.User != nil {
				who = "user " + a.User.Email
			}
			return fmt.Sprintf("%s answers as %s", cfg.Sentry.URL, who), nil
		}},
		{"sentry token scopes", func(ctx context.Context) (string, error) {
			a, err := sc.Whoami(ctx)
			if err != nil {
				return "", err
			}
			// The scopes sentrybot uses, and why.
			required := []struct{ scope, why string }{
				{"event:read", "read issues for cards"},
				{"event:write", "resolve, archive and assign issues"},
				{"member:read", "link Slack users to Sentry members and list assignees"},
				{"org:read", "read the organization and its teams"},
			}
			var missing []string
			for _, r := range required {
				if !slices.Contains(a.Scopes, r.scope) {
					missing = append(missing, r.scope+" ("+r.why+")")
				}
			}
			if len(missing) > 0 {
				return "", fmt.Errorf("token lacks %s", strings.Join(missing, ", "))
			}
			return strings.Join(a.Scopes, " "), nil
		}},
		{"sentry organization", func(ctx context.Context) (string, error) {
			o, err := sc.Organization(ctx, cfg.Sentry.Org)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%q (%s) is visible to the token", o.Slug, o.Name), nil
		}},
		{"store writable", func(ctx context.Context) (string, error) {
			db, err := store.Open(ctx, cfg.Store.Path)
			if err != nil {
				return "", err
			}
			defer db.Close()
			if err := db.Writable(ctx); err != nil {
				return "", err
			}
			return cfg.Store.Path, nil
		}},
	}
	return doctorReport(ctx, checks, stdout)
}

func doctorReport(ctx context.Context, checks []check, stdout io.Writer) error {
	failed := 0
	for _, c := range checks {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		detail, err := c.run(cctx)
		cancel()
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "FAIL %s: %v\n", c.name, err)
			continue
		}
		fmt.Fprintf(stdout, "ok   %s: %s\n", c.name, detail)
	}
	if failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("doctor: %d check(s) failed", failed)}
	}
	return nil
}
