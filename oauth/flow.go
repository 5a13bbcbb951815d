package oauth

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/rs/zerolog"

	"sentrybot/authz"
	"sentrybot/sentry"
	"sentrybot/store"
)

// Routes returns the browser-facing endpoints, keyed by http.ServeMux
// pattern, for web.Options.Extra.
func (s *Service) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /oauth/start":    http.HandlerFunc(s.start),
		"GET /oauth/callback": http.HandlerFunc(s.callback),
	}
}

// redirectURI is where Sentry sends the browser back.
func (s *Service) redirectURI() string { return s.publicURL + "/oauth/callback" }

// start takes the grant and sends the browser to Sentry's consent page.
func (s *Service) start(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		// Link checkers probe with HEAD; only a real visit takes the grant.
		noStore(w)
		w.WriteHeader(http.StatusOK)
		return
	}
	grant := r.URL.Query().Get("grant")
	if !wellFormed(grant) {
		s.log.Info().Msg("sign-in start with a malformed grant")
		page(w, http.StatusBadRequest, pageInvalid)
		return
	}
	state, err := randomValue()
	var verifier string
	if err == nil {
		verifier, err = randomValue()
	}
	if err != nil {
		s.log.Error().Err(err).Msg("sign-in start")
		page(w, http.StatusInternalServerError, pageInternal)
		return
	}
	s.startWith(w, r, grant, state, verifier)
}

func (s *Service) startWith(w http.ResponseWriter, r *http.Request, grant, state, verifier string) {
	ctx := r.Context()
	grantHash := hashOf(grant)
	sealed, err := s.box.Seal([]byte(verifier), verifierAAD(grantHash))
	if err != nil {
		s.log.Error().Err(err).Msg("sign-in start: sealing the PKCE verifier")
		page(w, http.StatusInternalServerError, pageInternal)
		return
	}
	now := s.cfg.Now().UTC()
	g, err := s.db.StartOAuthGrant(ctx, grantHash, hashOf(state), sealed, now, now.Add(s.cfg.GrantTTL))
	if err != nil {
		s.grantError(w, "sign-in start", err)
		return
	}
	s.log.Info().Str("team", g.TeamID).Str("user", g.UserID).Msg("sign-in started; sending the browser to Sentry")

	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {s.cfg.ClientID},
		"redirect_uri":          {s.redirectURI()},
		"scope":                 {Scopes},
		"state":                 {state},
		"code_challenge":        {challengeOf(verifier)},
		"code_challenge_method": {"S256"},
	}
	noStore(w)
	// The grant is in this page's address; Sentry must not see it.
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, s.sentryURL+"/oauth/authorize/?"+q.Encode(), http.StatusFound)
}

// callback takes the state back, exchanges the code and links the user.
func (s *Service) callback(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		noStore(w)
		w.WriteHeader(http.StatusOK)
		return
	}
	ctx := r.Context()
	q := r.URL.Query()
	state := q.Get("state")
	if !wellFormed(state) {
		s.log.Info().Msg("sign-in callback with a malformed state")
		page(w, http.StatusBadRequest, pageInvalid)
		return
	}
	g, sealedVerifier, err := s.db.FinishOAuthGrant(ctx, hashOf(state), s.cfg.Now().UTC())
	if err != nil {
		s.grantError(w, "sign-in callback", err)
		return
	}
	log := s.log.With().Str("team", g.TeamID).Str("user", g.UserID).Logger()

	if e := q.Get("error"); e != "" {
		log.Info().Str("error", errorCode(e)).Msg("Sentry sent the browser back without a code")
		page(w, http.StatusBadRequest, pageDenied)
		return
	}
	code := q.Get("code")
	if code == "" {
		log.Info().Msg("sign-in callback without a code")
		page(w, http.StatusBadRequest, pageInvalid)
		return
	}
	verifier, err := s.box.Open(sealedVerifier, verifierAAD(g.Hash))
	if err != nil {
		log.Error().Err(err).Msg("sign-in callback: opening the PKCE verifier")
		page(w, http.StatusInternalServerError, pageInternal)
		return
	}

	tok, err := s.tokenRequest(ctx, url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {s.redirectURI()},
		"code_verifier": {string(verifier)},
	})
	if err == nil && (tok.RefreshToken == "" || tok.User.ID == "") {
		err = errors.New("token request: the answer has no refresh_token or no user")
	}
	if err != nil {
		status, msg := http.StatusBadGateway, pageSentryFailed
		if errors.Is(err, errInvalidGrant) {
			status, msg = http.StatusBadRequest, pageCodeRefused
		}
		log.Warn().Err(err).Msg("sign-in callback: exchanging the code")
		page(w, status, msg)
		return
	}
	log = log.With().Str("sentry_user", tok.User.ID).Logger()

	m, err := s.member(ctx, tok)
	if err != nil {
		log.Error().Err(err).Msg("sign-in callback: checking organization membership")
		page(w, http.StatusBadGateway, pageSentryFailed)
		return
	}
	if m == nil {
		log.Warn().Str("org", s.cfg.Org).Msg("sign-in refused: the Sentry user is not a member of the organization")
		page(w, http.StatusForbidden, fmt.Sprintf("Your Sentry account is not a member of the organization %s, so sentrybot cannot act as you there. Nothing was linked.", s.cfg.Org))
		return
	}

	if err := s.link(ctx, log, g, tok, m); err != nil {
		if errors.Is(err, store.ErrMemberLinked) {
			log.Warn().Err(err).Msg("sign-in refused: the Sentry member is linked to another Slack user")
			page(w, http.StatusConflict, pageMemberTaken)
			return
		}
		log.Error().Err(err).Msg("sign-in callback: linking")
		page(w, http.StatusInternalServerError, pageInternal)
		return
	}
	who := tok.User.Email
	if who == "" {
		who = tok.User.Name
	}
	page(w, http.StatusOK, fmt.Sprintf("Linked: in Sentry, sentrybot now acts as you (%s) for your changes. You can close this tab and go back to Slack.", who))
}

// member returns the accepted membership of the token's user in the
// organization, or nil when there is none.
func (s *Service) member(ctx context.Context, tok *tokenResponse) (*sentry.Member, error) {
	query := ""
	if tok.User.Email != "" {
		query = "email:" + tok.User.Email
	}
	list, err := s.members.Members(ctx, s.cfg.Org, query)
	if err != nil {
		return nil, fmt.Errorf("listing members of %s: %w", s.cfg.Org, err)
	}
	for i := range list {
		m := &list[i]
		if m.User != nil && m.User.ID == tok.User.ID && !m.Pending && !m.Expired {
			return m, nil
		}
	}
	return nil, nil
}

// link links the identity, then stores the tokens. Linking goes first
// because it is what a user most often cannot do (the member is linked to
// someone else), and then nothing of theirs has been replaced.
func (s *Service) link(ctx context.Context, log zerolog.Logger, g store.OAuthGrant, tok *tokenResponse, m *sentry.Member) error {
	email := m.Email
	if email == "" {
		email = tok.User.Email
	}
	subj := authz.Subject{TeamID: g.TeamID, UserID: g.UserID, ChannelID: g.ChannelID}
	if err := s.linker.Link(ctx, subj, store.Identity{
		TeamID: g.TeamID, SlackUserID: g.UserID,
		MemberID: m.ID, SentryUserID: tok.User.ID, Email: email, OrgRole: m.Role,
		Method: IdentityMethod, LinkedBy: g.UserID,
	}); err != nil {
		return fmt.Errorf("linking %s/%s to member %s: %w", g.TeamID, g.UserID, m.ID, err)
	}
	row, err := s.sealTokens(g.TeamID, g.UserID, tok.User.ID, tok)
	if err == nil {
		err = s.db.SaveOAuthToken(ctx, row)
	}
	if err != nil {
		// Tokens of an earlier sign-in, perhaps as another Sentry user,
		// must not stay next to the new link.
		if _, derr := s.db.DeleteOAuth(ctx, g.TeamID, g.UserID); derr != nil {
			log.Error().Err(derr).Msg("could not delete earlier Sentry login tokens after failing to store new ones")
		}
		return err
	}
	log.Info().Str("member", m.ID).Time("expires_at", row.ExpiresAt).Msg("Sentry login linked")
	if s.notify != nil {
		text := fmt.Sprintf("You're linked with your Sentry login (%s): changes you make through sentrybot are now made as you in Sentry.", email)
		if err := s.notify.Notify(ctx, g.TeamID, g.UserID, text); err != nil {
			log.Error().Err(err).Msg("could not tell the user their Sentry login is linked")
		}
	}
	return nil
}

// grantError answers a grant or state that could not be taken.
func (s *Service) grantError(w http.ResponseWriter, what string, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.log.Info().Msg(what + ": unknown grant or state")
		page(w, http.StatusBadRequest, pageInvalid)
	case errors.Is(err, store.ErrGrantUsed):
		s.log.Info().Msg(what + ": grant or state already used")
		page(w, http.StatusGone, pageUsed)
	case errors.Is(err, store.ErrGrantExpired):
		s.log.Info().Msg(what + ": grant or state expired")
		page(w, http.StatusGone, pageExpired)
	default:
		s.log.Error().Err(err).Msg(what)
		page(w, http.StatusInternalServerError, pageInternal)
	}
}

// Texts of the pages the browser is shown.
const (
	again            = " Run /sentry link in Slack for a new link."
	pageInvalid      = "This sign-in link is not valid." + again
	pageUsed         = "This sign-in link was already used." + again
	pageExpired      = "This sign-in link has expired." + again
	pageDenied       = "Sentry did not authorize sentrybot, so nothing was linked." + again
	pageCodeRefused  = "Sentry did not accept the sign-in, so nothing was linked." + again
	pageSentryFailed = "sentrybot could not complete the sign-in with Sentry just now, so nothing was linked." + again
	pageMemberTaken  = "Your Sentry account is already linked to another Slack user of this workspace. Nothing was changed; that link must be removed first (/sentry unlink)."
	pageInternal     = "Something went wrong on sentrybot's side, so nothing was linked." + again
)

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>sentrybot: {{.Title}}</title></head>
<body><h1>{{.Title}}</h1><p>{{.Text}}</p></body></html>
`))

// page answers a short HTML page: a title from the status and one
// paragraph.
func page(w http.ResponseWriter, status int, text string) {
	title := "Sign-in failed"
	if status == http.StatusOK {
		title = "Signed in"
	}
	var b strings.Builder
	if err := pageTemplate.Execute(&b, struct{ Title, Text string }{title, text}); err != nil {
		// The template is fixed and its data are strings; this cannot happen.
		b.Reset()
		b.WriteString(template.HTMLEscapeString(text))
	}
	noStore(w)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
}
