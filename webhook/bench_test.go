package webhook

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"sentrybot/alerts"
)

// alwaysFirst lets every delivery through, so the benchmark measures the
// handler rather than a replay store.
type alwaysFirst struct{}

func (alwaysFirst) MarkSeen(context.Context, string, time.Duration) (bool, error) { return true, nil }
func (alwaysFirst) ForgetSeen(context.Context, string) error                      { return nil }

type discard struct{}

func (discard) Receive(context.Context, alerts.Alert) error { return nil }

// BenchmarkHandler runs the whole request path: sign (as Sentry would),
// read, verify, check the timestamp, parse and hand over.
func BenchmarkHandler(b *testing.B) {
	for _, name := range []string{"event-alert-triggered.json", "issue-created.json"} {
		body := mustRead(b, name)
		resource := "issue"
		if name == "event-alert-triggered.json" {
			resource = "event_alert"
		}
		b.Run(resource, func(b *testing.B) {
			h := NewHandler(testSecret, discard{}, alwaysFirst{}, zerolog.Nop(), Options{Now: func() time.Time { return testNow }})
			ts := strconv.FormatInt(testNow.Unix(), 10)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/sentry/webhook", bytes.NewReader(body))
				r.Header.Set("Sentry-Hook-Resource", resource)
				r.Header.Set("Sentry-Hook-Timestamp", ts)
				r.Header.Set("Request-ID", "bench")
				r.Header.Set("Sentry-Hook-Signature", Sign(testSecret, body))
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
