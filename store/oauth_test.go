package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func mustCreateGrant(t *testing.T, db *DB, value, team, user string) OAuthGrant {
	t.Helper()
	g := OAuthGrant{Hash: hashOf(value), TeamID: team, UserID: user, ChannelID: "C1",
		CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
	if err := db.CreateOAuthGrant(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestOAuthGrant(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		db := MustOpenDB(t)
		mustCreateGrant(t, db, "grant", "T1", "U1")
		at := t0.Add(time.Minute)
		g, err := db.StartOAuthGrant(ctx, hashOf("grant"), hashOf("state"), []byte("sealed-verifier"), at, at.Add(10*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if g.TeamID != "T1" || g.UserID != "U1" || g.ChannelID != "C1" || !bytes.Equal(g.Hash, hashOf("grant")) {
			t.Errorf("started grant = %+v", g)
		}
		if !g.ExpiresAt.Equal(at.Add(10 * time.Minute)) {
			t.Errorf("expiry = %v, want the state's", g.ExpiresAt)
		}
		g2, verifier, err := db.FinishOAuthGrant(ctx, hashOf("state"), at.Add(9*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if g2.TeamID != "T1" || g2.UserID != "U1" || !bytes.Equal(g2.Hash, hashOf("grant")) {
			t.Errorf("finished grant = %+v", g2)
		}
		if string(verifier) != "sealed-verifier" {
			t.Errorf("verifier = %q", verifier)
		}
	})

	t.Run("StartTwice", func(t *testing.T) {
		db := MustOpenDB(t)
		mustCreateGrant(t, db, "grant", "T1", "U1")
		if _, err := db.StartOAuthGrant(ctx, hashOf("grant"), hashOf("s1"), []byte("v"), t0, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		_, err := db.StartOAuthGrant(ctx, hashOf("grant"), hashOf("s2"), []byte("v"), t0, t0.Add(time.Hour))
		if !errors.Is(err, ErrGrantUsed) {
			t.Fatalf("second start: %v, want ErrGrantUsed", err)
		}
		// The second visit's state was not recorded.
		if _, _, err := db.FinishOAuthGrant(ctx, hashOf("s2"), t0); !errors.Is(err, ErrNotFound) {
			t.Errorf("finish with the second state: %v, want ErrNotFound", err)
		}
	})

	t.Run("StartExpired", func(t *testing.T) {
		db := MustOpenDB(t)
		mustCreateGrant(t, db, "grant", "T1", "U1")
		at := t0.Add(10 * time.Minute) // the expiry instant itself is too late
		_, err := db.StartOAuthGrant(ctx, hashOf("grant"), hashOf("s"), []byte("v"), at, at.Add(time.Hour))
		if !errors.Is(err, ErrGrantExpired) {
			t.Fatalf("start: %v, want ErrGrantExpired", err)
		}
		// Still unstarted: a late visit does not use the grant up.
		_, err = db.StartOAuthGrant(ctx, hashOf("grant"), hashOf("s"), []byte("v"), t0, t0.Add(time.Hour))
		if err != nil {
			t.Errorf("start in time after a late attempt: %v", err)
		}
	})

	t.Run("StartUnknown", func(t *testing.T) {
		db := MustOpenDB(t)
		mustCreateGrant(t, db, "grant", "T1", "U1")
		_, err := db.StartOAuthGrant(ctx, hashOf("other"), hashOf("s"), []byte("v"), t0, t0.Add(time.Hour))
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("start: %v, want ErrNotFound", err)
		}
	})

	t.Run("FinishTwice", func(t *testing.T) {
		db := MustOpenDB(t)
		mustCreateGrant(t, db, "grant", "T1", "U1")
		if _, err := db.StartOAuthGrant(ctx, hashOf("grant"), hashOf("s"), []byte("v"), t0, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.FinishOAuthGrant(ctx, hashOf("s"), t0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.FinishOAuthGrant(ctx, hashOf("s"), t0); !errors.Is(err, ErrGrantUsed) {
			t.Fatalf("second finish: %v, want ErrGrantUsed", err)
		}
	})

	t.Run("FinishExpired", func(t *testing.T) {
		db := MustOpenDB(t)
		mustCreateGrant(t, db, "grant", "T1", "U1")
		if _, err := db.StartOAuthGrant(ctx, hashOf("grant"), hashOf("s"), []byte("v"), t0, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		_, _, err := db.FinishOAuthGrant(ctx, hashOf("s"), t0.Add(time.Minute))
		if !errors.Is(err, ErrGrantExpired) {
			t.Fatalf("finish: %v, want ErrGrantExpired", err)
		}
	})

	t.Run("FinishUnstarted", func(t *testing.T) {
		db := MustOpenDB(t)
		mustCreateGrant(t, db, "grant", "T1", "U1")
		// The grant hash is not a state: an unstarted grant has none.
		if _, _, err := db.FinishOAuthGrant(ctx, hashOf("grant"), t0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("finish: %v, want ErrNotFound", err)
		}
	})

	t.Run("Validation", func(t *testing.T) {
		db := MustOpenDB(t)
		bad := []OAuthGrant{
			{Hash: []byte("short"), TeamID: "T", UserID: "U", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)},
			{Hash: hashOf("a"), UserID: "U", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)},
			{Hash: hashOf("a"), TeamID: "T", UserID: "U", CreatedAt: t0, ExpiresAt: t0},
		}
		for i, g := range bad {
			if err := db.CreateOAuthGrant(ctx, g); err == nil {
				t.Errorf("grant %d accepted", i)
			}
		}
		mustCreateGrant(t, db, "dup", "T", "U")
		if err := db.CreateOAuthGrant(ctx, OAuthGrant{Hash: hashOf("dup"), TeamID: "T", UserID: "U2",
			CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}); err == nil {
			t.Error("duplicate grant hash accepted")
		}
	})

	t.Run("Purge", func(t *testing.T) {
		db := MustOpenDB(t)
		mustCreateGrant(t, db, "old", "T1", "U1") // expires t0+10m
		if err := db.CreateOAuthGrant(ctx, OAuthGrant{Hash: hashOf("new"), TeamID: "T1", UserID: "U1",
			CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		n, err := db.PurgeOAuthGrants(ctx, t0.Add(30*time.Minute))
		if err != nil || n != 1 {
			t.Fatalf("purge = %d, %v; want 1", n, err)
		}
		if _, err := db.StartOAuthGrant(ctx, hashOf("new"), hashOf("s"), nil, t0, t0.Add(time.Hour)); err != nil {
			t.Errorf("the unexpired grant was purged: %v", err)
		}
	})
}

// TestOAuthGrantConcurrent replays one grant and one state from many
// goroutines at once: exactly one of each wins.
func TestOAuthGrantConcurrent(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	mustCreateGrant(t, db, "grant", "T1", "U1")
	const n = 32

	run := func(f func(i int) error) (won int, others []error) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				err := f(i)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					won++
				} else {
					others = append(others, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		return won, others
	}

	states := make([][]byte, n)
	for i := range states {
		states[i] = hashOf("state" + string(rune('a'+i)))
	}
	winner := -1
	var wmu sync.Mutex
	won, others := run(func(i int) error {
		_, err := db.StartOAuthGrant(ctx, hashOf("grant"), states[i], []byte{byte(i)}, t0, t0.Add(time.Hour))
		if err == nil {
			wmu.Lock()
			winner = i
			wmu.Unlock()
		}
		return err
	})
	if won != 1 {
		t.Fatalf("%d starts won, want 1", won)
	}
	for _, err := range others {
		if !errors.Is(err, ErrGrantUsed) {
			t.Errorf("losing start: %v, want ErrGrantUsed", err)
		}
	}

	won, others = run(func(int) error {
		_, v, err := db.FinishOAuthGrant(ctx, states[winner], t0)
		if err == nil && !bytes.Equal(v, []byte{byte(winner)}) {
			return errors.New("wrong verifier")
		}
		return err
	})
	if won != 1 {
		t.Fatalf("%d finishes won, want 1", won)
	}
	for _, err := range others {
		if !errors.Is(err, ErrGrantUsed) {
			t.Errorf("losing finish: %v, want ErrGrantUsed", err)
		}
	}
}

func sampleToken(team, user string) OAuthToken {
	return OAuthToken{TeamID: team, UserID: user, SentryUserID: "42",
		AccessSealed: []byte("access-1"), RefreshSealed: []byte("refresh-1"),
		ExpiresAt: t0.Add(30 * 24 * time.Hour), Scopes: "org:read event:write", UpdatedAt: t0}
}

func TestOAuthToken(t *testing.T) {
	ctx := context.Background()

	t.Run("SaveAndRead", func(t *testing.T) {
		db := MustOpenDB(t)
		if _, err := db.OAuthToken(ctx, "T1", "U1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("before save: %v, want ErrNotFound", err)
		}
		want := sampleToken("T1", "U1")
		if err := db.SaveOAuthToken(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := db.OAuthToken(ctx, "T1", "U1")
		if err != nil {
			t.Fatal(err)
		}
		want.CreatedAt = t0
		if got.SentryUserID != want.SentryUserID || string(got.AccessSealed) != "access-1" ||
			string(got.RefreshSealed) != "refresh-1" || !got.ExpiresAt.Equal(want.ExpiresAt) ||
			got.Scopes != want.Scopes || got.Stale || !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})

	t.Run("SaveReplacesStale", func(t *testing.T) {
		db := MustOpenDB(t)
		tok := sampleToken("T1", "U1")
		if err := db.SaveOAuthToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if ok, err := db.MarkOAuthTokenStale(ctx, "T1", "U1", tok.RefreshSealed, t0); err != nil || !ok {
			t.Fatalf("mark stale = %v, %v", ok, err)
		}
		tok.AccessSealed, tok.RefreshSealed = []byte("access-2"), []byte("refresh-2")
		if err := db.SaveOAuthToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		got, err := db.OAuthToken(ctx, "T1", "U1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Stale || string(got.AccessSealed) != "access-2" {
			t.Errorf("after a new sign-in: stale=%v access=%q", got.Stale, got.AccessSealed)
		}
	})

	t.Run("ReplaceOnlyOverSameRefresh", func(t *testing.T) {
		db := MustOpenDB(t)
		tok := sampleToken("T1", "U1")
		if err := db.SaveOAuthToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		next := tok
		next.AccessSealed, next.RefreshSealed, next.UpdatedAt = []byte("access-2"), []byte("refresh-2"), t0.Add(time.Hour)
		if ok, err := db.ReplaceOAuthToken(ctx, next, []byte("refresh-other")); err != nil || ok {
			t.Fatalf("replace over another refresh = %v, %v; want false", ok, err)
		}
		if ok, err := db.ReplaceOAuthToken(ctx, next, tok.RefreshSealed); err != nil || !ok {
			t.Fatalf("replace = %v, %v; want true", ok, err)
		}
		got, err := db.OAuthToken(ctx, "T1", "U1")
		if err != nil {
			t.Fatal(err)
		}
		if string(got.RefreshSealed) != "refresh-2" || !got.UpdatedAt.Equal(t0.Add(time.Hour)) || !got.CreatedAt.Equal(t0) {
			t.Errorf("after replace: %+v", got)
		}
		// The old refresh token is spent; a second refresh racing with the
		// first must not write.
		if ok, err := db.ReplaceOAuthToken(ctx, next, tok.RefreshSealed); err != nil || ok {
			t.Errorf("replace with the spent refresh = %v, %v; want false", ok, err)
		}
	})

	t.Run("ReplaceAfterDeleteWritesNothing", func(t *testing.T) {
		db := MustOpenDB(t)
		tok := sampleToken("T1", "U1")
		if err := db.SaveOAuthToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if ok, err := db.DeleteOAuth(ctx, "T1", "U1"); err != nil || !ok {
			t.Fatalf("delete = %v, %v", ok, err)
		}
		if ok, err := db.ReplaceOAuthToken(ctx, tok, tok.RefreshSealed); err != nil || ok {
			t.Fatalf("replace after delete = %v, %v; want false", ok, err)
		}
		if _, err := db.OAuthToken(ctx, "T1", "U1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("token came back: %v", err)
		}
	})

	t.Run("MarkStaleOnce", func(t *testing.T) {
		db := MustOpenDB(t)
		tok := sampleToken("T1", "U1")
		if err := db.SaveOAuthToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if ok, err := db.MarkOAuthTokenStale(ctx, "T1", "U1", tok.RefreshSealed, t0); err != nil || !ok {
			t.Fatalf("first mark = %v, %v", ok, err)
		}
		if ok, err := db.MarkOAuthTokenStale(ctx, "T1", "U1", tok.RefreshSealed, t0); err != nil || ok {
			t.Fatalf("second mark = %v, %v; want false", ok, err)
		}
		if ok, err := db.ReplaceOAuthToken(ctx, tok, tok.RefreshSealed); err != nil || ok {
			t.Errorf("replace over a stale pair = %v, %v; want false", ok, err)
		}
		got, err := db.OAuthToken(ctx, "T1", "U1")
		if err != nil || !got.Stale {
			t.Errorf("stale = %v, %v", got.Stale, err)
		}
	})

	t.Run("DeleteRemovesGrantsAndOnlyTheUser", func(t *testing.T) {
		db := MustOpenDB(t)
		for _, u := range []string{"U1", "U2"} {
			if err := db.SaveOAuthToken(ctx, sampleToken("T1", u)); err != nil {
				t.Fatal(err)
			}
			mustCreateGrant(t, db, "grant-"+u, "T1", u)
		}
		if ok, err := db.DeleteOAuth(ctx, "T1", "U1"); err != nil || !ok {
			t.Fatalf("delete = %v, %v", ok, err)
		}
		if ok, err := db.DeleteOAuth(ctx, "T1", "U1"); err != nil || ok {
			t.Fatalf("second delete = %v, %v; want false", ok, err)
		}
		if _, err := db.StartOAuthGrant(ctx, hashOf("grant-U1"), hashOf("s1"), nil, t0, t0.Add(time.Hour)); !errors.Is(err, ErrNotFound) {
			t.Errorf("U1's grant survived: %v", err)
		}
		if _, err := db.OAuthToken(ctx, "T1", "U2"); err != nil {
			t.Errorf("U2's token: %v", err)
		}
		if _, err := db.StartOAuthGrant(ctx, hashOf("grant-U2"), hashOf("s2"), nil, t0, t0.Add(time.Hour)); err != nil {
			t.Errorf("U2's grant: %v", err)
		}
	})

	t.Run("Validation", func(t *testing.T) {
		db := MustOpenDB(t)
		for name, mut := range map[string]func(*OAuthToken){
			"NoTeam":       func(t *OAuthToken) { t.TeamID = "" },
			"NoSentryUser": func(t *OAuthToken) { t.SentryUserID = "" },
			"NoAccess":     func(t *OAuthToken) { t.AccessSealed = nil },
			"NoRefresh":    func(t *OAuthToken) { t.RefreshSealed = nil },
		} {
			tok := sampleToken("T1", "U1")
			mut(&tok)
			if err := db.SaveOAuthToken(ctx, tok); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
	})
}
