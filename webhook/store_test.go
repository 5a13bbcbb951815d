package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"sentrybot/alerts"
	"sentrybot/store"
	"sentrybot/webhook"
)

var _ webhook.Replays = (*store.DB)(nil)

type flakyReceiver struct {
	failures int
	got      []alerts.Alert
}

func (f *flakyReceiver) Receive(_ context.Context, a alerts.Alert) error {
	if f.failures > 0 {
		f.failures--
		return errors.New("could not insert")
	}
	f.got = append(f.got, a)
	return nil
}

// TestRetryAfterFailureWithStore runs the replay rules against the real
// seen-keys table: a delivery that could not be kept is taken on retry, and
// one that was kept is not taken twice.
func TestRetryAfterFailureWithStore(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "sentrybot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	secret := []byte("s3cret")
	body, err := os.ReadFile("testdata/issue-created.json")
	if err != nil {
		t.Fatal(err)
	}
	rec := &flakyReceiver{failures: 1}
	h := webhook.NewHandler(secret, rec, db, zerolog.Nop(), webhook.Options{})
	send := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/sentry/webhook", bytes.NewReader(body))
		r.Header.Set("Sentry-Hook-Resource", "issue")
		r.Header.Set("Sentry-Hook-Timestamp", strconv.FormatInt(time.Now().Unix(), 10))
		r.Header.Set("Sentry-Hook-Signature", webhook.Sign(secret, body))
		r.Header.Set("Request-ID", "3f2b8f4e-8d7c-4b7a-9f1e-2a6c5d4e3b21")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i, want := range []struct {
		status int
		body   string
	}{{503, "try again later\n"}, {200, "ok\n"}, {200, "duplicate\n"}} {
		w := send()
		if w.Code != want.status || w.Body.String() != want.body {
			t.Fatalf("delivery %d: %d %q, want %d %q", i+1, w.Code, w.Body, want.status, want.body)
		}
	}
	if len(rec.got) != 1 || rec.got[0].IssueID != "1170820242" {
		t.Fatalf("receiver kept %+v, want the one issue", rec.got)
	}
}
