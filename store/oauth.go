package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrGrantUsed is returned (wrapped) when a sign-in grant or its state was
// already taken.
var ErrGrantUsed = errors.New("store: oauth grant already used")

// ErrGrantExpired is returned (wrapped) when a sign-in grant or its state
// ran out before it was taken.
var ErrGrantExpired = errors.New("store: oauth grant expired")

// OAuthGrant is a sign-in in progress for one Slack user. The store knows
// only the SHA-256 of the grant and state values, never the values.
type OAuthGrant struct {
	Hash                      []byte // SHA-256 of the grant value, 32 bytes
	TeamID, UserID, ChannelID string // who asked; ChannelID may be empty
	CreatedAt, ExpiresAt      time.Time
}

// OAuthToken is a Slack user's pair of Sentry tokens, sealed by the caller.
type OAuthToken struct {
	TeamID, UserID string
	SentryUserID   string // the Sentry user the tokens act as
	AccessSealed   []byte
	RefreshSealed  []byte
	ExpiresAt      time.Time // when the access token runs out
	Scopes         string    // space-separated, as Sentry granted them
	Stale          bool      // a refresh was refused: the user must sign in again
	CreatedAt      time.Time // when the user signed in
	UpdatedAt      time.Time // when the tokens were last written
}

// CreateOAuthGrant records a new grant. g.Hash must be 32 bytes and new.
func (db *DB) CreateOAuthGrant(ctx context.Context, g OAuthGrant) error {
	op := fmt.Sprintf("store: create oauth grant for %s/%s", g.TeamID, g.UserID)
	switch {
	case len(g.Hash) != 32:
		return fmt.Errorf("%s: hash is %d bytes, want 32", op, len(g.Hash))
	case g.TeamID == "" || g.UserID == "":
		return fmt.Errorf("%s: team and user ids are required", op)
	case !g.ExpiresAt.After(g.CreatedAt):
		return fmt.Errorf("%s: expiry %v is not after creation %v", op, g.ExpiresAt, g.CreatedAt)
	}
	if _, err := db.exec(ctx,
		`INSERT INTO oauth_grants (grant_hash, team_id, user_id, channel_id, created_at, expires_at)
		 VALUES (?, ?, ?, ?, ?, ?)`,
		g.Hash, g.TeamID, g.UserID, g.ChannelID, g.CreatedAt.UnixMilli(), g.ExpiresAt.UnixMilli()); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// StartOAuthGrant takes the grant whose hash is grantHash, once and before
// it expires at now: it records stateHash and the sealed PKCE verifier and
// moves the expiry to stateExpires, the time the state has to come back.
// It returns the grant as taken. A single statement decides, so of any
// number of concurrent callers exactly one succeeds; the others get an
// error wrapping ErrGrantUsed. An unknown grant is ErrNotFound, a late one
// ErrGrantExpired.
func (db *DB) StartOAuthGrant(ctx context.Context, grantHash, stateHash, verifierSealed []byte, now, stateExpires time.Time) (OAuthGrant, error) {
	const op = "store: start oauth grant"
	if len(stateHash) != 32 {
		return OAuthGrant{}, fmt.Errorf("%s: state hash is %d bytes, want 32", op, len(stateHash))
	}
	g, err := scanGrant(db.queryRow(ctx,
		`UPDATE oauth_grants SET started_at = ?1, state_hash = ?2, verifier_sealed = ?3, expires_at = ?4
		 WHERE grant_hash = ?5 AND started_at IS NULL AND expires_at > ?1
		 RETURNING `+grantColumns,
		now.UnixMilli(), stateHash, verifierSealed, stateExpires.UnixMilli(), grantHash))
	if errors.Is(err, sql.ErrNoRows) {
		err = db.whyNotTaken(ctx, `SELECT started_at, expires_at FROM oauth_grants WHERE grant_hash = ?`, grantHash, now)
	}
	if err != nil {
		return OAuthGrant{}, fmt.Errorf("%s: %w", op, err)
	}
	return g, nil
}

// FinishOAuthGrant takes the started grant whose state hash is stateHash,
// once and before it expires at now, and returns it with the sealed PKCE
// verifier. Like StartOAuthGrant it is one statement: one caller wins, the
// others get ErrGrantUsed; an unknown state is ErrNotFound, a late one
// ErrGrantExpired.
func (db *DB) FinishOAuthGrant(ctx context.Context, stateHash []byte, now time.Time) (OAuthGrant, []byte, error) {
	const op = "store: finish oauth grant"
	var verifier []byte
	g, err := scanGrant(db.queryRow(ctx,
		`UPDATE oauth_grants SET used_at = ?1
		 WHERE state_hash = ?2 AND used_at IS NULL AND expires_at > ?1
		 RETURNING `+grantColumns+`, verifier_sealed`,
		now.UnixMilli(), stateHash), &verifier)
	if errors.Is(err, sql.ErrNoRows) {
		err = db.whyNotTaken(ctx, `SELECT used_at, expires_at FROM oauth_grants WHERE state_hash = ?`, stateHash, now)
	}
	if err != nil {
		return OAuthGrant{}, nil, fmt.Errorf("%s: %w", op, err)
	}
	return g, verifier, nil
}

// whyNotTaken explains, after the fact, why a grant could not be taken. The
// UPDATE already decided; this read only picks the error.
func (db *DB) whyNotTaken(ctx context.Context, q string, hash []byte, now time.Time) error {
	var taken sql.NullInt64
	var expires int64
	err := db.queryRow(ctx, q, hash).Scan(&taken, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case err != nil:
		return err
	case taken.Valid:
		return ErrGrantUsed
	case expires <= now.UnixMilli():
		return ErrGrantExpired
	}
	// Taken and removed, or un-expired by a clock step, in between.
	return ErrGrantUsed
}

const grantColumns = `grant_hash, team_id, user_id, channel_id, created_at, expires_at`

func scanGrant(r rowScanner, extra ...any) (OAuthGrant, error) {
	var g OAuthGrant
	var created, expires int64
	dest := append([]any{&g.Hash, &g.TeamID, &g.UserID, &g.ChannelID, &created, &expires}, extra...)
	if err := r.Scan(dest...); err != nil {
		return OAuthGrant{}, err
	}
	g.CreatedAt = time.UnixMilli(created).UTC()
	g.ExpiresAt = time.UnixMilli(expires).UTC()
	return g, nil
}

// PurgeOAuthGrants deletes grants that expired before the given time, used
// or not, and returns how many it deleted. Keep recently expired ones for a
// while so that a late visit is told "expired" rather than "unknown".
func (db *DB) PurgeOAuthGrants(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.exec(ctx, `DELETE FROM oauth_grants WHERE expires_at <= ?`, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("store: purge oauth grants: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: purge oauth grants: rows affected: %w", err)
	}
	return n, nil
}

// SaveOAuthToken stores the tokens of a fresh sign-in, replacing whatever
// the user had (a stale pair included). t.UpdatedAt is when it happened;
// it becomes CreatedAt too.
func (db *DB) SaveOAuthToken(ctx context.Context, t OAuthToken) error {
	op := fmt.Sprintf("store: save oauth token %s/%s", t.TeamID, t.UserID)
	if err := checkToken(t); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if _, err := db.exec(ctx,
		`INSERT INTO oauth_tokens (team_id, user_id, sentry_user_id, access_sealed, refresh_sealed, expires_at, scopes, stale, created_at, updated_at)
		 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?8)
		 ON CONFLICT (team_id, user_id) DO UPDATE SET
			sentry_user_id = excluded.sentry_user_id, access_sealed = excluded.access_sealed,
			refresh_sealed = excluded.refresh_sealed, expires_at = excluded.expires_at,
			scopes = excluded.scopes, stale = 0, created_at = excluded.created_at,
			updated_at = excluded.updated_at`,
		t.TeamID, t.UserID, t.SentryUserID, t.AccessSealed, t.RefreshSealed,
		t.ExpiresAt.UnixMilli(), t.Scopes, t.UpdatedAt.UnixMilli()); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// ReplaceOAuthToken stores refreshed tokens, but only while the stored
// refresh token is still prevRefresh and the pair is not stale, so that a
// refresh racing with a new sign-in or with DeleteOAuth cannot overwrite
// or bring back anything. It reports whether it wrote. CreatedAt is kept.
func (db *DB) ReplaceOAuthToken(ctx context.Context, t OAuthToken, prevRefresh []byte) (bool, error) {
	op := fmt.Sprintf("store: replace oauth token %s/%s", t.TeamID, t.UserID)
	if err := checkToken(t); err != nil {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	return db.execOne(ctx, op,
		`UPDATE oauth_tokens SET sentry_user_id = ?, access_sealed = ?, refresh_sealed = ?,
			expires_at = ?, scopes = ?, updated_at = ?
		 WHERE team_id = ? AND user_id = ? AND refresh_sealed = ? AND stale = 0`,
		t.SentryUserID, t.AccessSealed, t.RefreshSealed, t.ExpiresAt.UnixMilli(), t.Scopes,
		t.UpdatedAt.UnixMilli(), t.TeamID, t.UserID, prevRefresh)
}

// MarkOAuthTokenStale marks the user's tokens stale, if the stored refresh
// token is still prevRefresh and they were not stale already. It reports
// whether it changed the row, so that the user is told once.
func (db *DB) MarkOAuthTokenStale(ctx context.Context, teamID, userID string, prevRefresh []byte, now time.Time) (bool, error) {
	return db.execOne(ctx, fmt.Sprintf("store: mark oauth token stale %s/%s", teamID, userID),
		`UPDATE oauth_tokens SET stale = 1, updated_at = ?
		 WHERE team_id = ? AND user_id = ? AND refresh_sealed = ? AND stale = 0`,
		now.UnixMilli(), teamID, userID, prevRefresh)
}

// OAuthToken returns the user's tokens, or an error wrapping ErrNotFound.
func (db *DB) OAuthToken(ctx context.Context, teamID, userID string) (OAuthToken, error) {
	t := OAuthToken{TeamID: teamID, UserID: userID}
	var expires, created, updated int64
	err := db.queryRow(ctx,
		`SELECT sentry_user_id, access_sealed, refresh_sealed, expires_at, scopes, stale, created_at, updated_at
		 FROM oauth_tokens WHERE team_id = ? AND user_id = ?`, teamID, userID).
		Scan(&t.SentryUserID, &t.AccessSealed, &t.RefreshSealed, &expires, &t.Scopes, &t.Stale, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return OAuthToken{}, fmt.Errorf("store: oauth token %s/%s: %w", teamID, userID, err)
	}
	t.ExpiresAt = time.UnixMilli(expires).UTC()
	t.CreatedAt = time.UnixMilli(created).UTC()
	t.UpdatedAt = time.UnixMilli(updated).UTC()
	return t, nil
}

// DeleteOAuth deletes the user's tokens and their grants in progress, and
// reports whether there were tokens.
func (db *DB) DeleteOAuth(ctx context.Context, teamID, userID string) (bool, error) {
	op := fmt.Sprintf("store: delete oauth %s/%s", teamID, userID)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx,
		`DELETE FROM oauth_grants WHERE team_id = ? AND user_id = ?`, teamID, userID); err != nil {
		return false, fmt.Errorf("%s: grants: %w", op, err)
	}
	res, err := tx.ExecContext(ctx,
		`DELETE FROM oauth_tokens WHERE team_id = ? AND user_id = ?`, teamID, userID)
	if err != nil {
		return false, fmt.Errorf("%s: tokens: %w", op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("%s: rows affected: %w", op, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("%s: commit: %w", op, err)
	}
	return n > 0, nil
}

func checkToken(t OAuthToken) error {
	switch {
	case t.TeamID == "" || t.UserID == "":
		return errors.New("team and user ids are required")
	case t.SentryUserID == "":
		return errors.New("sentry user id is required")
	case len(t.AccessSealed) == 0 || len(t.RefreshSealed) == 0:
		return errors.New("both sealed tokens are required")
	}
	return nil
}

// execOne runs a statement meant to change at most one row and reports
// whether it changed one.
func (db *DB) execOne(ctx context.Context, op, q string, args ...any) (bool, error) {
	res, err := db.exec(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("%s: rows affected: %w", op, err)
	}
	return n == 1, nil
}
