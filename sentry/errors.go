package sentry

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Kind classifies a failed call so callers can decide what to tell the user
// and whether to retry, without looking at status codes.
type Kind int

// Kinds of failure. The zero value is never used for an *Error.
const (
	KindUnauthorized Kind = iota + 1 // 401: token missing, invalid or revoked
	KindForbidden                    // 403: token lacks a scope or the org is out of reach
	KindNotFound                     // 404
	KindGone                         // 410: a deprecated endpoint in a brownout
	KindRateLimited                  // 429
	KindServer                       // 5xx
	KindTimeout                      // deadline exceeded or network timeout
	KindUnreachable                  // connection refused, DNS, TLS and other transport failures
	KindBadResponse                  // an answer that is not the JSON we expect
	KindInvalid                      // 400 and other 4xx: Sentry rejected the request; Detail says why
	KindCanceled                     // the caller's context was canceled
)

func (k Kind) String() string {
	switch k {
	case KindUnauthorized:
		return "unauthorized"
	case KindForbidden:
		return "forbidden"
	case KindNotFound:
		return "not found"
	case KindGone:
		return "gone"
	case KindRateLimited:
		return "rate limited"
	case KindServer:
		return "server error"
	case KindTimeout:
		return "timeout"
	case KindUnreachable:
		return "unreachable"
	case KindBadResponse:
		return "bad response"
	case KindInvalid:
		return "invalid request"
	case KindCanceled:
		return "canceled"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Sentinel errors, one per Kind, for errors.Is(err, sentry.ErrNotFound).
var (
	ErrUnauthorized = errors.New("sentry: unauthorized")
	ErrForbidden    = errors.New("sentry: forbidden")
	ErrNotFound     = errors.New("sentry: not found")
	ErrGone         = errors.New("sentry: gone")
	ErrRateLimited  = errors.New("sentry: rate limited")
	ErrServer       = errors.New("sentry: server error")
	ErrTimeout      = errors.New("sentry: timeout")
	ErrUnreachable  = errors.New("sentry: unreachable")
	ErrBadResponse  = errors.New("sentry: bad response")
	ErrInvalid      = errors.New("sentry: invalid request")
	ErrCanceled     = errors.New("sentry: canceled")
)

// sentinel is the package error that errors.Is matches for k.
func (k Kind) sentinel() error {
	switch k {
	case KindUnauthorized:
		return ErrUnauthorized
	case KindForbidden:
		return ErrForbidden
	case KindNotFound:
		return ErrNotFound
	case KindGone:
		return ErrGone
	case KindRateLimited:
		return ErrRateLimited
	case KindServer:
		return ErrServer
	case KindTimeout:
		return ErrTimeout
	case KindUnreachable:
		return ErrUnreachable
	case KindBadResponse:
		return ErrBadResponse
	case KindInvalid:
		return ErrInvalid
	case KindCanceled:
		return ErrCanceled
	}
	return nil
}

// Error is every error the client returns. It never carries the token.
type Error struct {
	Op         string    // what was being done, e.g. "get issue"
	StatusCode int       // HTTP status; 0 when no response arrived
	Kind       Kind      // classification of the failure
	RetryAt    time.Time // when a 429 (or 503) may be retried, or when the circuit breaker lets a call through again; zero if unknown
	Detail     string    // Sentry's own explanation, if the body had one
	Err        error     // underlying cause, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("sentry: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	b.WriteString(e.Kind.String())
	if e.StatusCode != 0 {
		b.WriteString(" (")
		b.WriteString(strconv.Itoa(e.StatusCode))
		b.WriteString(")")
	}
	if !e.RetryAt.IsZero() {
		b.WriteString(", retry at ")
		b.WriteString(e.RetryAt.UTC().Format(time.RFC3339))
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNotFound) and friends match on Kind.
func (e *Error) Is(target error) bool {
	sentinel := e.Kind.sentinel()
	return sentinel != nil && target == sentinel
}

// kindForStatus maps an HTTP status that is not a success to a Kind.
func kindForStatus(status int) Kind {
	switch {
	case status == 401:
		return KindUnauthorized
	case status == 403:
		return KindForbidden
	case status == 404:
		return KindNotFound
	case status == 410:
		return KindGone
	case status == 429:
		return KindRateLimited
	case status >= 500:
		return KindServer
	case status >= 400:
		return KindInvalid
	}
	// 1xx and 3xx that reached us: redirects we refused to follow.
	return KindBadResponse
}
