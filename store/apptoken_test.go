package store

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func appInstall(uuid, org, token, refresh string, at time.Time) AppInstall {
	return AppInstall{UUID: uuid, Org: org, TokenSealed: []byte(token), RefreshSealed: []byte(refresh),
		ExpiresAt: at.Add(8 * time.Hour), UpdatedAt: at}
}

func TestAppInstall(t *testing.T) {
	ctx := context.Background()

	t.Run("ErrNotFound", func(t *testing.T) {
		db := MustOpenDB(t)
		if _, err := db.AppInstall(ctx); !errors.Is(err, ErrNotFound) {
			t.Fatalf("AppInstall on an empty store: %v, want ErrNotFound", err)
		}
	})

	t.Run("SaveAndRead", func(t *testing.T) {
		db := MustOpenDB(t)
		if err := db.SaveAppInstall(ctx, appInstall("u-1", "acme", "tok", "ref", t0)); err != nil {
			t.Fatal(err)
		}
		got, err := db.AppInstall(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got.UUID != "u-1" || got.Org != "acme" || string(got.TokenSealed) != "tok" || string(got.RefreshSealed) != "ref" {
			t.Errorf("read back %+v", got)
		}
		if !got.ExpiresAt.Equal(t0.Add(8*time.Hour)) || !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0) {
			t.Errorf("times: expires %v created %v updated %v", got.ExpiresAt, got.CreatedAt, got.UpdatedAt)
		}
	})

	t.Run("NewInstallationReplacesTheLast", func(t *testing.T) {
		db := MustOpenDB(t)
		if err := db.SaveAppInstall(ctx, appInstall("u-1", "acme", "tok1", "ref1", t0)); err != nil {
			t.Fatal(err)
		}
		later := t0.Add(time.Hour)
		if err := db.SaveAppInstall(ctx, appInstall("u-2", "acme", "tok2", "ref2", later)); err != nil {
			t.Fatal(err)
		}
		got, err := db.AppInstall(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got.UUID != "u-2" || string(got.TokenSealed) != "tok2" || !got.CreatedAt.Equal(later) {
			t.Errorf("after a second installation: %+v", got)
		}
		if n := countRows(t, db, "app_installation"); n != 1 {
			t.Errorf("app_installation has %d rows, want 1", n)
		}
		// The first installation's uuid no longer names anything.
		if had, err := db.DeleteAppInstall(ctx, "u-1"); err != nil || had {
			t.Errorf("DeleteAppInstall(old uuid) = %v, %v; want false", had, err)
		}
		if _, err := db.AppInstall(ctx); err != nil {
			t.Errorf("the current installation went with the old uuid: %v", err)
		}
	})

	t.Run("Replace", func(t *testing.T) {
		db := MustOpenDB(t)
		if err := db.SaveAppInstall(ctx, appInstall("u-1", "acme", "tok1", "ref1", t0)); err != nil {
			t.Fatal(err)
		}
		later := t0.Add(7 * time.Hour)
		next := appInstall("u-1", "", "tok2", "ref2", later)
		ok, err := db.ReplaceAppInstallTokens(ctx, next, []byte("ref1"))
		if err != nil || !ok {
			t.Fatalf("ReplaceAppInstallTokens = %v, %v; want true", ok, err)
		}
		got, err := db.AppInstall(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.TokenSealed) != "tok2" || string(got.RefreshSealed) != "ref2" || got.Org != "acme" ||
			!got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(later) || !got.ExpiresAt.Equal(later.Add(8*time.Hour)) {
			t.Errorf("after replace: %+v", got)
		}

		// The old refresh token no longer matches: a second refresh that
		// started from it loses.
		ok, err = db.ReplaceAppInstallTokens(ctx, appInstall("u-1", "", "tok3", "ref3", later), []byte("ref1"))
		if err != nil || ok {
			t.Errorf("replace from a stale refresh token = %v, %v; want false", ok, err)
		}
		// Another installation's uuid does not match either.
		ok, err = db.ReplaceAppInstallTokens(ctx, appInstall("u-9", "", "tok3", "ref3", later), []byte("ref2"))
		if err != nil || ok {
			t.Errorf("replace for another uuid = %v, %v; want false", ok, err)
		}
		if got, _ := db.AppInstall(ctx); string(got.TokenSealed) != "tok2" {
			t.Errorf("a losing replace wrote: %q", got.TokenSealed)
		}
	})

	t.Run("ReplaceAfterDeleteBringsNothingBack", func(t *testing.T) {
		db := MustOpenDB(t)
		if err := db.SaveAppInstall(ctx, appInstall("u-1", "acme", "tok1", "ref1", t0)); err != nil {
			t.Fatal(err)
		}
		had, err := db.DeleteAppInstall(ctx, "u-1")
		if err != nil || !had {
			t.Fatalf("DeleteAppInstall = %v, %v; want true", had, err)
		}
		ok, err := db.ReplaceAppInstallTokens(ctx, appInstall("u-1", "", "tok2", "ref2", t0), []byte("ref1"))
		if err != nil || ok {
			t.Errorf("replace after delete = %v, %v; want false", ok, err)
		}
		if _, err := db.AppInstall(ctx); !errors.Is(err, ErrNotFound) {
			t.Errorf("after delete and a late replace: %v, want ErrNotFound", err)
		}
		if had, err := db.DeleteAppInstall(ctx, "u-1"); err != nil || had {
			t.Errorf("second delete = %v, %v; want false", had, err)
		}
	})

	t.Run("ConcurrentReplaceOneWins", func(t *testing.T) {
		db := MustOpenDB(t)
		if err := db.SaveAppInstall(ctx, appInstall("u-1", "acme", "tok1", "ref1", t0)); err != nil {
			t.Fatal(err)
		}
		const n = 8
		var wins sync.WaitGroup
		results := make(chan bool, n)
		for i := range n {
			wins.Go(func() {
				ok, err := db.ReplaceAppInstallTokens(ctx, appInstall("u-1", "", "tok", string(rune('a'+i)), t0), []byte("ref1"))
				if err != nil {
					t.Error(err)
				}
				results <- ok
			})
		}
		wins.Wait()
		close(results)
		won := 0
		for ok := range results {
			if ok {
				won++
			}
		}
		if won != 1 {
			t.Errorf("%d concurrent replaces from one refresh token won, want 1", won)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		db := MustOpenDB(t)
		for name, in := range map[string]AppInstall{
			"NoUUID":    appInstall("", "acme", "t", "r", t0),
			"NoOrg":     appInstall("u-1", "", "t", "r", t0),
			"NoToken":   appInstall("u-1", "acme", "", "r", t0),
			"NoRefresh": appInstall("u-1", "acme", "t", "", t0),
		} {
			if err := db.SaveAppInstall(ctx, in); err == nil {
				t.Errorf("%s: SaveAppInstall succeeded", name)
			}
		}
		if _, err := db.ReplaceAppInstallTokens(ctx, appInstall("u-1", "", "", "r", t0), []byte("r")); err == nil {
			t.Error("ReplaceAppInstallTokens without a token succeeded")
		}
		if _, err := db.AppInstall(ctx); !errors.Is(err, ErrNotFound) {
			t.Errorf("an invalid save stored something: %v", err)
		}
	})

	t.Run("SchemaKeepsOneRow", func(t *testing.T) {
		db := MustOpenDB(t)
		_, err := db.db.Exec(`INSERT INTO app_installation (slot, uuid, org, token_sealed, refresh_sealed, expires_at, created_at, updated_at)
			VALUES (2, 'u-2', 'acme', x'01', x'01', 0, 0, 0)`)
		if err == nil || !strings.Contains(err.Error(), "CHECK") {
			t.Errorf("a second slot was accepted: %v", err)
		}
	})

	t.Run("SealedBytesKept", func(t *testing.T) {
		db := MustOpenDB(t)
		sealed := []byte{0x01, 0x00, 0xff, 0x10}
		in := appInstall("u-1", "acme", "", "r", t0)
		in.TokenSealed = sealed
		if err := db.SaveAppInstall(ctx, in); err != nil {
			t.Fatal(err)
		}
		got, err := db.AppInstall(ctx)
		if err != nil || !bytes.Equal(got.TokenSealed, sealed) {
			t.Errorf("sealed bytes = %x, %v; want %x", got.TokenSealed, err, sealed)
		}
	})
}
