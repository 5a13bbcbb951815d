package config

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Distinctive secret values: tests scan output for them.
const (
	appToken      = "xapp-1-A0SECRETAPP-111"
	botToken      = "xoxb-0SECRETBOT-222"
	sentryToken   = "sntrys_0SECRETSENTRY333"
	webhookSecret = "0SECRETWEBHOOK444"
	oauthSecret   = "0SECRETOAUTH555"
	secretKey     = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // base64 of 32 bytes
)

var allSecrets = []string{"0SECRETAPP", "0SECRETBOT", "0SECRETSENTRY", "0SECRETWEBHOOK", "0SECRETOAUTH", secretKey[:20]}

// env is a getenv backed by a map.
type env map[string]string

func (e env) get(name string) string { return e[name] }

func (e env) with(kv ...string) env {
	out := make(env, len(e)+len(kv)/2)
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
		} else {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

// requiredEnv is the least configuration that loads.
var requiredEnv = env{
	"SLACK_APP_TOKEN":   appToken,
	"SLACK_BOT_TOKEN":   botToken,
	"SENTRY_ORG":        "acme",
	"SENTRY_AUTH_TOKEN": sentryToken,
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustLoad(t *testing.T, path string, e env) *Config {
	t.Helper()
	c, err := Load(path, e.get)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// effective returns a setting's effective value as text, revealing secrets.
func effective(c *Config, key string) string {
	switch key {
	case keySlackAppToken:
		return c.Slack.AppToken.Reveal()
	case keySlackBotToken:
		return c.Slack.BotToken.Reveal()
	case keySlackAPIURL:
		return c.Slack.APIURL
	case keySentryURL:
		return c.Sentry.URL
	case keySentryOrg:
		return c.Sentry.Org
	case keySentryToken:
		return c.Sentry.Token.Reveal()
	case keySentryLinkHosts:
		return strings.Join(c.Sentry.LinkHosts, ",")
	case keyStorePath:
		return c.Store.Path
	case keyLogLevel:
		return c.Log.Level
	case keyLogFormat:
		return c.Log.Format
	case keyAuthAdmins:
		return strings.Join(c.Auth.Admins, ",")
	case keyHTTPListen:
		return c.HTTP.Listen
	case keySentryWebhookSecret:
		return c.Sentry.WebhookSecret.Reveal()
	case keyAlertsChannel:
		return c.Alerts.DefaultChannel
	case keyHTTPPublicURL:
		return c.HTTP.PublicURL
	case keyOAuthClientID:
		return c.Sentry.OAuth.ClientID
	case keyOAuthClientSecret:
		return c.Sentry.OAuth.ClientSecret.Reveal()
	case keySecretKey:
		return c.SecretKey.Reveal()
	case keyAlertsRuleChannels:
		return ruleChannelsText(c.Alerts.RuleChannels)
	case keyAppClientID:
		return c.Sentry.App.ClientID
	case keyAlertsPollInterval:
		return durationText(c.Alerts.PollInterval)
	}
	panic("unknown key " + key)
}

// yamlFor renders key: value as nested YAML.
func yamlFor(key, val string) string {
	parts := strings.Split(key, ".")
	var b strings.Builder
	for i, p := range parts {
		b.WriteString(strings.Repeat("  ", i) + p + ":")
		if i == len(parts)-1 {
			b.WriteString(" " + val)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestLoadDefaults(t *testing.T) {
	c := mustLoad(t, "", requiredEnv)
	want := map[string]string{
		keySlackAppToken:       appToken,
		keySlackBotToken:       botToken,
		keySlackAPIURL:         "https://slack.com/api/",
		keySentryURL:           "https://sentry.io",
		keySentryOrg:           "acme",
		keySentryToken:         sentryToken,
		keySentryLinkHosts:     "sentry.io",
		keyStorePath:           "sentrybot.db",
		keyLogLevel:            "info",
		keyLogFormat:           "json",
		keyAuthAdmins:          "",
		keyHTTPListen:          "",
		keySentryWebhookSecret: "",
		keyAlertsChannel:       "",
		keyHTTPPublicURL:       "",
		keyOAuthClientID:       "",
		keyOAuthClientSecret:   "",
		keySecretKey:           "",
		keyAlertsRuleChannels:  "",
		keyAlertsPollInterval:  "",
		keyAppClientID:         "",
	}
	if len(want) != len(table) {
		t.Fatalf("test covers %d settings, table has %d", len(want), len(table))
	}
	for _, r := range table {
		if got := effective(c, r.key); got != want[r.key] {
			t.Errorf("%s = %q, want %q", r.key, got, want[r.key])
		}
	}
}

// TestLoadEachSetting sets every setting from the file, from the
// environment, from both (the environment wins), and through ${VAR}.
func TestLoadEachSetting(t *testing.T) {
	// Two different valid values per setting; the first differs from the
	// default, so every subtest would notice the setting being ignored.
	samples := map[string][2]string{
		keySlackAppToken:       {"xapp-1-FILE", "xapp-1-ENV"},
		keySlackBotToken:       {"xoxb-FILE", "xoxb-ENV"},
		keySlackAPIURL:         {"http://127.0.0.1:1/api/", "http://127.0.0.1:2/api/"},
		keySentryURL:           {"https://sentry.example.com", "http://127.0.0.1:9000"},
		keySentryOrg:           {"file-org", "env_org"},
		keySentryToken:         {"sntrys_FILE", "sntryu_ENV"},
		keySentryLinkHosts:     {"file.example.com", "env.example.com"},
		keyStorePath:           {"/var/lib/file.db", "env.db"},
		keyLogLevel:            {"debug", "warn"},
		keyLogFormat:           {"console", "json"},
		keyAuthAdmins:          {"U0FILE", "W0ENV"},
		keyHTTPListen:          {"127.0.0.1:8080", ":9090"},
		keySentryWebhookSecret: {"file-webhook", "env-webhook"},
		keyAlertsChannel:       {"C0FILE", "G0ENV"},
		keyHTTPPublicURL:       {"https://file.example.com", "http://127.0.0.1:8080"},
		keyOAuthClientID:       {"file-client", "env-client"},
		keyOAuthClientSecret:   {"file-secret", "env-secret"},
		keySecretKey:           {secretKey, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"},
		keyAlertsRuleChannels:  {"File rule=C0FILE", "Env rule=#env-alerts"},
		keyAlertsPollInterval:  {"1m0s", "5m0s"},
		keyAppClientID:         {"file-app", "env-app"},
	}
	// The OAuth rows need each other and a public URL.
	base := requiredEnv.with(
		"SENTRY_OAUTH_CLIENT_ID", "base-client",
		"SENTRY_OAUTH_CLIENT_SECRET", "base-secret",
		"SENTRYBOT_PUBLIC_URL", "https://base.example.com",
		"SENTRYBOT_HTTP_LISTEN", "127.0.0.1:8080",
		"SENTRY_WEBHOOK_SECRET", "base-webhook",
	)
	for _, r := range table {
		s, ok := samples[r.key]
		if !ok {
			t.Fatalf("no samples for %s", r.key)
		}
		fileVal, envVal := s[0], s[1]
		others := base.with(r.env, "") // the setting under test starts unset
		t.Run(r.key, func(t *testing.T) {
			if !r.envOnly {
				t.Run("FileOnly", func(t *testing.T) {
					c := mustLoad(t, writeFile(t, yamlFor(r.key, strconv.Quote(fileVal))), others)
					if got := effective(c, r.key); got != fileVal {
						t.Errorf("got %q, want %q", got, fileVal)
					}
				})
				t.Run("EnvOverridesFile", func(t *testing.T) {
					c := mustLoad(t, writeFile(t, yamlFor(r.key, strconv.Quote(fileVal))), others.with(r.env, envVal))
					if got := effective(c, r.key); got != envVal {
						t.Errorf("got %q, want %q", got, envVal)
					}
				})
				t.Run("Expanded", func(t *testing.T) {
					path := writeFile(t, yamlFor(r.key, "${SENTRYBOT_TEST_VALUE}"))
					c := mustLoad(t, path, others.with("SENTRYBOT_TEST_VALUE", fileVal))
					if got := effective(c, r.key); got != fileVal {
						t.Errorf("got %q, want %q", got, fileVal)
					}
				})
			}
			t.Run("EnvOnly", func(t *testing.T) {
				c := mustLoad(t, "", others.with(r.env, fileVal))
				if got := effective(c, r.key); got != fileVal {
					t.Errorf("got %q, want %q", got, fileVal)
				}
			})
		})
	}
}

func TestLoadNormalises(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  env
		key  string
		want string
	}{
		{"APIURLGetsSlash", "", env{"SLACK_API_URL": "http://127.0.0.1:1/api"}, keySlackAPIURL, "http://127.0.0.1:1/api/"},
		{"SentryURLLosesSlash", "", env{"SENTRY_URL": "https://sentry.example.com/"}, keySentryURL, "https://sentry.example.com"},
		{"SentryURLKeepsPath", "", env{"SENTRY_URL": "https://example.com/sentry/"}, keySentryURL, "https://example.com/sentry"},
		{"OrgLowerCased", "", env{"SENTRY_ORG": "AcMe"}, keySentryOrg, "acme"},
		{"LinkHostsDefaultFromURL", "", env{"SENTRY_URL": "https://Sentry.Example.com:9000/"}, keySentryLinkHosts, "sentry.example.com"},
		{"LinkHostsEnvComma", "", env{"SENTRY_LINK_HOSTS": " A.example.com, b.example.com:443 ,,a.example.com"}, keySentryLinkHosts, "a.example.com,b.example.com"},
		{"LinkHostsYAMLList", "sentry:\n  link_hosts:\n    - a.example.com\n    - B.example.com\n", nil, keySentryLinkHosts, "a.example.com,b.example.com"},
		{"LinkHostsYAMLFlowList", "sentry:\n  link_hosts: [a.example.com, '[::1]:9000']\n", nil, keySentryLinkHosts, "a.example.com,::1"},
		{"LinkHostsYAMLCommaString", "sentry:\n  link_hosts: a.example.com,b.example.com\n", nil, keySentryLinkHosts, "a.example.com,b.example.com"},
		{"LinkHostsEmptyListDefaults", "sentry:\n  link_hosts: []\n", nil, keySentryLinkHosts, "sentry.io"},
		{"LinkHostsListExpanded", "sentry:\n  link_hosts: [\"${H1}\", b.example.com]\n", env{"H1": "a.example.com"}, keySentryLinkHosts, "a.example.com,b.example.com"},
		{"AdminsYAMLList", "auth:\n  admins: [U01, W02, U01]\n", nil, keyAuthAdmins, "U01,W02"},
		{"AdminsEnvComma", "", env{"SENTRYBOT_ADMINS": "U01, W02"}, keyAuthAdmins, "U01,W02"},
		{"LogLevelLowerCased", "", env{"SENTRYBOT_LOG_LEVEL": "DEBUG"}, keyLogLevel, "debug"},
		{"LogFormatLowerCased", "log:\n  format: Console\n", nil, keyLogFormat, "console"},
		{"PublicURLLosesSlash", "", env{"SENTRYBOT_PUBLIC_URL": "https://bot.example.com/"}, keyHTTPPublicURL, "https://bot.example.com"},
		{"ValuesTrimmed", "", env{"SENTRY_AUTH_TOKEN": "  " + sentryToken + "\n"}, keySentryToken, sentryToken},
		{"EmptyEnvIsUnset", "store:\n  path: file.db\n", env{"SENTRYBOT_DB": ""}, keyStorePath, "file.db"},
		{"NullIsUnset", "store:\n  path:\n", nil, keyStorePath, "sentrybot.db"},
		{"EmptySection", "store:\n", nil, keyStorePath, "sentrybot.db"},
		{"DollarWithoutBraces", "sentry:\n  webhook_secret: a$HOME$b${1x}c${\n", nil, keySentryWebhookSecret, "a$HOME$b${1x}c${"},
		{"ExpansionInMiddle", "store:\n  path: ${DIR}/bot.db\n", env{"DIR": "/data"}, keyStorePath, "/data/bot.db"},
		{"ExpansionCannotAddKeys", "sentry:\n  webhook_secret: ${W}\n", env{"W": "x\nstore:\n  path: evil.db # y"}, keySentryWebhookSecret, "x\nstore:\n  path: evil.db # y"},
		{"CommentOnlyFile", "# nothing here\n", nil, keyStorePath, "sentrybot.db"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.yaml != "" {
				path = writeFile(t, tc.yaml)
			}
			e := requiredEnv.with()
			for k, v := range tc.env {
				e = e.with(k, v)
			}
			c := mustLoad(t, path, e)
			if got := effective(c, tc.key); got != tc.want {
				t.Errorf("%s = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
}

func TestLoadExpansionDoesNotChangeStructure(t *testing.T) {
	path := writeFile(t, "sentry:\n  webhook_secret: ${W}\nstore:\n  path: kept.db\n")
	c := mustLoad(t, path, requiredEnv.with("W", "x\nstore:\n  path: evil.db"))
	if c.Store.Path != "kept.db" {
		t.Fatalf("store.path = %q: an expanded value changed the document", c.Store.Path)
	}
}

func TestLoadAnchorsAndAliases(t *testing.T) {
	path := writeFile(t, "store:\n  path: &p shared.db\nhttp:\n  listen: \":80\"\nlog:\n  level: debug\nsentry:\n  link_hosts: [a.example.com]\n  webhook_secret: *p\n")
	c := mustLoad(t, path, requiredEnv)
	if c.Sentry.WebhookSecret.Reveal() != "shared.db" || c.Store.Path != "shared.db" {
		t.Fatalf("alias not resolved: %q %q", c.Sentry.WebhookSecret.Reveal(), c.Store.Path)
	}
}

func TestLoadErrors(t *testing.T) {
	oauth := []string{"SENTRY_OAUTH_CLIENT_ID", "id", "SENTRY_OAUTH_CLIENT_SECRET", "s", "SENTRYBOT_PUBLIC_URL", "https://bot.example.com", "SENTRYBOT_HTTP_LISTEN", ":8080"}
	tests := []struct {
		name    string
		yaml    string
		env     []string // pairs applied to requiredEnv; "" deletes
		key     string
		missing bool
		got     string // substring of Error.Got, "" for none
	}{
		{"AppTokenMissing", "", []string{"SLACK_APP_TOKEN", ""}, keySlackAppToken, true, ""},
		{"AppTokenBotToken", "", []string{"SLACK_APP_TOKEN", "xoxb-0SECRETSWAP"}, keySlackAppToken, false, `starting with "xoxb-"`},
		{"AppTokenNoPrefix", "", []string{"SLACK_APP_TOKEN", "0SECRETPLAIN"}, keySlackAppToken, false, "without that prefix"},
		{"AppTokenSpace", "", []string{"SLACK_APP_TOKEN", "xapp-0SECRET X"}, keySlackAppToken, false, "whitespace"},
		{"AppTokenMissingInFile", "slack:\n  app_token: \"\"\n", []string{"SLACK_APP_TOKEN", ""}, keySlackAppToken, true, ""},
		{"AppTokenUnsetVar", "slack:\n  app_token: ${NOT_SET_ANYWHERE}\n", []string{"SLACK_APP_TOKEN", ""}, keySlackAppToken, true, "nothing: ${NOT_SET_ANYWHERE}, used in the config file, is not set"},
		{"BotTokenMissing", "", []string{"SLACK_BOT_TOKEN", ""}, keySlackBotToken, true, ""},
		{"BotTokenAppToken", "", []string{"SLACK_BOT_TOKEN", "xapp-0SECRETSWAP"}, keySlackBotToken, false, `starting with "xapp-"`},
		{"BotTokenUserToken", "", []string{"SLACK_BOT_TOKEN", "xoxp-0SECRETUSER"}, keySlackBotToken, false, `starting with "xoxp-"`},
		{"APIURLRelative", "", []string{"SLACK_API_URL", "slack.com/api"}, keySlackAPIURL, false, "without a scheme"},
		{"APIURLScheme", "", []string{"SLACK_API_URL", "ftp://slack.com/api/"}, keySlackAPIURL, false, `scheme "ftp"`},
		{"APIURLNoHost", "", []string{"SLACK_API_URL", "http:///api/"}, keySlackAPIURL, false, "without a host"},
		{"APIURLQuery", "", []string{"SLACK_API_URL", "https://slack.com/api/?x=1"}, keySlackAPIURL, false, "query"},
		{"SentryURLMalformed", "", []string{"SENTRY_URL", "sentry.io"}, keySentryURL, false, "without a scheme"},
		{"SentryURLUserInfo", "", []string{"SENTRY_URL", "https://u:0SECRETPASS@sentry.io"}, keySentryURL, false, "user info"},
		{"SentryURLFragment", "", []string{"SENTRY_URL", "https://sentry.io/#x"}, keySentryURL, false, "fragment"},
		{"SentryURLNotURL", "", []string{"SENTRY_URL", "https://sentry.io:port/"}, keySentryURL, false, "not a URL"},
		{"OrgMissing", "", []string{"SENTRY_ORG", ""}, keySentryOrg, true, ""},
		{"OrgMalformed", "", []string{"SENTRY_ORG", "acme/evil"}, keySentryOrg, false, `"acme/evil"`},
		{"OrgDots", "sentry:\n  org: acme.io\n", []string{"SENTRY_ORG", ""}, keySentryOrg, false, `"acme.io"`},
		{"TokenMissing", "", []string{"SENTRY_AUTH_TOKEN", ""}, keySentryToken, true, ""},
		{"TokenWhitespace", "", []string{"SENTRY_AUTH_TOKEN", "sntrys_0SECRET TWO"}, keySentryToken, false, "whitespace"},
		{"LinkHostsScheme", "", []string{"SENTRY_LINK_HOSTS", "https://sentry.io"}, keySentryLinkHosts, false, `"https://sentry.io"`},
		{"LinkHostsPath", "sentry:\n  link_hosts: [sentry.io, sentry.io/x]\n", nil, keySentryLinkHosts, false, `"sentry.io/x"`},
		{"LinkHostsOddChars", "", []string{"SENTRY_LINK_HOSTS", "sentry.io, bad host"}, keySentryLinkHosts, false, `"bad host"`},
		{"LinkHostsDoubleDot", "", []string{"SENTRY_LINK_HOSTS", "sentry..io"}, keySentryLinkHosts, false, `"sentry..io"`},
		{"LogLevelUnknown", "", []string{"SENTRYBOT_LOG_LEVEL", "verbose"}, keyLogLevel, false, `"verbose"`},
		{"LogLevelWarning", "log:\n  level: warning\n", nil, keyLogLevel, false, `"warning"`},
		{"LogFormatUnknown", "", []string{"SENTRYBOT_LOG_FORMAT", "text"}, keyLogFormat, false, `"text"`},
		{"AdminsChannelID", "", []string{"SENTRYBOT_ADMINS", "U01,C02"}, keyAuthAdmins, false, `"C02"`},
		{"AdminsLowerCase", "auth:\n  admins: [u01]\n", nil, keyAuthAdmins, false, `"u01"`},
		{"ListenNoPort", "", []string{"SENTRYBOT_HTTP_LISTEN", "127.0.0.1"}, keyHTTPListen, false, "not host:port"},
		{"ListenBadPort", "", []string{"SENTRYBOT_HTTP_LISTEN", ":http"}, keyHTTPListen, false, "port"},
		{"ListenPortRange", "", []string{"SENTRYBOT_HTTP_LISTEN", ":65536"}, keyHTTPListen, false, "port"},
		{"ChannelUserID", "", []string{"SENTRYBOT_ALERTS_CHANNEL", "U01"}, keyAlertsChannel, false, `"U01"`},
		{"ChannelName", "alerts:\n  default_channel: \"#alerts\"\n", nil, keyAlertsChannel, false, `"#alerts"`},
		{"PublicURLRelative", "", []string{"SENTRYBOT_PUBLIC_URL", "/callback"}, keyHTTPPublicURL, false, "without a scheme"},
		{"OAuthSecretWithoutID", "", []string{"SENTRY_OAUTH_CLIENT_SECRET", "s", "SENTRYBOT_PUBLIC_URL", "https://bot.example.com"}, keyOAuthClientID, true, ""},
		{"OAuthIDWithoutSecret", "", []string{"SENTRY_OAUTH_CLIENT_ID", "id", "SENTRYBOT_PUBLIC_URL", "https://bot.example.com"}, keyOAuthClientSecret, true, ""},
		{"OAuthWithoutPublicURL", "", append(oauth[:4:4], "SENTRYBOT_PUBLIC_URL", ""), keyHTTPPublicURL, true, ""},
		{"OAuthWithoutListener", "", append(oauth[:6:6], "SENTRYBOT_HTTP_LISTEN", ""), keyHTTPListen, true, ""},
		{"AppWithoutSecret", "", []string{"SENTRY_APP_CLIENT_ID", "app", "SENTRYBOT_HTTP_LISTEN", ":8080"}, keySentryWebhookSecret, true, ""},
		{"AppWithoutListener", "", []string{"SENTRY_APP_CLIENT_ID", "app", "SENTRY_WEBHOOK_SECRET", "s"}, keyHTTPListen, true, ""},
		{"SecretKeyNotBase64", "", []string{"SENTRYBOT_SECRET_KEY", "0SECRET!!not*base64"}, keySecretKey, false, "not base64"},
		{"SecretKeyShort", "", []string{"SENTRYBOT_SECRET_KEY", "MDEyMzQ1Njc4OWFiY2RlZg=="}, keySecretKey, false, "16 bytes"},
		{"SecretKeyLong", "", []string{"SENTRYBOT_SECRET_KEY", strings.Repeat("A", 44)}, keySecretKey, false, "33 bytes"},
		{"SecretKeyLongPadded", "", []string{"SENTRYBOT_SECRET_KEY", strings.Repeat("A", 44) + "AA=="}, keySecretKey, false, "bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.yaml != "" {
				path = writeFile(t, tc.yaml)
			}
			c, err := Load(path, requiredEnv.with(tc.env...).get)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", c)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is %T, want *Error", err, err)
			}
			r := lookup(tc.key)
			if ce.Key != tc.key || ce.Env != r.env || ce.Missing != tc.missing {
				t.Fatalf("error %+v: want key %s, env %s, missing %v", ce, tc.key, r.env, tc.missing)
			}
			if ce.Expected == "" {
				t.Errorf("error %+v has no Expected", ce)
			}
			if !strings.Contains(ce.Got, tc.got) || (tc.got == "" && ce.Got != "") {
				t.Errorf("Got = %q, want it to contain %q", ce.Got, tc.got)
			}
			msg := err.Error()
			problem := "is malformed"
			if tc.missing {
				problem = "is required"
			}
			prefix := "config: " + tc.key + " (env " + r.env + ") " + problem + ": expected "
			if !strings.HasPrefix(msg, prefix) {
				t.Errorf("message %q does not start with %q", msg, prefix)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("message %q is not one line", msg)
			}
			for _, s := range append(allSecrets, "0SECRET") {
				if strings.Contains(msg, s) {
					t.Errorf("message %q contains secret %q", msg, s)
				}
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		env  []string
		want string
	}{
		{[]string{"SLACK_APP_TOKEN", ""}, `config: slack.app_token (env SLACK_APP_TOKEN) is required: expected an app-level token starting with "xapp-"`},
		{[]string{"SENTRY_URL", "sentry.io"}, `config: sentry.url (env SENTRY_URL) is malformed: expected an absolute http(s) URL like https://sentry.io (got a URL without a scheme)`},
		{[]string{"SENTRYBOT_SECRET_KEY", "MDEyMzQ1Njc4OWFiY2RlZg"}, "config: secret key (env SENTRYBOT_SECRET_KEY) is malformed: expected base64 of exactly 32 bytes (e.g. from `openssl rand -base64 32`) (got 16 bytes)"},
	}
	for _, tc := range tests {
		_, err := Load("", requiredEnv.with(tc.env...).get)
		if err == nil || err.Error() != tc.want {
			t.Errorf("error = %v\nwant    %s", err, tc.want)
		}
	}
}

// TestLoadReportsFirstProblem pins the choice: one error, the first in the
// order of the DESIGN table.
func TestLoadReportsFirstProblem(t *testing.T) {
	steps := []struct {
		fix  []string // applied before loading
		want string   // key of the first problem then
	}{
		{nil, keySlackAppToken},
		{[]string{"SLACK_APP_TOKEN", appToken}, keySlackBotToken},
		{[]string{"SLACK_BOT_TOKEN", botToken}, keySentryURL},
		{[]string{"SENTRY_URL", "https://sentry.example.com"}, keySentryOrg},
		{[]string{"SENTRY_ORG", "acme"}, keySentryToken},
		{[]string{"SENTRY_AUTH_TOKEN", sentryToken}, keyLogLevel},
		{[]string{"SENTRYBOT_LOG_LEVEL", "warn"}, keyAlertsChannel},
		{[]string{"SENTRYBOT_ALERTS_CHANNEL", "C01"}, keyHTTPPublicURL},
		{[]string{"SENTRYBOT_PUBLIC_URL", "https://bot.example.com"}, keyHTTPListen},
		{[]string{"SENTRYBOT_HTTP_LISTEN", "127.0.0.1:8080"}, keySecretKey},
		{[]string{"SENTRYBOT_SECRET_KEY", secretKey}, ""},
	}
	e := env{
		"SENTRY_URL":                 "ftp://x",
		"SENTRYBOT_LOG_LEVEL":        "loud",
		"SENTRYBOT_ALERTS_CHANNEL":   "general",
		"SENTRY_OAUTH_CLIENT_ID":     "id",
		"SENTRY_OAUTH_CLIENT_SECRET": "s",
		"SENTRYBOT_SECRET_KEY":       "short",
	}
	for _, s := range steps {
		e = e.with(s.fix...)
		_, err := Load("", e.get)
		var ce *Error
		switch {
		case s.want == "" && err != nil:
			t.Fatalf("after fixing everything: %v", err)
		case s.want == "":
		case !errors.As(err, &ce) || ce.Key != s.want:
			t.Fatalf("after %v: error %v, want first problem at %s", s.fix, err, s.want)
		}
	}
}

func TestLoadFileErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the message
	}{
		{"UnknownTopLevel", "slack:\n  app_token: x\nslak:\n  bot_token: y\n", []string{":3:", `unknown key "slak"`, "slack, sentry"}},
		{"UnknownNested", "slack:\n  app_tokn: xapp-1\n", []string{":2:", `unknown key "slack.app_tokn"`, "under slack: app_token, bot_token, api_url"}},
		{"UnknownDeep", "sentry:\n  oauth:\n    client: x\n", []string{":3:", `"sentry.oauth.client"`, "client_id, client_secret"}},
		{"SecretKeyNotInFile", "secret_key: abc\n", []string{":1:", `unknown key "secret_key"`}},
		{"LeafAsSection", "store:\n  path:\n    file: x.db\n", []string{":3:", "store.path must be a string"}},
		{"SectionAsString", "slack: xoxb-0SECRETINLINE\n", []string{":1:", "slack must be a mapping"}},
		{"ListOfMaps", "auth:\n  admins:\n    - id: U01\n", []string{":3:", "auth.admins must be a list of strings"}},
		{"StringGotList", "slack:\n  bot_token: [xoxb-0SECRETLIST]\n", []string{":2:", "slack.bot_token must be a string"}},
		{"DuplicateKey", "store:\n  path: a.db\n  path: b.db\n", []string{":3:", `"store.path" is repeated (first at line 2)`}},
		{"RootIsList", "- a\n- b\n", []string{":1:", "must be a mapping"}},
		{"MergeKey", "base: &b\n  path: x\nstore:\n  <<: *b\n", []string{":1:", `unknown key "base"`}},
		{"SyntaxError", "slack:\n  app_token: x\n bot_token: [\n", []string{"config.yaml", "line"}},
		{"BadIndent", "slack:\n  app_token: a\n    bot_token: b\n", []string{"config.yaml", "line 3"}},
		{"TwoDocuments", "store:\n  path: a.db\n---\nstore:\n  path: b.db\n", []string{":3:", "second YAML document"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.yaml)
			_, err := Load(path, requiredEnv.get)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "config: ") || !strings.Contains(msg, path) {
				t.Errorf("message %q does not name the file %s", msg, path)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
			if strings.Contains(msg, "0SECRET") {
				t.Errorf("message %q shows a secret", msg)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(path, requiredEnv.get)
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("error = %v, want a not-exist error naming %s", err, path)
	}
}

func TestLoadEmptyFile(t *testing.T) {
	c := mustLoad(t, writeFile(t, ""), requiredEnv)
	if c.Store.Path != DefaultStorePath {
		t.Fatalf("store.path = %q", c.Store.Path)
	}
}

func TestLoadNilGetenv(t *testing.T) {
	_, err := Load(writeFile(t, "slack:\n  app_token: ${SLACK_APP_TOKEN}\n"), nil)
	var ce *Error
	if !errors.As(err, &ce) || ce.Key != keySlackAppToken || !ce.Missing {
		t.Fatalf("error = %v, want slack.app_token required", err)
	}
}

func TestDefaultPath(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"Exists", nil, "config.yaml"},
		{"Missing", os.ErrNotExist, ""},
		{"MissingWrapped", &os.PathError{Op: "stat", Path: "config.yaml", Err: os.ErrNotExist}, ""},
		{"Unreadable", os.ErrPermission, "config.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var asked string
			got := DefaultPath(func(p string) error { asked = p; return tc.err })
			if got != tc.want || asked != "config.yaml" {
				t.Fatalf("DefaultPath = %q (stat %q), want %q", got, asked, tc.want)
			}
		})
	}
	t.Run("RealFile", func(t *testing.T) {
		dir := t.TempDir()
		t.Chdir(dir)
		stat := func(p string) error { _, err := os.Stat(p); return err }
		if got := DefaultPath(stat); got != "" {
			t.Fatalf("empty dir: %q", got)
		}
		if err := os.WriteFile(filepath.Join(dir, "config.yaml"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := DefaultPath(stat); got != "config.yaml" {
			t.Fatalf("with file: %q", got)
		}
	})
}

func TestDecodeSecretKey(t *testing.T) {
	want := [SecretKeySize]byte{}
	copy(want[:], "0123456789abcdef0123456789abcdef")
	for _, s := range []string{
		"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY",
	} {
		got, err := DecodeSecretKey(Secret(s))
		if err != nil || got != want {
			t.Errorf("DecodeSecretKey(%q) = %x, %v", s, got, err)
		}
	}
	// URL-safe alphabet: bytes 0xfb 0xff encode with '-' and '_'.
	urlSafe := "-_" + strings.Repeat("A", 41) + "="
	if _, err := DecodeSecretKey(Secret(urlSafe)); err != nil {
		t.Errorf("URL-safe key: %v", err)
	}
	if _, err := DecodeSecretKey(Secret(strings.TrimSuffix(urlSafe, "="))); err != nil {
		t.Errorf("raw URL-safe key: %v", err)
	}
}

func TestRedacted(t *testing.T) {
	e := requiredEnv.with(
		"SENTRY_WEBHOOK_SECRET", webhookSecret,
		"SENTRY_OAUTH_CLIENT_ID", "client",
		"SENTRY_OAUTH_CLIENT_SECRET", oauthSecret,
		"SENTRYBOT_PUBLIC_URL", "https://bot.example.com",
		"SENTRYBOT_HTTP_LISTEN", "127.0.0.1:8080",
		"SENTRYBOT_SECRET_KEY", secretKey,
		"SENTRYBOT_ADMINS", "U01,W02",
	)
	c := mustLoad(t, "", e)
	got := c.Redacted()
	if len(got) != len(table) {
		t.Fatalf("%d settings, want %d", len(got), len(table))
	}
	byKey := map[string]Setting{}
	for i, s := range got {
		if s.Key != table[i].key || s.Env != table[i].env {
			t.Errorf("setting %d = %s/%s, want %s/%s", i, s.Key, s.Env, table[i].key, table[i].env)
		}
		byKey[s.Key] = s
		for _, secret := range allSecrets {
			if strings.Contains(s.Value, secret) {
				t.Errorf("%s shows a secret: %q", s.Key, s.Value)
			}
		}
	}
	for key, want := range map[string]string{
		keySlackAppToken:     "[redacted]",
		keyOAuthClientSecret: "[redacted]",
		keySecretKey:         "[redacted]",
		keyOAuthClientID:     "client",
		keyAuthAdmins:        "U01,W02",
		keySentryOrg:         "acme",
		keyHTTPListen:        "127.0.0.1:8080",
	} {
		if byKey[key].Value != want {
			t.Errorf("%s = %q, want %q", key, byKey[key].Value, want)
		}
	}
}

func TestAlertSettings(t *testing.T) {
	c := mustLoad(t, "", requiredEnv.with("SENTRYBOT_ALERT_RULE_CHANNELS", "Errors in prod=C0PROD, Slow pages = #perf", "SENTRYBOT_POLL_INTERVAL", "90s"))
	if c.Alerts.RuleChannels["Errors in prod"] != "C0PROD" || c.Alerts.RuleChannels["Slow pages"] != "#perf" || len(c.Alerts.RuleChannels) != 2 {
		t.Errorf("rule channels = %v", c.Alerts.RuleChannels)
	}
	if c.Alerts.PollInterval != 90*time.Second {
		t.Errorf("poll interval = %v", c.Alerts.PollInterval)
	}
	for _, tc := range []struct{ env, val string }{
		{"SENTRYBOT_ALERT_RULE_CHANNELS", "no channel"},
		{"SENTRYBOT_ALERT_RULE_CHANNELS", "=C0PROD"},
		{"SENTRYBOT_ALERT_RULE_CHANNELS", "Rule=general"},
		{"SENTRYBOT_POLL_INTERVAL", "5s"},
		{"SENTRYBOT_POLL_INTERVAL", "soon"},
		{"SENTRYBOT_POLL_INTERVAL", "48h"},
	} {
		_, err := Load("", requiredEnv.with(tc.env, tc.val).get)
		var ce *Error
		if !errors.As(err, &ce) || ce.Env != tc.env {
			t.Errorf("%s=%q: err = %v, want a config error naming %s", tc.env, tc.val, err, tc.env)
		}
	}
}
