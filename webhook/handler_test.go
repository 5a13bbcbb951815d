package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"sentrybot/alerts"
)

var (
	testSecret = []byte("f3b1c0ffee-integration-client-secret")
	testNow    = time.Unix(1_700_000_000, 0)
)

// fakeReceiver records what it is given; ReceiveFn, if set, decides the result.
type fakeReceiver struct {
	mu        sync.Mutex
	got       []alerts.Alert
	ReceiveFn func(ctx context.Context, a alerts.Alert) error
}

var _ Receiver = (*fakeReceiver)(nil)

func (f *fakeReceiver) Receive(ctx context.Context, a alerts.Alert) error {
	if f.ReceiveFn != nil {
		if err := f.ReceiveFn(ctx, a); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, a)
	return nil
}

func (f *fakeReceiver) alerts() []alerts.Alert {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]alerts.Alert(nil), f.got...)
}

// memReplays keeps keys in memory with the semantics of store.DB.MarkSeen.
type memReplays struct {
	mu   sync.Mutex
	keys map[string]bool
}

var _ Replays = (*memReplays)(nil)

func (m *memReplays) MarkSeen(_ context.Context, key string, _ time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys == nil {
		m.keys = map[string]bool{}
	}
	if m.keys[key] {
		return false, nil
	}
	m.keys[key] = true
	return true, nil
}

func (m *memReplays) ForgetSeen(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.keys, key)
	return nil
}

func mustRead(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// delivery is one webhook request as Sentry would send it.
type delivery struct {
	method    string
	body      []byte
	resource  string
	requestID string
	signature string // "" means: sign body with testSecret
	noSig     bool
	timestamp string // "" means: testNow
	noTS      bool
}

func (d delivery) request() *http.Request {
	method := d.method
	if method == "" {
		method = http.MethodPost
	}
	r := httptest.NewRequest(method, "/sentry/webhook", bytes.NewReader(d.body))
	r.Header.Set("Content-Type", "application/json")
	if d.resource != "" {
		r.Header.Set("Sentry-Hook-Resource", d.resource)
	}
	if d.requestID != "" {
		r.Header.Set("Request-ID", d.requestID)
	}
	if !d.noSig {
		sig := d.signature
		if sig == "" {
			sig = Sign(testSecret, d.body)
		}
		r.Header.Set("Sentry-Hook-Signature", sig)
	}
	if !d.noTS {
		ts := d.timestamp
		if ts == "" {
			ts = strconv.FormatInt(testNow.Unix(), 10)
		}
		r.Header.Set("Sentry-Hook-Timestamp", ts)
	}
	return r
}

type rig struct {
	h        http.Handler
	receiver *fakeReceiver
	replays  *memReplays
	logs     *bytes.Buffer
}

func newRig(t *testing.T, secret []byte, o Options) *rig {
	t.Helper()
	rg := &rig{receiver: &fakeReceiver{}, replays: &memReplays{}, logs: &bytes.Buffer{}}
	if o.Now == nil {
		o.Now = func() time.Time { return testNow }
	}
	log := zerolog.New(rg.logs).Level(zerolog.DebugLevel)
	rg.h = NewHandler(secret, rg.receiver, rg.replays, log, o)
	return rg
}

func (rg *rig) do(d delivery) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	rg.h.ServeHTTP(w, d.request())
	return w
}

func reserialized(t *testing.T, b []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(out, b) {
		t.Fatal("re-serialized body equals the raw body; the test would prove nothing")
	}
	return out
}

func TestHandlerFixtures(t *testing.T) {
	t.Run("EventAlert", func(t *testing.T) {
		rg := newRig(t, testSecret, Options{})
		w := rg.do(delivery{body: mustRead(t, "event-alert-triggered.json"), resource: "event_alert", requestID: "req-1"})
		if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != "ok" {
			t.Fatalf("status %d body %q, want 200 ok", w.Code, w.Body)
		}
		got := rg.receiver.alerts()
		if len(got) != 1 {
			t.Fatalf("receiver got %d alerts, want 1", len(got))
		}
		want := alerts.Alert{
			Kind: alerts.KindEventAlert, Action: "triggered", IssueID: "1117540176",
			ProjectSlug: "front-end", Rule: "Very Important Alert Rule!", RuleChannel: "#general",
			DeliveryID: "req-1", ReceivedAt: testNow,
		}
		if got[0] != want {
			t.Errorf("alert\n got %+v\nwant %+v", got[0], want)
		}
	})
	t.Run("IssueCreated", func(t *testing.T) {
		rg := newRig(t, testSecret, Options{})
		w := rg.do(delivery{body: mustRead(t, "issue-created.json"), resource: "issue", requestID: "req-2"})
		if w.Code != http.StatusOK {
			t.Fatalf("status %d body %q, want 200", w.Code, w.Body)
		}
		got := rg.receiver.alerts()
		if len(got) != 1 {
			t.Fatalf("receiver got %d alerts, want 1", len(got))
		}
		a := got[0]
		if a.Kind != alerts.KindIssue || a.Action != "created" || a.IssueID != "1170820242" ||
			a.ProjectSlug != "front-end" || a.DeliveryID != "req-2" || a.Changed() {
			t.Errorf("alert %+v", a)
		}
		if a.Issue == nil {
			t.Fatal("alert carries no issue")
		}
		if a.Issue.ShortID != "FRONT-END-9" || a.Issue.Permalink != "" || a.Issue.Count != "1" ||
			a.Issue.Substatus == nil || *a.Issue.Substatus != "escalating" || a.Issue.Project.Slug != "front-end" {
			t.Errorf("issue %+v", *a.Issue)
		}
	})
}

func TestHandlerRefusals(t *testing.T) {
	alert := mustRead(t, "event-alert-triggered.json")
	tests := []struct {
		name       string
		secret     []byte
		d          func(*testing.T) delivery
		wantStatus int
		wantBody   string
		wantLog    string
	}{
		{name: "ForgedSignature", wantStatus: 401, wantLog: "bad signature",
			d: func(*testing.T) delivery {
				return delivery{body: alert, resource: "event_alert", signature: Sign([]byte("another secret"), alert)}
			}},
		{name: "MissingSignature", wantStatus: 401, wantLog: "missing signature",
			d: func(*testing.T) delivery { return delivery{body: alert, resource: "event_alert", noSig: true} }},
		{name: "NonHexSignature", wantStatus: 401,
			d: func(*testing.T) delivery {
				return delivery{body: alert, resource: "event_alert", signature: strings.Repeat("zz", 32)}
			}},
		{name: "SignatureOverReserializedJSON", wantStatus: 401, wantLog: "bad signature",
			d: func(t *testing.T) delivery {
				return delivery{body: alert, resource: "event_alert", signature: Sign(testSecret, reserialized(t, alert))}
			}},
		{name: "StaleTimestamp", wantStatus: 401, wantLog: "stale timestamp",
			d: func(*testing.T) delivery {
				return delivery{body: alert, resource: "event_alert", timestamp: strconv.FormatInt(testNow.Add(-6*time.Minute).Unix(), 10)}
			}},
		{name: "FutureTimestamp", wantStatus: 401, wantLog: "timestamp in the future",
			d: func(*testing.T) delivery {
				return delivery{body: alert, resource: "event_alert", timestamp: strconv.FormatInt(testNow.Add(6*time.Minute).Unix(), 10)}
			}},
		{name: "MissingTimestamp", wantStatus: 401, wantLog: "missing timestamp",
			d: func(*testing.T) delivery { return delivery{body: alert, resource: "event_alert", noTS: true} }},
		{name: "UnparseableTimestamp", wantStatus: 401, wantLog: "unparseable timestamp",
			d: func(*testing.T) delivery { return delivery{body: alert, resource: "event_alert", timestamp: "NaN"} }},
		{name: "OversizedBody", wantStatus: 400, wantLog: "oversized",
			d: func(*testing.T) delivery {
				return delivery{body: append(bytes.Repeat([]byte(" "), 1<<20), alert...), resource: "event_alert"}
			}},
		{name: "MalformedJSON", wantStatus: 400, wantLog: "malformed",
			d: func(*testing.T) delivery {
				return delivery{body: []byte(`{"action":"triggered","data":`), resource: "event_alert"}
			}},
		{name: "MissingIssueID", wantStatus: 400, wantLog: "names no issue",
			d: func(*testing.T) delivery {
				return delivery{body: []byte(`{"action":"triggered","data":{"event":{},"triggered_rule":"r"}}`), resource: "event_alert"}
			}},
		{name: "MissingResource", wantStatus: 400,
			d: func(*testing.T) delivery { return delivery{body: alert} }},
		{name: "GET", wantStatus: 405,
			d: func(*testing.T) delivery { return delivery{method: http.MethodGet, resource: "event_alert"} }},
		{name: "UnknownResource", wantStatus: 200, wantBody: "ignored",
			d: func(*testing.T) delivery {
				return delivery{body: []byte(`{"action":"created","data":{"comment":"hi"}}`), resource: "comment"}
			}},
		{name: "MetricAlert", wantStatus: 200, wantBody: "ignored",
			d: func(*testing.T) delivery {
				return delivery{body: []byte(`{"action":"critical","data":{}}`), resource: "metric_alert"}
			}},
		{name: "UnknownIssueAction", wantStatus: 200, wantBody: "ignored",
			d: func(*testing.T) delivery {
				return delivery{body: []byte(`{"action":"merged","data":{"issue":{"id":"1"}}}`), resource: "issue"}
			}},
		{name: "Installation", wantStatus: 200, wantBody: "ok", wantLog: "a8e5d37a-696c-4c54-adb5-b3f28d64c7de",
			d: func(*testing.T) delivery {
				return delivery{body: []byte(`{"action":"deleted","data":{"installation":{}},"installation":{"uuid":"a8e5d37a-696c-4c54-adb5-b3f28d64c7de"}}`), resource: "installation"}
			}},
		{name: "EmptySecret", secret: []byte{}, wantStatus: 401, wantLog: "webhooks need sentry.webhook_secret",
			d: func(*testing.T) delivery { return delivery{body: alert, resource: "event_alert"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret := testSecret
			if tt.secret != nil {
				secret = tt.secret
			}
			rg := newRig(t, secret, Options{})
			d := tt.d(t)
			w := rg.do(d)
			if w.Code != tt.wantStatus {
				t.Errorf("status %d (body %q), want %d", w.Code, w.Body, tt.wantStatus)
			}
			if tt.wantBody != "" && strings.TrimSpace(w.Body.String()) != tt.wantBody {
				t.Errorf("body %q, want %q", w.Body, tt.wantBody)
			}
			if n := len(rg.receiver.alerts()); n != 0 {
				t.Errorf("receiver got %d alerts, want none", n)
			}
			logs := rg.logs.String()
			if tt.wantLog != "" && !strings.Contains(logs, tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, logs)
			}
			assertNoLeak(t, logs, d)
		})
	}
}

// assertNoLeak fails if the log holds the secret, a signature or the body.
func assertNoLeak(t *testing.T, logs string, d delivery) {
	t.Helper()
	if strings.Contains(logs, string(testSecret)) {
		t.Error("log holds the secret")
	}
	r := d.request()
	if sig := r.Header.Get("Sentry-Hook-Signature"); len(sig) > 8 && strings.Contains(logs, sig) {
		t.Error("log holds the signature")
	}
	for _, frag := range []string{"heck is not defined", "blooopy", `"comment":"hi"`} {
		if bytes.Contains(d.body, []byte(frag)) && strings.Contains(logs, frag) {
			t.Errorf("log holds the body (%q)", frag)
		}
	}
}

func TestHandlerReplay(t *testing.T) {
	body := mustRead(t, "event-alert-triggered.json")
	t.Run("SameRequestID", func(t *testing.T) {
		rg := newRig(t, testSecret, Options{})
		d := delivery{body: body, resource: "event_alert", requestID: "9b1d6a3e-0000-4000-8000-000000000001"}
		if w := rg.do(d); w.Code != 200 || strings.TrimSpace(w.Body.String()) != "ok" {
			t.Fatalf("first: %d %q", w.Code, w.Body)
		}
		w := rg.do(d)
		if w.Code != 200 || strings.TrimSpace(w.Body.String()) != "duplicate" {
			t.Fatalf("second: %d %q, want 200 duplicate", w.Code, w.Body)
		}
		if n := len(rg.receiver.alerts()); n != 1 {
			t.Fatalf("receiver got %d alerts, want 1", n)
		}
	})
	t.Run("NoRequestIDKeyedBySignature", func(t *testing.T) {
		rg := newRig(t, testSecret, Options{})
		d := delivery{body: body, resource: "event_alert"}
		rg.do(d)
		if w := rg.do(d); strings.TrimSpace(w.Body.String()) != "duplicate" {
			t.Fatalf("second: %d %q, want duplicate", w.Code, w.Body)
		}
		got := rg.receiver.alerts()
		if len(got) != 1 {
			t.Fatalf("receiver got %d alerts, want 1", len(got))
		}
		sig := Sign(testSecret, body)
		if id := got[0].DeliveryID; !strings.HasPrefix(id, "sig-") || strings.Contains(sig, strings.TrimPrefix(id, "sig-")) {
			t.Errorf("delivery id %q: want a sig- key that does not reveal the signature", id)
		}
	})
	t.Run("ReceiverFailureThenRetry", func(t *testing.T) {
		rg := newRig(t, testSecret, Options{})
		fail := true
		rg.receiver.ReceiveFn = func(context.Context, alerts.Alert) error {
			if fail {
				return errors.New("database is locked")
			}
			return nil
		}
		d := delivery{body: body, resource: "event_alert", requestID: "retry-me"}
		if w := rg.do(d); w.Code != http.StatusServiceUnavailable {
			t.Fatalf("failing receiver: status %d, want 503", w.Code)
		}
		fail = false
		if w := rg.do(d); w.Code != 200 || strings.TrimSpace(w.Body.String()) != "ok" {
			t.Fatalf("retry: %d %q, want 200 ok", w.Code, w.Body)
		}
		if n := len(rg.receiver.alerts()); n != 1 {
			t.Fatalf("receiver kept %d alerts, want 1", n)
		}
	})
	t.Run("ReplayStoreDownStillAccepts", func(t *testing.T) {
		rg := newRig(t, testSecret, Options{})
		rg.h = NewHandler(testSecret, rg.receiver, failingReplays{}, zerolog.New(rg.logs), Options{Now: func() time.Time { return testNow }})
		if w := rg.do(delivery{body: body, resource: "event_alert", requestID: "x"}); w.Code != 200 {
			t.Fatalf("status %d, want 200", w.Code)
		}
		if n := len(rg.receiver.alerts()); n != 1 {
			t.Fatalf("receiver got %d alerts, want 1", n)
		}
	})
}

type failingReplays struct{}

func (failingReplays) MarkSeen(context.Context, string, time.Duration) (bool, error) {
	return false, errors.New("disk I/O error")
}
func (failingReplays) ForgetSeen(context.Context, string) error { return errors.New("disk I/O error") }

func TestHandlerTimestampWindow(t *testing.T) {
	body := mustRead(t, "issue-created.json")
	for _, tc := range []struct {
		ts   string
		want int
	}{
		{strconv.FormatInt(testNow.Add(-5*time.Minute).Unix(), 10), 200},
		{strconv.FormatInt(testNow.Add(5*time.Minute).Unix(), 10), 200},
		{strconv.FormatInt(testNow.Unix(), 10) + ".25", 200},
		{"-1", 401},
		{"1e9", 401},
		{"0x6553f100", 401},
		{"99999999999999999999999", 401},
		{" ", 401},
	} {
		rg := newRig(t, testSecret, Options{})
		if w := rg.do(delivery{body: body, resource: "issue", timestamp: tc.ts}); w.Code != tc.want {
			t.Errorf("timestamp %q: status %d, want %d", tc.ts, w.Code, tc.want)
		}
	}
}

func TestHandlerOutcome(t *testing.T) {
	var got []string
	rg := newRig(t, testSecret, Options{Outcome: func(resource, outcome string, _ time.Duration) {
		got = append(got, resource+"/"+outcome)
	}})
	body := mustRead(t, "issue-created.json")
	rg.do(delivery{body: body, resource: "issue", requestID: "a"})
	rg.do(delivery{body: body, resource: "issue", requestID: "a"})
	rg.do(delivery{body: body, resource: "issue", signature: Sign([]byte("x"), body)})
	rg.do(delivery{body: body, resource: "made-up-" + strings.Repeat("x", 100)})
	rg.do(delivery{body: body})
	want := []string{"issue/accepted", "issue/duplicate", "issue/bad_signature", "other/ignored", "other/bad_request"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("outcomes %v, want %v", got, want)
	}
}
