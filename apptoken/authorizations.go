package apptoken

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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

// maxAnswer caps how much of an answer of the authorizations endpoint is
// read.
const maxAnswer = 1 << 20

// tokenLife is how long Sentry says an installation token lasts; it is
// assumed when an answer names no expiry.
const tokenLife = 8 * time.Hour

// jwtBearerGrant is the grant type of Sentry's manual refresh, for when a
// refresh was done at Sentry but its answer was lost on the way back.
const jwtBearerGrant = "urn:sentry:params:oauth:grant-type:jwt-bearer"

// errRefused is wrapped by an AuthorizationError whose status says Sentry
// will not do what was asked (as opposed to could not, now).
var errRefused = errors.New("refused")

// AuthorizationError is an error answer of the authorizations endpoint.
type AuthorizationError struct {
	Status int    // HTTP status
	Detail string // Sentry's explanation, with anything that was sent removed; may be ""
}

func (e *AuthorizationError) Error() string {
	s := fmt.Sprintf("the authorizations endpoint answered %d", e.Status)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap lets errors.Is find errRefused: the client, the code, the refresh
// token or the installation was refused (400, 401, 403, 404). Other
// answers (429, 5xx, a gateway's page) may go another way next time.
func (e *AuthorizationError) Unwrap() error {
	switch e.Status {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return errRefused
	}
	return nil
}

// answer is a successful answer of the authorizations endpoint (Sentry's
// ApiTokenSerializer).
type answer struct {
	Token        string   `json:"token"`
	RefreshToken string   `json:"refreshToken"`
	ExpiresAt    *string  `json:"expiresAt"`
	Scopes       []string `json:"scopes"`
}

// expiry is when the token runs out: expiresAt when it parses, otherwise
// the documented eight hours from now.
func (a *answer) expiry(now time.Time) time.Time {
	if a.ExpiresAt != nil {
		if t, err := time.Parse(time.RFC3339Nano, *a.ExpiresAt); err == nil {
			return t.UTC()
		}
	}
	return now.Add(tokenLife)
}

// exchangeCode trades an installation's grant code for its first tokens.
func (m *Manager) exchangeCode(ctx context.Context, uuid, code string) (*answer, error) {
	return m.authorize(ctx, uuid, map[string]string{
		"grant_type": "authorization_code", "code": code,
		"client_id": m.cfg.ClientID, "client_secret": m.cfg.ClientSecret,
	}, "", code)
}

// refreshTokens trades a refresh token for a new pair; Sentry deletes the
// old one.
func (m *Manager) refreshTokens(ctx context.Context, uuid, refresh string) (*answer, error) {
	return m.authorize(ctx, uuid, map[string]string{
		"grant_type": "refresh_token", "refresh_token": refresh,
		"client_id": m.cfg.ClientID, "client_secret": m.cfg.ClientSecret,
	}, "", refresh)
}

// manualRefresh asks for a new pair with a JWT signed with the client
// secret instead of a refresh token: Sentry's way back when a refresh was
// carried out but its answer never arrived.
func (m *Manager) manualRefresh(ctx context.Context, uuid string) (*answer, error) {
	jwt, err := m.signJWT()
	if err != nil {
		return nil, err
	}
	return m.authorize(ctx, uuid, map[string]string{"grant_type": jwtBearerGrant}, jwt, jwt)
}

// authorize posts body to the installation's authorizations endpoint, with
// a bearer JWT when jwt is not "". secret is the one-time value sent (the
// code, the refresh token or the JWT): it and the client secret are
// removed from any text that comes back. Error answers are
// *AuthorizationError; a success without both tokens is an error too.
func (m *Manager) authorize(ctx context.Context, uuid string, body map[string]string, jwt, secret string) (*answer, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encoding the request: %w", err)
	}
	target := m.sentryURL + "/api/0/sentry-app-installations/" + url.PathEscape(uuid) + "/authorizations/"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("authorizations request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", m.cfg.UserAgent)
	if jwt != "" {
		req.Header.Set("Authorization", "Bearer "+jwt)
	}

	resp, err := m.http.Do(req)
	if err != nil {
		// The *url.Error names the URL, which holds only the uuid: the
		// secrets are in the body.
		return nil, fmt.Errorf("authorizations request: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("authorizations request: reading the answer: %w", err)
	}
	if len(data) > maxAnswer {
		return nil, fmt.Errorf("authorizations request: answer larger than %d bytes", maxAnswer)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return nil, &AuthorizationError{Status: resp.StatusCode, Detail: detail(data, m.cfg.ClientSecret, secret)}
	}
	var a answer
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("authorizations request: decoding the answer: %w", err)
	}
	if a.Token == "" || a.RefreshToken == "" {
		return nil, errors.New("authorizations request: the answer lacks token or refreshToken")
	}
	if !wellFormed(a.Token) || !wellFormed(a.RefreshToken) {
		return nil, errors.New("authorizations request: the answer's tokens hold whitespace or control characters")
	}
	return &a, nil
}

// detail reads Sentry's {"detail": "..."} and keeps it fit for a log line:
// short, one line, and without any of secrets, in case something on the
// way echoed the request.
func detail(body []byte, secrets ...string) string {
	var d struct {
		Detail string `json:"detail"`
	}
	if json.Unmarshal(body, &d) != nil {
		return ""
	}
	s := strings.Join(strings.Fields(d.Detail), " ")
	for _, secret := range secrets {
		if secret != "" && strings.Contains(s, secret) {
			return "[an answer that echoed the request]"
		}
	}
	if utf8.RuneCountInString(s) > 120 {
		s = string([]rune(s)[:120]) + "…"
	}
	return s
}

// wellFormed reports whether a token can go into an Authorization header.
func wellFormed(tok string) bool {
	return !strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

// signJWT makes the bearer JWT of a manual refresh: HS256 with the client
// secret, issued by and about the client, valid one minute, with a fresh
// id.
func (m *Manager) signJWT() (string, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", fmt.Errorf("making a JWT id: %w", err)
	}
	now := m.cfg.Now().Unix()
	header, _ := json.Marshal(map[string]string{"alg": "HS256", "typ": "JWT"})
	claims, err := json.Marshal(map[string]any{
		"iss": m.cfg.ClientID, "sub": m.cfg.ClientID,
		"iat": now, "exp": now + 60, "jti": hex.EncodeToString(id[:]),
	})
	if err != nil {
		return "", fmt.Errorf("encoding JWT claims: %w", err)
	}
	signing := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(claims)
	mac := hmac.New(sha256.New, []byte(m.cfg.ClientSecret))
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), nil
}
