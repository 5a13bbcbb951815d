package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// maxTokenBody caps how much of a token endpoint answer is read.
const maxTokenBody = 1 << 20

// errInvalidGrant is wrapped by a TokenError whose code is invalid_grant:
// the code, verifier or refresh token was refused.
var errInvalidGrant = errors.New("invalid_grant")

// TokenError is an error answer of Sentry's token endpoint. It holds the
// OAuth error code only: the description may echo what was sent.
type TokenError struct {
	Status int    // HTTP status
	Code   string // OAuth error code ("invalid_grant", "invalid_client", …), or "" when the body had none
}

func (e *TokenError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("token endpoint answered %d", e.Status)
	}
	return fmt.Sprintf("token endpoint answered %d %s", e.Status, e.Code)
}

// Unwrap lets errors.Is find errInvalidGrant.
func (e *TokenError) Unwrap() error {
	if e.Code == "invalid_grant" && (e.Status == http.StatusBadRequest || e.Status == http.StatusUnauthorized) {
		return errInvalidGrant
	}
	return nil
}

// tokenResponse is a successful answer of POST /oauth/token/.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	ExpiresAt    string `json:"expires_at"`
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope"`
	User         struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"user"`
}

// expiry is when the access token runs out: expires_at when Sentry sent
// one that parses, otherwise now plus expires_in.
func (r *tokenResponse) expiry(now time.Time) time.Time {
	if r.ExpiresAt != "" {
		if t, err := time.Parse(time.RFC3339Nano, r.ExpiresAt); err == nil {
			return t.UTC()
		}
	}
	return now.Add(time.Duration(r.ExpiresIn) * time.Second)
}

// tokenRequest posts form (plus the client's credentials) to Sentry's token
// endpoint. Error answers are *TokenError; a 200 that lacks the tokens or
// an expiry is an error too.
func (s *Service) tokenRequest(ctx context.Context, form url.Values) (*tokenResponse, error) {
	form.Set("client_id", s.cfg.ClientID)
	form.Set("client_secret", s.cfg.ClientSecret)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.sentryURL+"/oauth/token/", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "sentrybot")

	resp, err := s.http.Do(req)
	if err != nil {
		// The *url.Error names the URL, which carries nothing secret: the
		// form is in the body.
		return nil, fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody+1))
	if err != nil {
		return nil, fmt.Errorf("token request: reading the answer: %w", err)
	}
	if len(body) > maxTokenBody {
		return nil, fmt.Errorf("token request: answer larger than %d bytes", maxTokenBody)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &e) // a proxy's HTML page leaves Code empty
		return nil, &TokenError{Status: resp.StatusCode, Code: errorCode(e.Error)}
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, fmt.Errorf("token request: decoding the answer: %w", err)
	}
	switch {
	case tr.AccessToken == "":
		return nil, errors.New("token request: the answer has no access_token")
	case tr.ExpiresAt == "" && tr.ExpiresIn <= 0:
		return nil, errors.New("token request: the answer has neither expires_at nor expires_in")
	case tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer"):
		return nil, fmt.Errorf("token request: token type %q is not bearer", errorCode(tr.TokenType))
	}
	return &tr, nil
}

// errorCode keeps an error code fit for a log line: OAuth codes are short
// ASCII words; anything else is cut and stripped.
func errorCode(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
	if utf8.RuneCountInString(s) > 40 {
		s = s[:40]
	}
	return s
}
