package sentry

import (
	"errors"
	"strings"
)

// WithToken returns a copy of c that sends token instead of c's own: same
// base URL, HTTP client, user agent, clock and observe hook. It is how
// sentrybot acts as a user who linked their Sentry login. The token is
// checked as New checks one.
func (c *Client) WithToken(token string) (*Client, error) {
	if strings.TrimSpace(token) == "" {
		return nil, errors.New("sentry: token is empty")
	}
	if strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, errors.New("sentry: token contains whitespace or control characters")
	}
	// Copying the struct carries every field over, including ones added
	// later; only the token differs.
	cp := *c
	cp.token = token
	return &cp, nil
}
