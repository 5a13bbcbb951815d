package sentry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// maxBodyBytes caps how much of a response is read; the largest bodies
// sentrybot asks for (a page of 100 issues) stay far below it.
const maxBodyBytes = 4 << 20

// maxDetailRunes keeps Sentry's error text short enough for a log line or a
// Slack message.
const maxDetailRunes = 300

// Config configures a Client. BaseURL and Token are required.
type Config struct {
	BaseURL    string           // e.g. https://sentry.io or http://127.0.0.1:1234; a trailing slash is fine
	Token      string           // bearer token; never logged and never part of an error
	UserAgent  string           // default "sentrybot"
	HTTPClient *http.Client     // default: a client with a 10 s timeout
	Now        func() time.Time // default time.Now; used to turn Retry-After into a time
	// Observe, when set, is told of every call: its operation, the HTTP
	// status (0 when no answer came) and how long it took. For metrics.
	Observe func(op string, status int, took time.Duration)
	// BreakerThreshold is how many calls in a row must fail (no answer, a
	// timeout or a 5xx) before calls fail at once without reaching Sentry;
	// default 5, negative never.
	BreakerThreshold int
	// BreakerCooldown is how long calls fail at once before one probe call
	// is let through; it doubles, up to 5 minutes, while probes fail.
	// Default 30 s.
	BreakerCooldown time.Duration
}

// Client calls Sentry's Web API. It is safe for concurrent use.
type Client struct {
	base      string // scheme://host[/prefix], no trailing slash
	token     string
	userAgent string
	http      *http.Client
	now       func() time.Time
	observe   func(op string, status int, took time.Duration)
	// breaker is shared by copies of the client made for other tokens.
	breaker *breaker
	// source, when set, gives the token of each call (tokensource.go).
	source *tokenSource
	// bodies recycles the buffers responses are read into; shared, like
	// the breaker, by copies of the client.
	bodies *sync.Pool
}

// maxPooledBody is the largest response buffer kept for reuse; the rare
// bigger one (a long search page) is left to the garbage collector.
const maxPooledBody = 256 << 10

// New checks cfg and returns a client. It makes no network calls.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(cfg.BaseURL))
	if err != nil {
		return nil, fmt.Errorf("sentry: parse base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("sentry: base URL %q must be an absolute http or https URL", cfg.BaseURL)
	}
	if u.User != nil {
		// Credentials in the URL would end up in error messages.
		return nil, errors.New("sentry: base URL must not contain credentials; use the token")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("sentry: base URL %q must not have a query or fragment", u.Redacted())
	}
	if strings.TrimSpace(cfg.Token) == "" {
		return nil, errors.New("sentry: token is empty")
	}
	if strings.ContainsFunc(cfg.Token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, errors.New("sentry: token contains whitespace or control characters")
	}
	c := &Client{
		base:      strings.TrimRight(u.String(), "/"),
		token:     cfg.Token,
		userAgent: cfg.UserAgent,
		now:       cfg.Now,
		observe:   cfg.Observe,
	}
	if c.userAgent == "" {
		c.userAgent = "sentrybot"
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.breaker = newBreaker(cfg.BreakerThreshold, cfg.BreakerCooldown, c.now)
	c.bodies = &sync.Pool{New: func() any { return new(bytes.Buffer) }}
	hc := http.Client{Timeout: 10 * time.Second}
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	hc.CheckRedirect = checkRedirect
	c.http = &hc
	return c, nil
}

// checkRedirect follows only same-host redirects of GET requests (Sentry
// redirects a merged issue to the issue it was merged into). Net/http would
// turn a redirected PUT into a GET and silently drop the update, and a
// redirect to another host would arrive without the token.
func checkRedirect(req *http.Request, via []*http.Request) error {
	first := via[0]
	if first.Method != http.MethodGet || req.URL.Host != first.URL.Host || req.URL.Scheme != first.URL.Scheme {
		return http.ErrUseLastResponse
	}
	if len(via) >= 5 {
		return errors.New("stopped after 5 redirects")
	}
	return nil
}

// do sends one request to path (which starts with /api/0/) and decodes a
// successful JSON answer into out, if out is not nil. body, if not nil, is
// sent as JSON. It returns the response headers so list calls can read the
// Link header. Every failure is an *Error tagged with op.
//
// While Sentry keeps failing, or has rate-limited the token, do fails at
// once without a request: a user hears so now instead of after a timeout,
// and a struggling Sentry is not sent more work.
func (c *Client) do(ctx context.Context, op, method, path string, query url.Values, body, out any) (http.Header, error) {
	c, err := c.sourced(ctx, op)
	if err != nil {
		return nil, err
	}
	t, err := c.breaker.admit(op, c.token)
	if err != nil {
		return nil, err
	}
	h, err := c.send(ctx, op, method, path, query, body, out)
	c.breaker.done(t, c.token, err)
	return h, err
}

// send is do without the breaker.
func (c *Client) send(ctx context.Context, op, method, path string, query url.Values, body, out any) (http.Header, error) {
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var reqBody io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, &Error{Op: op, Kind: KindInvalid, Err: fmt.Errorf("encode request body: %w", err)}
		}
		reqBody = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, reqBody)
	if err != nil {
		return nil, &Error{Op: op, Kind: KindInvalid, Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	start := time.Now()
	resp, err := c.http.Do(req)
	if c.observe != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		c.observe(op, status, time.Since(start))
	}
	if err != nil {
		return nil, transportError(ctx, op, err)
	}
	defer resp.Body.Close()

	buf := c.bodies.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledBody {
			c.bodies.Put(buf)
		}
	}()
	// Nothing below keeps data past this call: json.Unmarshal copies what
	// it decodes, and error details are copied out as strings.
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, maxBodyBytes+1))
	data := buf.Bytes()
	if err != nil {
		e := transportError(ctx, op, err)
		e.StatusCode = resp.StatusCode
		return nil, e
	}
	if len(data) > maxBodyBytes {
		return nil, &Error{Op: op, StatusCode: resp.StatusCode, Kind: KindBadResponse,
			Detail: fmt.Sprintf("response body larger than %d bytes", maxBodyBytes)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.statusError(op, resp, data)
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, &Error{Op: op, StatusCode: resp.StatusCode, Kind: KindBadResponse,
				Err: fmt.Errorf("decode response: %w", err)}
		}
	}
	return resp.Header, nil
}

// transportError classifies a failure where no complete response arrived.
func transportError(ctx context.Context, op string, err error) *Error {
	e := &Error{Op: op, Kind: KindUnreachable, Err: err}
	var netErr net.Error
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		e.Kind = KindCanceled
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		e.Kind = KindTimeout
	}
	return e
}

// statusError builds the error for a non-2xx answer.
func (c *Client) statusError(op string, resp *http.Response, body []byte) *Error {
	e := &Error{
		Op:         op,
		StatusCode: resp.StatusCode,
		Kind:       kindForStatus(resp.StatusCode),
		// Redacted before it is cut short: a token echoed across the cut
		// would otherwise survive in part.
		Detail: errorDetail([]byte(c.redact(string(body)))),
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		e.Detail = "unexpected redirect"
		if loc := resp.Header.Get("Location"); loc != "" {
			e.Detail += " to " + c.redact(loc)
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		e.RetryAt = retryAt(resp.Header, c.now())
	}
	return e
}

// redact removes the token from text that came back from the server, in
// case something on the way echoes request headers.
func (c *Client) redact(s string) string {
	if c.token == "" || !strings.Contains(s, c.token) {
		return s
	}
	return strings.ReplaceAll(s, c.token, "[redacted]")
}

// retryAt reads when a rate-limited request may be retried. Sentry sends
// X-Sentry-Rate-Limit-Reset in epoch seconds and no Retry-After; proxies in
// front of self-hosted Sentry may send Retry-After instead. Zero means the
// server did not say.
func retryAt(h http.Header, now time.Time) time.Time {
	if v := strings.TrimSpace(h.Get("X-Sentry-Rate-Limit-Reset")); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs > 0 {
			whole := int64(secs)
			return time.Unix(whole, int64((secs-float64(whole))*1e9))
		}
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
			return now.Add(time.Duration(secs) * time.Second)
		}
		if t, err := http.ParseTime(v); err == nil {
			return t
		}
	}
	return time.Time{}
}

// errorDetail extracts Sentry's explanation from an error body. Sentry
// answers {"detail": "..."}, {"detail": {"message": "...", "code": ...}},
// {"message": "..."} (410), a bare JSON string (429), or a serializer's
// {"field": ["problem"]}, which nests for nested serializers:
// {"statusDetails": {"inNextRelease": ["problem"]}} reads
// "statusDetails.inNextRelease: problem".
// Anything else (an HTML page from a proxy) yields "".
func errorDetail(body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(body, &s) == nil {
		return clean(s)
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return ""
	}
	// "message" is what the deprecation brownout (410) sends.
	for _, key := range []string{"detail", "message"} {
		raw, ok := obj[key]
		if !ok {
			continue
		}
		if json.Unmarshal(raw, &s) == nil {
			return clean(s)
		}
		var d struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(raw, &d) == nil && d.Message != "" {
			return clean(d.Message)
		}
	}
	return clean(strings.Join(fieldErrors(nil, "", obj), "; "))
}

// fieldErrors appends one "field: problems" entry per field of a
// serializer error object, sorted by field, descending into nested
// serializers. prefix is the path of obj itself ("" at the top).
func fieldErrors(parts []string, prefix string, obj map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		path := prefix
		if k != "non_field_errors" && k != "detail" {
			path = strings.TrimPrefix(prefix+"."+k, ".")
		}
		if msgs := messages(obj[k]); len(msgs) > 0 {
			text := strings.Join(msgs, " ")
			if path != "" {
				text = path + ": " + text
			}
			parts = append(parts, text)
			continue
		}
		var nested map[string]json.RawMessage
		if json.Unmarshal(obj[k], &nested) == nil {
			parts = fieldErrors(parts, path, nested)
		}
	}
	return parts
}

// messages reads a serializer error value: a string or a list of strings.
func messages(raw json.RawMessage) []string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list
	}
	return nil
}

// clean collapses whitespace and shortens s for display.
func clean(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= maxDetailRunes {
		return s
	}
	r := []rune(s)
	return string(r[:maxDetailRunes]) + "…"
}
