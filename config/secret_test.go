package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"
)

func TestSecretMethods(t *testing.T) {
	const v = "0SECRETVALUE"
	s := Secret(v)
	if s.Reveal() != v {
		t.Fatalf("Reveal = %q", s.Reveal())
	}
	j, _ := json.Marshal(s)
	txt, _ := s.MarshalText()
	for name, got := range map[string]string{
		"String":      s.String(),
		"GoString":    s.GoString(),
		"MarshalJSON": string(j),
		"MarshalText": string(txt),
		"LogValue":    s.LogValue().String(),
	} {
		if !strings.Contains(got, "[redacted]") || strings.Contains(got, v) {
			t.Errorf("%s = %q", name, got)
		}
	}
	var empty Secret
	if empty.String() != "" || empty.GoString() != `""` {
		t.Errorf("empty secret shows %q / %s", empty.String(), empty.GoString())
	}
}

// loadedWithSecrets is a Config holding every secret setting.
func loadedWithSecrets(t *testing.T) *Config {
	t.Helper()
	return mustLoad(t, "", requiredEnv.with(
		"SENTRY_WEBHOOK_SECRET", webhookSecret,
		"SENTRY_OAUTH_CLIENT_ID", "client",
		"SENTRY_OAUTH_CLIENT_SECRET", oauthSecret,
		"SENTRYBOT_PUBLIC_URL", "https://bot.example.com",
		"SENTRYBOT_HTTP_LISTEN", "127.0.0.1:8080",
		"SENTRYBOT_SECRET_KEY", secretKey,
	))
}

func TestSecretsNeverPrinted(t *testing.T) {
	c := loadedWithSecrets(t)
	// Sanity: the secrets are really in there.
	if c.Sentry.OAuth.ClientSecret.Reveal() != oauthSecret || c.SecretKey.Reveal() != secretKey {
		t.Fatal("secrets not loaded")
	}

	var outputs = map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		outputs["fmt "+verb] = fmt.Sprintf(verb, c)
		outputs["fmt value "+verb] = fmt.Sprintf(verb, *c)
		outputs["fmt field "+verb] = fmt.Sprintf(verb, c.Slack.AppToken)
	}
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs["json"] = string(j)
	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs["yaml"] = string(y)

	var zl bytes.Buffer
	logger := zerolog.New(&zl)
	logger.Info().
		Interface("config", c).
		Any("sentry", c.Sentry).
		Stringer("token", c.Sentry.Token).
		Interface("secret", c.SecretKey).
		Msgf("loaded %v %+v", c, c.Slack)
	outputs["zerolog"] = zl.String()

	var sl bytes.Buffer
	slog.New(slog.NewJSONHandler(&sl, nil)).Info("loaded", "config", c, "token", c.Slack.BotToken)
	outputs["slog"] = sl.String()

	for name, out := range outputs {
		for _, secret := range allSecrets {
			if strings.Contains(out, secret) {
				t.Errorf("%s shows %q: %s", name, secret, out)
			}
		}
	}
	// And the redaction is visible, so "set" is distinguishable from "unset".
	for _, name := range []string{"fmt %+v", "json", "zerolog", "yaml"} {
		if !strings.Contains(outputs[name], "[redacted]") {
			t.Errorf("%s does not show [redacted]: %s", name, outputs[name])
		}
	}
}

// TestSecretsNeverInErrors makes every secret setting, and the YAML around
// it, wrong in turn and scans the messages.
func TestSecretsNeverInErrors(t *testing.T) {
	const marker = "0SECRETMARK"
	tests := []struct {
		name string
		yaml string
		env  []string
	}{
		{"AppTokenEnv", "", []string{"SLACK_APP_TOKEN", "bad-" + marker}},
		{"AppTokenFile", "slack:\n  app_token: bad-" + marker + "\n", []string{"SLACK_APP_TOKEN", ""}},
		{"BotTokenEnv", "", []string{"SLACK_BOT_TOKEN", "xoxp-" + marker}},
		{"BotTokenSpace", "", []string{"SLACK_BOT_TOKEN", "xoxb- " + marker}},
		{"SentryTokenSpace", "", []string{"SENTRY_AUTH_TOKEN", "a " + marker}},
		{"SecretKey", "", []string{"SENTRYBOT_SECRET_KEY", marker}},
		{"SecretKeyBase64", "", []string{"SENTRYBOT_SECRET_KEY", "MFNFQ1JFVE1BUks="}},
		{"TokenAsList", "sentry:\n  token: [" + marker + "]\n", nil},
		{"TokenAsMap", "sentry:\n  token: {" + marker + ": 1}\n", nil},
		{"SectionAsToken", "slack: " + marker + "\n", nil},
		{"SyntaxAfterSecret", "slack:\n  bot_token: xoxb-" + marker + "\n  app_token: [\n", nil},
		{"UserinfoInURL", "", []string{"SLACK_API_URL", "https://u:" + marker + "@slack.com/api?x"}},
		{"OAuthSecretWithoutID", "", []string{"SENTRY_OAUTH_CLIENT_SECRET", marker}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.yaml != "" {
				path = writeFile(t, tc.yaml)
			}
			_, err := Load(path, requiredEnv.with(tc.env...).get)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if msg := err.Error(); strings.Contains(msg, marker) || strings.Contains(msg, "MFNFQ1JFVE1BUks") {
				t.Fatalf("message shows the secret: %s", msg)
			}
		})
	}
}
