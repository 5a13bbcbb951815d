package sentry

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// TokenSource gives the bearer token of a call made at the moment it is
// asked, for tokens that change while the client lives (a Sentry App
// installation's token, renewed every few hours). An empty token and a nil
// error mean "send the client's own token".
type TokenSource func(ctx context.Context) (string, error)

// tokenSource is a source and the token it stands in for. A copy of the
// client made by WithToken carries the source along but sends another
// token; the source applies only while the client's token is still over.
type tokenSource struct {
	fn   TokenSource
	over string
}

// WithTokenSource returns a copy of c that asks src for the token of every
// call, and sends its own token when src has none. It shares c's breaker.
// Copies made of it by WithToken send the token they were given, not src's.
// A nil src gives a copy without a source.
func (c *Client) WithTokenSource(src TokenSource) *Client {
	cp := *c
	cp.source = nil
	if src != nil {
		cp.source = &tokenSource{fn: src, over: c.token}
	}
	return &cp
}

// sourced returns the client to make one call with: c itself, or a copy of
// it that carries the source's current token, so that the breaker, the
// Authorization header and redaction all see that token. A failing source
// fails the call without a request; the error never holds a token.
func (c *Client) sourced(ctx context.Context, op string) (*Client, error) {
	if c.source == nil || c.source.over != c.token {
		return c, nil
	}
	tok, err := c.source.fn(ctx)
	if err != nil {
		kind := KindUnauthorized
		switch {
		case errors.Is(ctx.Err(), context.Canceled):
			kind = KindCanceled
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			kind = KindTimeout
		}
		return nil, &Error{Op: op, Kind: kind, Err: fmt.Errorf("getting the token: %w", err)}
	}
	if tok == "" {
		return c, nil
	}
	if strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, &Error{Op: op, Kind: KindUnauthorized,
			Err: errors.New("getting the token: the token source gave a token with whitespace or control characters")}
	}
	cp := *c
	cp.token = tok
	cp.source = nil
	return &cp, nil
}
