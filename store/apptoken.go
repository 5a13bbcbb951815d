package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AppInstall is the installation of sentrybot's Sentry public integration
// and its tokens, sealed by the caller. There is at most one.
type AppInstall struct {
	UUID          string // Sentry's id of the installation
	Org           string // slug of the organization it is installed in
	TokenSealed   []byte
	RefreshSealed []byte
	ExpiresAt     time.Time // when the token runs out
	CreatedAt     time.Time // when the installation's code was exchanged
	UpdatedAt     time.Time // when the tokens were last written
}

// SaveAppInstall stores a new installation and its first tokens, replacing
// whatever installation was stored. in.UpdatedAt is when it happened; it
// becomes CreatedAt too.
func (db *DB) SaveAppInstall(ctx context.Context, in AppInstall) error {
	op := fmt.Sprintf("store: save app installation %s", in.UUID)
	if err := checkAppInstall(in); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if _, err := db.exec(ctx,
		`INSERT INTO app_installation (slot, uuid, org, token_sealed, refresh_sealed, expires_at, created_at, updated_at)
		 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?6)
		 ON CONFLICT (slot) DO UPDATE SET
			uuid = excluded.uuid, org = excluded.org, token_sealed = excluded.token_sealed,
			refresh_sealed = excluded.refresh_sealed, expires_at = excluded.expires_at,
			created_at = excluded.created_at, updated_at = excluded.updated_at`,
		in.UUID, in.Org, in.TokenSealed, in.RefreshSealed, in.ExpiresAt.UnixMilli(), in.UpdatedAt.UnixMilli()); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// ReplaceAppInstallTokens stores refreshed tokens, but only while the
// stored installation is still in.UUID with the refresh token prevRefresh,
// so that a refresh racing with an uninstall or a new installation cannot
// overwrite or bring back anything. It reports whether it wrote. Org and
// CreatedAt are kept.
func (db *DB) ReplaceAppInstallTokens(ctx context.Context, in AppInstall, prevRefresh []byte) (bool, error) {
	op := fmt.Sprintf("store: replace app installation tokens %s", in.UUID)
	if err := checkAppTokens(in); err != nil {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	return db.execOne(ctx, op,
		`UPDATE app_installation SET token_sealed = ?, refresh_sealed = ?, expires_at = ?, updated_at = ?
		 WHERE slot = 1 AND uuid = ? AND refresh_sealed = ?`,
		in.TokenSealed, in.RefreshSealed, in.ExpiresAt.UnixMilli(), in.UpdatedAt.UnixMilli(), in.UUID, prevRefresh)
}

// AppInstall returns the stored installation, or an error wrapping
// ErrNotFound when there is none.
func (db *DB) AppInstall(ctx context.Context) (AppInstall, error) {
	var in AppInstall
	var expires, created, updated int64
	err := db.queryRow(ctx,
		`SELECT uuid, org, token_sealed, refresh_sealed, expires_at, created_at, updated_at
		 FROM app_installation WHERE slot = 1`).
		Scan(&in.UUID, &in.Org, &in.TokenSealed, &in.RefreshSealed, &expires, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return AppInstall{}, fmt.Errorf("store: app installation: %w", err)
	}
	in.ExpiresAt = time.UnixMilli(expires).UTC()
	in.CreatedAt = time.UnixMilli(created).UTC()
	in.UpdatedAt = time.UnixMilli(updated).UTC()
	return in, nil
}

// DeleteAppInstall deletes the installation uuid and its tokens, and
// reports whether it was the one stored.
func (db *DB) DeleteAppInstall(ctx context.Context, uuid string) (bool, error) {
	return db.execOne(ctx, fmt.Sprintf("store: delete app installation %s", uuid),
		`DELETE FROM app_installation WHERE slot = 1 AND uuid = ?`, uuid)
}

func checkAppInstall(in AppInstall) error {
	if in.Org == "" {
		return errors.New("organization is required")
	}
	return checkAppTokens(in)
}

func checkAppTokens(in AppInstall) error {
	switch {
	case in.UUID == "":
		return errors.New("installation uuid is required")
	case len(in.TokenSealed) == 0 || len(in.RefreshSealed) == 0:
		return errors.New("both sealed tokens are required")
	}
	return nil
}
