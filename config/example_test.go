package config

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const examplePath = "../config.example.yaml"

// designTable is the Configuration table of DESIGN.md, copied here so that
// a row added there without the code and the example following fails.
var designTable = []struct{ key, env string }{
	{"slack.app_token", "SLACK_APP_TOKEN"},
	{"slack.bot_token", "SLACK_BOT_TOKEN"},
	{"slack.api_url", "SLACK_API_URL"},
	{"sentry.url", "SENTRY_URL"},
	{"sentry.org", "SENTRY_ORG"},
	{"sentry.token", "SENTRY_AUTH_TOKEN"},
	{"sentry.link_hosts", "SENTRY_LINK_HOSTS"},
	{"store.path", "SENTRYBOT_DB"},
	{"log.level", "SENTRYBOT_LOG_LEVEL"},
	{"log.format", "SENTRYBOT_LOG_FORMAT"},
	{"auth.admins", "SENTRYBOT_ADMINS"},
	{"http.listen", "SENTRYBOT_HTTP_LISTEN"},
	{"sentry.webhook_secret", "SENTRY_WEBHOOK_SECRET"},
	{"alerts.default_channel", "SENTRYBOT_ALERTS_CHANNEL"},
	{"http.public_url", "SENTRYBOT_PUBLIC_URL"},
	{"sentry.oauth.client_id", "SENTRY_OAUTH_CLIENT_ID"},
	{"sentry.oauth.client_secret", "SENTRY_OAUTH_CLIENT_SECRET"},
	{"secret key", "SENTRYBOT_SECRET_KEY"},
	// Rows the alert-routing issue added after the contract's table.
	{"alerts.rule_channels", "SENTRYBOT_ALERT_RULE_CHANNELS"},
	{"alerts.poll_interval", "SENTRYBOT_POLL_INTERVAL"},
	// Added by the per-user OAuth issue, for a Sentry public integration.
	{"sentry.app.client_id", "SENTRY_APP_CLIENT_ID"},
}

func TestTableMatchesDesign(t *testing.T) {
	if len(table) != len(designTable) {
		t.Fatalf("table has %d rows, DESIGN.md %d", len(table), len(designTable))
	}
	for i, d := range designTable {
		if table[i].key != d.key || table[i].env != d.env {
			t.Errorf("row %d = %s/%s, DESIGN.md says %s/%s", i, table[i].key, table[i].env, d.key, d.env)
		}
	}
}

func TestExampleConfigLoads(t *testing.T) {
	c := mustLoad(t, examplePath, env{
		"SLACK_APP_TOKEN":   appToken,
		"SLACK_BOT_TOKEN":   botToken,
		"SENTRY_AUTH_TOKEN": sentryToken,
	})
	if c.Slack.AppToken.Reveal() != appToken || c.Sentry.Token.Reveal() != sentryToken {
		t.Error("example does not take its secrets from the environment")
	}
	// The example's values are the defaults, so copying it changes nothing
	// by accident.
	if c.Slack.APIURL != DefaultSlackAPIURL || c.Sentry.URL != DefaultSentryURL || c.Store.Path != DefaultStorePath ||
		c.Log.Level != DefaultLogLevel || c.Log.Format != DefaultLogFormat || c.HTTP.Listen != "" ||
		strings.Join(c.Sentry.LinkHosts, ",") != "sentry.io" {
		t.Errorf("example departs from the defaults: %+v", c)
	}
}

func TestExampleConfigDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, d := range designTable {
		if !strings.Contains(text, d.env) {
			t.Errorf("example does not mention %s", d.env)
		}
		if d.key == "secret key" {
			continue // environment only: mentioned in a comment
		}
		var node any = doc
		for _, part := range strings.Split(d.key, ".") {
			m, ok := node.(map[string]any)
			if !ok {
				node = nil
				break
			}
			if node, ok = m[part]; !ok {
				t.Errorf("example has no key %s", d.key)
				break
			}
		}
	}
	// Every key has a comment: the line above it is a comment line.
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") || i == 0 {
			continue
		}
		if strings.HasSuffix(trimmed, ":") {
			continue // a section heading
		}
		if prev := strings.TrimSpace(lines[i-1]); !strings.HasPrefix(prev, "#") {
			t.Errorf("line %d %q has no comment above it", i+1, trimmed)
		}
	}
}
