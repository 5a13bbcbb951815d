// Package config loads sentrybot's settings from a YAML file and the
// environment, as the Configuration table of DESIGN.md describes: the
// environment wins over the file, ${VAR} inside the file is expanded,
// defaults fill the rest, and the result is validated before anything
// touches the network.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Defaults from the Configuration table.
const (
	DefaultSlackAPIURL = "https://slack.com/api/"
	DefaultSentryURL   = "https://sentry.io"
	DefaultStorePath   = "sentrybot.db"
	DefaultLogLevel    = "info"
	DefaultLogFormat   = "json"
)

// SecretKeySize is the length of the decoded SENTRYBOT_SECRET_KEY.
const SecretKeySize = 32

// Config is the effective configuration. Load fills it; every field is
// already defaulted and normalised.
type Config struct {
	Slack struct {
		AppToken Secret
		BotToken Secret
		APIURL   string // always ends with "/"
	}
	Sentry struct {
		URL           string // no trailing "/"
		Org           string // lower-case slug
		Token         Secret
		LinkHosts     []string // lower-case host names without ports
		WebhookSecret Secret
		OAuth         struct {
			ClientID     string
			ClientSecret Secret
		}
		// App is a Sentry public integration sentrybot is installed as;
		// its client secret is WebhookSecret.
		App struct{ ClientID string }
	}
	Store struct{ Path string }
	Log   struct {
		Level  string // a zerolog level name
		Format string // "json" or "console"
	}
	Auth   struct{ Admins []string }
	HTTP   struct{ Listen, PublicURL string }
	Alerts struct {
		DefaultChannel string
		// RuleChannels maps an alert rule's name to the channel its alerts
		// go to ("C012AB3CD" or "#name").
		RuleChannels map[string]string
		// PollInterval is how often subscriptions are polled; 0 is off.
		PollInterval time.Duration
	}
	// SecretKey is base64 of SecretKeySize bytes, or empty when a generated
	// key file is to be used. DecodeSecretKey turns it into bytes.
	SecretKey Secret
}

// Error is a missing or malformed setting. Its message names the YAML key,
// the environment variable and what is expected, and never the value of a
// secret.
type Error struct {
	Key      string // YAML key such as "slack.app_token"; "secret key" for the env-only row
	Env      string // environment variable
	Missing  bool   // required (or required by another setting) but not set
	Expected string // what a valid value looks like
	Got      string // safe description of what was found, possibly ""
}

func (e *Error) Error() string {
	problem := "is malformed"
	if e.Missing {
		problem = "is required"
	}
	msg := fmt.Sprintf("config: %s (env %s) %s: expected %s", e.Key, e.Env, problem, e.Expected)
	if e.Got != "" {
		msg += " (got " + e.Got + ")"
	}
	return msg
}

// row is one row of the Configuration table.
type row struct {
	key    string
	env    string
	list   bool // comma list in env; YAML list or comma string in the file
	secret bool
	// envOnly rows have no YAML key.
	envOnly bool
}

// The row names, kept in one place so messages and lookups agree.
const (
	keySlackAppToken       = "slack.app_token"
	keySlackBotToken       = "slack.bot_token"
	keySlackAPIURL         = "slack.api_url"
	keySentryURL           = "sentry.url"
	keySentryOrg           = "sentry.org"
	keySentryToken         = "sentry.token"
	keySentryLinkHosts     = "sentry.link_hosts"
	keyStorePath           = "store.path"
	keyLogLevel            = "log.level"
	keyLogFormat           = "log.format"
	keyAuthAdmins          = "auth.admins"
	keyHTTPListen          = "http.listen"
	keySentryWebhookSecret = "sentry.webhook_secret"
	keyAlertsChannel       = "alerts.default_channel"
	keyHTTPPublicURL       = "http.public_url"
	keyOAuthClientID       = "sentry.oauth.client_id"
	keyOAuthClientSecret   = "sentry.oauth.client_secret"
	keySecretKey           = "secret key"
	keyAlertsRuleChannels  = "alerts.rule_channels"
	keyAlertsPollInterval  = "alerts.poll_interval"
	keyAppClientID         = "sentry.app.client_id"
)

// table is the Configuration table of DESIGN.md, in its order. Validation
// walks it in this order, so the first problem reported is stable.
var table = []row{
	{key: keySlackAppToken, env: "SLACK_APP_TOKEN", secret: true},
	{key: keySlackBotToken, env: "SLACK_BOT_TOKEN", secret: true},
	{key: keySlackAPIURL, env: "SLACK_API_URL"},
	{key: keySentryURL, env: "SENTRY_URL"},
	{key: keySentryOrg, env: "SENTRY_ORG"},
	{key: keySentryToken, env: "SENTRY_AUTH_TOKEN", secret: true},
	{key: keySentryLinkHosts, env: "SENTRY_LINK_HOSTS", list: true},
	{key: keyStorePath, env: "SENTRYBOT_DB"},
	{key: keyLogLevel, env: "SENTRYBOT_LOG_LEVEL"},
	{key: keyLogFormat, env: "SENTRYBOT_LOG_FORMAT"},
	{key: keyAuthAdmins, env: "SENTRYBOT_ADMINS", list: true},
	{key: keyHTTPListen, env: "SENTRYBOT_HTTP_LISTEN"},
	{key: keySentryWebhookSecret, env: "SENTRY_WEBHOOK_SECRET", secret: true},
	{key: keyAlertsChannel, env: "SENTRYBOT_ALERTS_CHANNEL"},
	{key: keyHTTPPublicURL, env: "SENTRYBOT_PUBLIC_URL"},
	{key: keyOAuthClientID, env: "SENTRY_OAUTH_CLIENT_ID"},
	{key: keyOAuthClientSecret, env: "SENTRY_OAUTH_CLIENT_SECRET", secret: true},
	{key: keySecretKey, env: "SENTRYBOT_SECRET_KEY", secret: true, envOnly: true},
	// Added by the alert-routing issue, after the contract's table.
	{key: keyAlertsRuleChannels, env: "SENTRYBOT_ALERT_RULE_CHANNELS", list: true},
	{key: keyAlertsPollInterval, env: "SENTRYBOT_POLL_INTERVAL"},
	// Added by the per-user OAuth issue (its optional public integration).
	{key: keyAppClientID, env: "SENTRY_APP_CLIENT_ID"},
}

func lookup(key string) row {
	for _, s := range table {
		if s.key == key {
			return s
		}
	}
	panic("config: no setting " + key) // a typo in this package
}

// value is a setting as found in the file or the environment.
type value struct {
	text  string   // scalar settings
	items []string // list settings
	// unset lists ${VAR}s in the file that expanded to nothing, so that a
	// missing value can say why.
	unset []string
}

// DefaultPath returns "config.yaml" when that file exists in the working
// directory, else "". stat is os.Stat with the FileInfo dropped. A stat error
// other than "does not exist" still returns the name, so that Load reports
// the real problem instead of the file being silently skipped.
func DefaultPath(stat func(string) error) string {
	const name = "config.yaml"
	if err := stat(name); err != nil && errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	return name
}

// Load reads the YAML file at path (when path != ""), expands ${VAR} in its
// values with getenv, applies environment overrides (the environment wins;
// an empty variable counts as unset), applies defaults and validates.
//
// A file that cannot be read or parsed, or has a key the table does not
// know, gives an error naming the file and line. An invalid setting gives
// an *Error for the first problem in table order.
func Load(path string, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	values := make(map[string]value)
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: read config file: %w", err)
		}
		if err := parseFile(path, data, getenv, values); err != nil {
			return nil, err
		}
	}
	for _, s := range table {
		v := strings.TrimSpace(getenv(s.env))
		if v == "" {
			continue
		}
		if s.list {
			values[s.key] = value{items: splitList(v)}
		} else {
			values[s.key] = value{text: v}
		}
	}
	c, e := build(values)
	if e != nil {
		return nil, e
	}
	return c, nil
}

// splitList splits a comma list, trimming blanks and dropping empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

var (
	slugPattern    = regexp.MustCompile(`^[a-z0-9_-]+$`)
	userIDPattern  = regexp.MustCompile(`^[UW][A-Z0-9]+$`)
	channelPattern = regexp.MustCompile(`^[CGD][A-Z0-9]+$`)
	// channelNamePattern is Slack's rule for channel names, after a '#'.
	channelNamePattern = regexp.MustCompile(`^#[a-z0-9][a-z0-9._-]{0,79}$`)
	hostPattern        = regexp.MustCompile(`^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$`)
)

// logLevels are zerolog's level names.
var logLevels = []string{"trace", "debug", "info", "warn", "error", "fatal", "panic", "disabled"}

// build applies defaults and validates, row by row in table order. A
// requirement one setting places on another (the OAuth pair needs
// http.public_url) is checked at the row of the setting that imposes it.
func build(values map[string]value) (*Config, *Error) {
	c := new(Config)
	get := func(key string) string { return values[key].text }
	fail := func(key string, missing bool, expected, got string) *Error {
		if missing && got == "" && len(values[key].unset) > 0 {
			got = "nothing: " + describeUnset(values[key].unset)
		}
		return &Error{Key: key, Env: lookup(key).env, Missing: missing, Expected: expected, Got: got}
	}

	// slack.app_token, slack.bot_token
	for _, t := range []struct {
		key, prefix, what string
		dst               *Secret
	}{
		{keySlackAppToken, "xapp-", "an app-level token", &c.Slack.AppToken},
		{keySlackBotToken, "xoxb-", "a bot token", &c.Slack.BotToken},
	} {
		v := get(t.key)
		expected := fmt.Sprintf("%s starting with %q", t.what, t.prefix)
		if v == "" {
			return nil, fail(t.key, true, expected, "")
		}
		if !strings.HasPrefix(v, t.prefix) || hasSpace(v) {
			return nil, fail(t.key, false, expected, describeToken(v))
		}
		*t.dst = Secret(v)
	}

	// slack.api_url
	apiURL := orDefault(get(keySlackAPIURL), DefaultSlackAPIURL)
	if got := checkHTTPURL(apiURL); got != "" {
		return nil, fail(keySlackAPIURL, false, "an absolute http(s) URL like "+DefaultSlackAPIURL, got)
	}
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/" // relative method names resolve under it
	}
	c.Slack.APIURL = apiURL

	// sentry.url
	sentryURL := orDefault(get(keySentryURL), DefaultSentryURL)
	if got := checkHTTPURL(sentryURL); got != "" {
		return nil, fail(keySentryURL, false, "an absolute http(s) URL like "+DefaultSentryURL, got)
	}
	c.Sentry.URL = strings.TrimRight(sentryURL, "/")

	// sentry.org: Sentry slugs are lower-case and its URLs fold case, so a
	// slug typed in another case is accepted and lower-cased.
	const slugExpected = "an organization slug of lower-case letters, digits, '-' and '_'"
	org := strings.ToLower(get(keySentryOrg))
	if org == "" {
		return nil, fail(keySentryOrg, true, slugExpected, "")
	}
	if !slugPattern.MatchString(org) {
		return nil, fail(keySentryOrg, false, slugExpected, quote(get(keySentryOrg)))
	}
	c.Sentry.Org = org

	// sentry.token
	const tokenExpected = "a Sentry auth token (internal integration or organization token) without whitespace"
	if v := get(keySentryToken); v == "" {
		return nil, fail(keySentryToken, true, tokenExpected, "")
	} else if hasSpace(v) {
		return nil, fail(keySentryToken, false, tokenExpected, "a value containing whitespace")
	} else {
		c.Sentry.Token = Secret(v)
	}

	// sentry.link_hosts
	hosts := values[keySentryLinkHosts].items
	if len(hosts) == 0 {
		u, _ := url.Parse(c.Sentry.URL) // checked above
		hosts = []string{u.Hostname()}
	}
	seen := make(map[string]bool)
	for _, h := range hosts {
		name, ok := normaliseHost(h)
		if !ok {
			return nil, fail(keySentryLinkHosts, false, "a comma list of host names like sentry.io, without scheme or path", quote(h))
		}
		if !seen[name] {
			seen[name] = true
			c.Sentry.LinkHosts = append(c.Sentry.LinkHosts, name)
		}
	}

	// store.path
	c.Store.Path = orDefault(get(keyStorePath), DefaultStorePath)

	// log.level, log.format
	level := strings.ToLower(orDefault(get(keyLogLevel), DefaultLogLevel))
	if !oneOf(level, logLevels...) {
		return nil, fail(keyLogLevel, false, "one of "+strings.Join(logLevels, ", "), quote(get(keyLogLevel)))
	}
	c.Log.Level = level
	format := strings.ToLower(orDefault(get(keyLogFormat), DefaultLogFormat))
	if !oneOf(format, "json", "console") {
		return nil, fail(keyLogFormat, false, "json or console", quote(get(keyLogFormat)))
	}
	c.Log.Format = format

	// auth.admins
	for _, id := range values[keyAuthAdmins].items {
		if !userIDPattern.MatchString(id) {
			return nil, fail(keyAuthAdmins, false, "a comma list of Slack user ids like U012AB3CD", quote(id))
		}
		if !oneOf(id, c.Auth.Admins...) {
			c.Auth.Admins = append(c.Auth.Admins, id)
		}
	}

	// http.listen
	if v := get(keyHTTPListen); v != "" {
		if got := checkListen(v); got != "" {
			return nil, fail(keyHTTPListen, false, "host:port like 127.0.0.1:8080 or :8080", got)
		}
		c.HTTP.Listen = v
	}

	// sentry.webhook_secret: any value; Sentry generates it.
	c.Sentry.WebhookSecret = Secret(get(keySentryWebhookSecret))

	// alerts.default_channel
	if v := get(keyAlertsChannel); v != "" {
		if !channelPattern.MatchString(v) {
			return nil, fail(keyAlertsChannel, false, "a Slack channel id like C012AB3CD", quote(v))
		}
		c.Alerts.DefaultChannel = v
	}

	// http.public_url
	const publicExpected = "an absolute http(s) URL like https://sentrybot.example.com"
	if v := get(keyHTTPPublicURL); v != "" {
		if got := checkHTTPURL(v); got != "" {
			return nil, fail(keyHTTPPublicURL, false, publicExpected, got)
		}
		c.HTTP.PublicURL = strings.TrimRight(v, "/")
	}

	// sentry.oauth.client_id, sentry.oauth.client_secret: both or neither,
	// and the browser must be able to come back to http.public_url.
	id, secret := get(keyOAuthClientID), get(keyOAuthClientSecret)
	if id == "" && secret != "" {
		return nil, fail(keyOAuthClientID, true, "the client id of the Sentry OAuth application, because sentry.oauth.client_secret is set", "")
	}
	if id != "" && secret == "" {
		return nil, fail(keyOAuthClientSecret, true, "the client secret of the Sentry OAuth application, because sentry.oauth.client_id is set", "")
	}
	if id != "" && c.HTTP.PublicURL == "" {
		return nil, fail(keyHTTPPublicURL, true, publicExpected+", because sentry.oauth.client_id is set", "")
	}
	if id != "" && c.HTTP.Listen == "" {
		return nil, fail(keyHTTPListen, true, "host:port like 127.0.0.1:8080, because sentry.oauth.client_id is set and the sign-in pages are served there", "")
	}
	c.Sentry.OAuth.ClientID = id
	c.Sentry.OAuth.ClientSecret = Secret(secret)

	// secret key
	if v := get(keySecretKey); v != "" {
		if _, err := DecodeSecretKey(Secret(v)); err != nil {
			return nil, fail(keySecretKey, false, fmt.Sprintf("base64 of exactly %d bytes (e.g. from `openssl rand -base64 32`)", SecretKeySize), err.Error())
		}
		c.SecretKey = Secret(v)
	}

	// alerts.rule_channels
	rules, err := parseRuleChannels(values[keyAlertsRuleChannels].items)
	if err != nil {
		return nil, err
	}
	c.Alerts.RuleChannels = rules

	// alerts.poll_interval: off unless set; Sentry's rate limits make
	// anything under ten seconds unkind.
	if v := get(keyAlertsPollInterval); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || (d != 0 && d < 10*time.Second) || d < 0 || d > 24*time.Hour {
			return nil, fail(keyAlertsPollInterval, false, "a duration between 10s and 24h like 60s or 5m, or 0 for off", quote(v))
		}
		c.Alerts.PollInterval = d
	}

	// sentry.app.client_id: a public integration's installation token is
	// exchanged with its client id and secret (the webhook secret), and its
	// grant code arrives by webhook.
	if v := get(keyAppClientID); v != "" {
		if c.Sentry.WebhookSecret == "" {
			return nil, fail(keySentryWebhookSecret, true, "the client secret of the Sentry integration, because sentry.app.client_id is set", "")
		}
		if c.HTTP.Listen == "" {
			return nil, fail(keyHTTPListen, true, "host:port like 127.0.0.1:8080, because sentry.app.client_id is set and the installation webhook arrives there", "")
		}
		c.Sentry.App.ClientID = v
	}
	return c, nil
}

// DecodeSecretKey decodes SENTRYBOT_SECRET_KEY. Standard and URL-safe
// base64, padded or not, are accepted. The error describes the problem
// without the value.
func DecodeSecretKey(s Secret) ([SecretKeySize]byte, error) {
	var key [SecretKeySize]byte
	v := s.Reveal()
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(v)
		if err != nil {
			continue
		}
		if len(b) != SecretKeySize {
			return key, fmt.Errorf("%d bytes", len(b))
		}
		copy(key[:], b)
		return key, nil
	}
	return key, errors.New("not base64")
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func oneOf(v string, set ...string) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

func hasSpace(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == 0x85 || r == 0xa0 })
}

// quote shows a non-secret value, shortened so a pasted blob stays one line.
func quote(s string) string {
	const maxShown = 64
	if len(s) > maxShown {
		s = s[:maxShown] + "…"
	}
	return strconv.Quote(s)
}

// describeToken says what kind of token was given without showing it. Slack
// token prefixes are not secret, and they point out swapped tokens.
func describeToken(v string) string {
	if hasSpace(v) {
		return "a value containing whitespace"
	}
	for _, p := range []string{"xapp-", "xoxb-", "xoxp-", "xoxa-", "xoxe-", "xoxs-", "xoxr-"} {
		if strings.HasPrefix(v, p) {
			return fmt.Sprintf("a token starting with %q", p)
		}
	}
	return "a value without that prefix"
}

func describeUnset(names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = "${" + n + "}"
	}
	verb := "is"
	if len(parts) > 1 {
		verb = "are"
	}
	return fmt.Sprintf("%s, used in the config file, %s not set", strings.Join(parts, ", "), verb)
}

// checkHTTPURL returns "" for an absolute http(s) URL without user info,
// query or fragment, else a description of the problem that does not
// repeat the URL (it might hold credentials).
func checkHTTPURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "a value that is not a URL"
	case u.Scheme == "":
		return "a URL without a scheme"
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("a URL with scheme %q", u.Scheme)
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return "a URL without a host"
	case u.User != nil:
		return "a URL with user info"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		return "a URL with a query or fragment"
	}
	return ""
}

// checkListen returns "" for host:port with a numeric port, else a
// description of the problem.
func checkListen(s string) string {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return quote(s) + ", which is not host:port"
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || port[0] == '+' || port[0] == '-' {
		return quote(s) + ", whose port is not a number from 0 to 65535"
	}
	return ""
}

// normaliseHost lower-cases a link host and drops a port. Anything with a
// scheme, path or user info is refused rather than guessed at.
func normaliseHost(h string) (string, bool) {
	h = strings.ToLower(strings.TrimSpace(h))
	if strings.ContainsAny(h, "/@?#") {
		return "", false
	}
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	} else if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	if net.ParseIP(h) != nil {
		return h, true
	}
	return h, hostPattern.MatchString(h)
}

// Setting is one effective setting as `sentrybot doctor` may show it.
type Setting struct {
	Key   string // YAML key, or "secret key"
	Env   string
	Value string // secrets are "[redacted]" or "" when unset; lists are comma-joined
}

// Redacted lists every setting of the Configuration table, in its order,
// with secrets redacted.
func (c *Config) Redacted() []Setting {
	shown := map[string]string{
		keySlackAppToken:       c.Slack.AppToken.String(),
		keySlackBotToken:       c.Slack.BotToken.String(),
		keySlackAPIURL:         c.Slack.APIURL,
		keySentryURL:           c.Sentry.URL,
		keySentryOrg:           c.Sentry.Org,
		keySentryToken:         c.Sentry.Token.String(),
		keySentryLinkHosts:     strings.Join(c.Sentry.LinkHosts, ","),
		keyStorePath:           c.Store.Path,
		keyLogLevel:            c.Log.Level,
		keyLogFormat:           c.Log.Format,
		keyAuthAdmins:          strings.Join(c.Auth.Admins, ","),
		keyHTTPListen:          c.HTTP.Listen,
		keySentryWebhookSecret: c.Sentry.WebhookSecret.String(),
		keyAlertsChannel:       c.Alerts.DefaultChannel,
		keyHTTPPublicURL:       c.HTTP.PublicURL,
		keyOAuthClientID:       c.Sentry.OAuth.ClientID,
		keyOAuthClientSecret:   c.Sentry.OAuth.ClientSecret.String(),
		keySecretKey:           c.SecretKey.String(),
		keyAlertsRuleChannels:  ruleChannelsText(c.Alerts.RuleChannels),
		keyAlertsPollInterval:  durationText(c.Alerts.PollInterval),
		keyAppClientID:         c.Sentry.App.ClientID,
	}
	out := make([]Setting, len(table))
	for i, r := range table {
		out[i] = Setting{Key: r.key, Env: r.env, Value: shown[r.key]}
	}
	return out
}

func ruleChannelsText(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// parseRuleChannels reads "rule name=channel" items.
func parseRuleChannels(items []string) (map[string]string, *Error) {
	m := map[string]string{}
	for _, it := range items {
		name, ch, ok := strings.Cut(it, "=")
		name, ch = strings.TrimSpace(name), strings.TrimSpace(ch)
		if !ok || name == "" || !(channelPattern.MatchString(ch) || channelNamePattern.MatchString(ch)) {
			return nil, &Error{Key: keyAlertsRuleChannels, Env: lookup(keyAlertsRuleChannels).env,
				Expected: `a list of "rule name=channel" items, the channel an id like C012AB3CD or a name like #alerts`, Got: quote(it)}
		}
		m[name] = ch
	}
	return m, nil
}
