package webhook

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testInstall = "a8e5d37a-696c-4c54-adb5-b3f28d64c7de"
	testCode    = "f3c71b491e3949b6b033ae45312a4fcb"
)

// fakeInstallations records calls; InstalledFn and UninstalledFn, if set,
// decide the results.
type fakeInstallations struct {
	mu            sync.Mutex
	calls         []string
	InstalledFn   func(ctx context.Context, uuid, org, code string) (bool, error)
	UninstalledFn func(ctx context.Context, uuid string) error
}

var _ Installations = (*fakeInstallations)(nil)

func (f *fakeInstallations) Installed(ctx context.Context, uuid, org, code string) (bool, error) {
	f.mu.Lock()
	f.calls = append(f.calls, "installed "+uuid+" "+org+" "+code)
	f.mu.Unlock()
	if f.InstalledFn != nil {
		return f.InstalledFn(ctx, uuid, org, code)
	}
	return true, nil
}

func (f *fakeInstallations) Uninstalled(ctx context.Context, uuid string) error {
	f.mu.Lock()
	f.calls = append(f.calls, "uninstalled "+uuid)
	f.mu.Unlock()
	if f.UninstalledFn != nil {
		return f.UninstalledFn(ctx, uuid)
	}
	return nil
}

func (f *fakeInstallations) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func installBody(action, org, code string) []byte {
	codeField := ""
	if code != "" {
		codeField = `"code":"` + code + `",`
	}
	return []byte(`{"action":"` + action + `","actor":{"id":1,"name":"Meredith Heller","type":"user"},` +
		`"data":{"installation":{"status":"pending","organization":{"slug":"` + org + `"},` +
		`"app":{"uuid":"2ebf071f-28df-4989-aca9-c37c763b278f","slug":"sentrybot"},` + codeField +
		`"uuid":"` + testInstall + `"}},"installation":{"uuid":"` + testInstall + `"}}`)
}

func installRig(t *testing.T, inst *fakeInstallations, outcomes *[]string) *rig {
	t.Helper()
	o := Options{Installations: inst}
	if outcomes != nil {
		o.Outcome = func(resource, outcome string, _ time.Duration) { *outcomes = append(*outcomes, resource+"/"+outcome) }
	}
	return newRig(t, testSecret, o)
}

func wantAnswer(t *testing.T, rg *rig, d delivery, status int, body string) {
	t.Helper()
	w := rg.do(d)
	if w.Code != status || strings.TrimSpace(w.Body.String()) != body {
		t.Errorf("answer %d %q, want %d %q", w.Code, strings.TrimSpace(w.Body.String()), status, body)
	}
}

func wantNoCode(t *testing.T, rg *rig) {
	t.Helper()
	if strings.Contains(rg.logs.String(), testCode) {
		t.Errorf("log holds the grant code:\n%s", rg.logs)
	}
}

func TestHandlerInstallations(t *testing.T) {
	t.Run("Created", func(t *testing.T) {
		inst := &fakeInstallations{}
		var outcomes []string
		rg := installRig(t, inst, &outcomes)
		wantAnswer(t, rg, delivery{body: installBody("created", "acme", testCode), resource: "installation", requestID: "r-1"}, 200, "ok")
		if got := inst.got(); len(got) != 1 || got[0] != "installed "+testInstall+" acme "+testCode {
			t.Errorf("calls = %q", got)
		}
		logs := rg.logs.String()
		for _, want := range []string{"sentry integration installed", testInstall, `"org":"acme"`} {
			if !strings.Contains(logs, want) {
				t.Errorf("log lacks %q:\n%s", want, logs)
			}
		}
		wantNoCode(t, rg)
		if len(rg.receiver.alerts()) != 0 {
			t.Error("an installation webhook reached the alert receiver")
		}

		// Sentry's retry of the same delivery does not exchange again.
		wantAnswer(t, rg, delivery{body: installBody("created", "acme", testCode), resource: "installation", requestID: "r-1"}, 200, "duplicate")
		if n := len(inst.got()); n != 1 {
			t.Errorf("%d calls after a redelivery, want 1", n)
		}
		if want := "installation/installation,installation/duplicate"; strings.Join(outcomes, ",") != want {
			t.Errorf("outcomes %v, want %s", outcomes, want)
		}
	})

	t.Run("Refused", func(t *testing.T) {
		inst := &fakeInstallations{InstalledFn: func(context.Context, string, string, string) (bool, error) { return false, nil }}
		var outcomes []string
		rg := installRig(t, inst, &outcomes)
		wantAnswer(t, rg, delivery{body: installBody("created", "other-org", testCode), resource: "installation", requestID: "r-1"}, 403, "refused")
		if !strings.Contains(rg.logs.String(), "installation refused") || !strings.Contains(rg.logs.String(), "other-org") {
			t.Errorf("log does not say which installation was refused:\n%s", rg.logs)
		}
		wantNoCode(t, rg)
		if want := "installation/installation_refused"; strings.Join(outcomes, ",") != want {
			t.Errorf("outcomes %v, want %s", outcomes, want)
		}
	})

	t.Run("FailedIsRetried", func(t *testing.T) {
		fail := true
		inst := &fakeInstallations{InstalledFn: func(context.Context, string, string, string) (bool, error) {
			if fail {
				return false, errors.New("apptoken: exchanging the grant code: authorizations endpoint answered 503")
			}
			return true, nil
		}}
		var outcomes []string
		rg := installRig(t, inst, &outcomes)
		d := delivery{body: installBody("created", "acme", testCode), resource: "installation", requestID: "r-1"}
		wantAnswer(t, rg, d, 503, "try again later")
		if !strings.Contains(rg.logs.String(), "answered 503") {
			t.Errorf("log lacks the cause:\n%s", rg.logs)
		}
		// The failed delivery was forgotten: Sentry's retry is taken.
		fail = false
		wantAnswer(t, rg, d, 200, "ok")
		if n := len(inst.got()); n != 2 {
			t.Errorf("%d calls, want the retry to call again", n)
		}
		wantNoCode(t, rg)
		if want := "installation/installation_failed,installation/installation"; strings.Join(outcomes, ",") != want {
			t.Errorf("outcomes %v, want %s", outcomes, want)
		}
	})

	t.Run("Deleted", func(t *testing.T) {
		inst := &fakeInstallations{}
		rg := installRig(t, inst, nil)
		wantAnswer(t, rg, delivery{body: installBody("deleted", "acme", ""), resource: "installation", requestID: "r-2"}, 200, "ok")
		if got := inst.got(); len(got) != 1 || got[0] != "uninstalled "+testInstall {
			t.Errorf("calls = %q", got)
		}
		if !strings.Contains(rg.logs.String(), "sentry integration uninstalled") {
			t.Errorf("log:\n%s", rg.logs)
		}
	})

	t.Run("DeleteFails", func(t *testing.T) {
		inst := &fakeInstallations{UninstalledFn: func(context.Context, string) error { return errors.New("database is locked") }}
		rg := installRig(t, inst, nil)
		wantAnswer(t, rg, delivery{body: installBody("deleted", "acme", ""), resource: "installation", requestID: "r-2"}, 503, "try again later")
	})

	t.Run("NotCalled", func(t *testing.T) {
		for name, tc := range map[string]struct {
			d      delivery
			status int
			body   string
		}{
			"NoCode":        {delivery{body: installBody("created", "acme", ""), resource: "installation"}, 400, "malformed payload"},
			"NoUUID":        {delivery{body: []byte(`{"action":"deleted","data":{"installation":{}}}`), resource: "installation"}, 400, "malformed payload"},
			"OtherAction":   {delivery{body: installBody("updated", "acme", ""), resource: "installation"}, 200, "ignored"},
			"BadSignature":  {delivery{body: installBody("created", "acme", testCode), resource: "installation", signature: Sign([]byte("forged"), installBody("created", "acme", testCode))}, 401, "unauthorized"},
			"OtherResource": {delivery{body: installBody("created", "acme", testCode), resource: "issue"}, 400, "malformed payload"},
		} {
			t.Run(name, func(t *testing.T) {
				inst := &fakeInstallations{}
				rg := installRig(t, inst, nil)
				wantAnswer(t, rg, tc.d, tc.status, tc.body)
				if got := inst.got(); len(got) != 0 {
					t.Errorf("calls = %q, want none", got)
				}
				wantNoCode(t, rg)
			})
		}
	})

	t.Run("ExchangeOutlivesTheRequest", func(t *testing.T) {
		var deadline time.Time
		var ctxErr error
		inst := &fakeInstallations{InstalledFn: func(ctx context.Context, _, _, _ string) (bool, error) {
			deadline, _ = ctx.Deadline()
			ctxErr = ctx.Err()
			return true, nil
		}}
		rg := newRig(t, testSecret, Options{Installations: inst, InstallTimeout: time.Hour})
		d := delivery{body: installBody("created", "acme", testCode), resource: "installation", requestID: "r-3"}
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // Sentry hung up
		w := httptest.NewRecorder()
		rg.h.ServeHTTP(w, d.request().WithContext(ctx))
		if w.Code != http.StatusOK {
			t.Errorf("status %d, want 200", w.Code)
		}
		if ctxErr != nil {
			t.Errorf("the exchange saw %v; a hung-up request must not cut it off", ctxErr)
		}
		if until := time.Until(deadline); until < 50*time.Minute {
			t.Errorf("the exchange's deadline is %v away, want InstallTimeout", until)
		}
	})
}
