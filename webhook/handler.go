package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"sentrybot/alerts"
)

// Receiver keeps an alert durably and returns quickly (an SQLite insert);
// the work happens later.
type Receiver interface {
	Receive(ctx context.Context, a alerts.Alert) error
}

// Replays remembers delivery ids. MarkSeen returns true the first time a
// live key is seen; ForgetSeen drops a key so that a redelivery of something
// that could not be kept is taken again. *store.DB fits.
type Replays interface {
	MarkSeen(ctx context.Context, key string, ttl time.Duration) (bool, error)
	ForgetSeen(ctx context.Context, key string) error
}

// Installations is told when sentrybot's Sentry public integration is
// installed in an organization or removed from one (installation
// webhooks). Installed exchanges the grant code for the installation's
// token; it reports false, without an error, for an installation it
// refuses (another organization's). Uninstalled drops the installation's
// tokens; an unknown uuid is not an error. *apptoken.Manager fits.
type Installations interface {
	Installed(ctx context.Context, uuid, org, code string) (bool, error)
	Uninstalled(ctx context.Context, uuid string) error
}

// Options tune the handler; zero values take the defaults.
type Options struct {
	MaxBody   int64         // largest body accepted; default 1 MiB
	MaxSkew   time.Duration // how far Sentry-Hook-Timestamp may be from now; default 5m
	ReplayTTL time.Duration // how long a delivery id is remembered; default 24h
	// ReceiveTimeout bounds the Receiver call so that the answer stays
	// within Sentry's 1 s; default 800ms.
	ReceiveTimeout time.Duration
	Now            func() time.Time // default time.Now
	// Outcome, if set, is told the resource and outcome of every request
	// (for metrics). The resource is event_alert, issue, installation or
	// "other", since the header comes from anyone who can reach the
	// listener and must not create new label values. Outcomes: accepted, duplicate, ignored, installation,
	// bad_method, no_secret, oversized, bad_request, bad_signature, stale,
	// malformed, receiver_failed, installation_refused, installation_failed.
	Outcome func(resource, outcome string, took time.Duration)
	// Installations, if set, is told of installation webhooks ("created"
	// and "deleted"); without it they are logged and answered 200.
	Installations Installations
	// InstallTimeout bounds the Installations call, which exchanges the
	// grant code with Sentry. It outlives the request: the code is single
	// use, so an exchange is not cut off when Sentry stops waiting for the
	// answer. Default 15s.
	InstallTimeout time.Duration
}

// Header names Sentry sends.
const (
	headerSignature = "Sentry-Hook-Signature"
	headerTimestamp = "Sentry-Hook-Timestamp"
	headerResource  = "Sentry-Hook-Resource"
	headerRequestID = "Request-ID"
)

// maxRequestID bounds the delivery id kept as a replay key. Sentry's are
// UUIDs and the header is not signed, so a longer one is not trusted: the
// delivery is then named after its signature as if the header were absent.
const maxRequestID = 200

type handler struct {
	secret   []byte
	receiver Receiver
	replays  Replays
	log      zerolog.Logger
	o        Options
}

// NewHandler returns the http.Handler for Sentry's webhooks. r must not be
// nil; replays may be (then nothing is deduplicated). With an empty secret
// every request is refused: webhooks need sentry.webhook_secret.
func NewHandler(secret []byte, r Receiver, replays Replays, log zerolog.Logger, o Options) http.Handler {
	if o.MaxBody <= 0 {
		o.MaxBody = 1 << 20
	}
	if o.MaxSkew <= 0 {
		o.MaxSkew = 5 * time.Minute
	}
	if o.ReplayTTL <= 0 {
		o.ReplayTTL = 24 * time.Hour
	}
	if o.ReceiveTimeout <= 0 {
		o.ReceiveTimeout = 800 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.InstallTimeout <= 0 {
		o.InstallTimeout = 15 * time.Second
	}
	h := &handler{
		secret:   append([]byte(nil), secret...),
		receiver: r,
		replays:  replays,
		log:      log.With().Str("component", "webhook").Logger(),
		o:        o,
	}
	if len(h.secret) == 0 {
		h.log.Warn().Msg("sentry.webhook_secret (SENTRY_WEBHOOK_SECRET) is not set: every webhook will be refused")
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	resource := r.Header.Get(headerResource)
	if len(resource) > 64 {
		resource = resource[:64] // the header is unsigned; keep log lines bounded
	}
	requestID := r.Header.Get(headerRequestID)
	if len(requestID) > maxRequestID {
		requestID = ""
	}
	// ev collects what every log line of this request carries; it never
	// holds the signature, the secret or the body.
	var done logDone = func(ev *zerolog.Event, status int, outcome, msg string, fields func(*zerolog.Event)) {
		took := time.Since(start)
		ev = ev.Str("resource", resource).Str("request_id", requestID).
			Str("outcome", outcome).Int("status", status).Dur("latency", took)
		if fields != nil {
			fields(ev)
		}
		ev.Msg(msg)
		if h.o.Outcome != nil {
			h.o.Outcome(resourceLabel(resource), outcome, took)
		}
	}
	reply := func(status int, text string) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(status)
		io.WriteString(w, text+"\n")
	}

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(http.StatusMethodNotAllowed, "method not allowed")
		done(h.log.Debug(), http.StatusMethodNotAllowed, "bad_method", "webhook refused: not a POST", func(e *zerolog.Event) { e.Str("method", r.Method) })
		return
	}
	if len(h.secret) == 0 {
		reply(http.StatusUnauthorized, "unauthorized")
		done(h.log.Warn(), http.StatusUnauthorized, "no_secret", "webhook refused: webhooks need sentry.webhook_secret (SENTRY_WEBHOOK_SECRET)", nil)
		return
	}

	if r.ContentLength > h.o.MaxBody {
		reply(http.StatusBadRequest, "body too large")
		done(h.log.Warn(), http.StatusBadRequest, "oversized", "webhook refused: oversized body", func(e *zerolog.Event) { e.Int64("content_length", r.ContentLength) })
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.o.MaxBody+1))
	if err != nil {
		reply(http.StatusBadRequest, "could not read body")
		done(h.log.Warn(), http.StatusBadRequest, "bad_request", "webhook refused: reading the body failed", func(e *zerolog.Event) { e.Err(err) })
		return
	}
	if int64(len(body)) > h.o.MaxBody {
		reply(http.StatusBadRequest, "body too large")
		done(h.log.Warn(), http.StatusBadRequest, "oversized", "webhook refused: oversized body", func(e *zerolog.Event) { e.Int64("max_body", h.o.MaxBody) })
		return
	}

	// The signature covers the bytes exactly as received.
	signature := r.Header.Get(headerSignature)
	if !Verify(h.secret, body, signature) {
		reason := "bad signature"
		if signature == "" {
			reason = "missing signature"
		}
		reply(http.StatusUnauthorized, "unauthorized")
		done(h.log.Warn(), http.StatusUnauthorized, "bad_signature", "webhook refused: "+reason, nil)
		return
	}
	now := h.o.Now()
	if reason := h.checkTimestamp(r.Header.Get(headerTimestamp), now); reason != "" {
		reply(http.StatusUnauthorized, "unauthorized")
		done(h.log.Warn(), http.StatusUnauthorized, "stale", "webhook refused: "+reason, nil)
		return
	}

	if resource == "" {
		reply(http.StatusBadRequest, "missing "+headerResource)
		done(h.log.Warn(), http.StatusBadRequest, "bad_request", "webhook refused: no resource header", nil)
		return
	}
	a, inst, ok, err := parse(resource, body, now)
	if err != nil {
		reply(http.StatusBadRequest, "malformed payload")
		done(h.log.Warn(), http.StatusBadRequest, "malformed", "webhook refused: malformed payload", func(e *zerolog.Event) { e.Err(err) })
		return
	}
	switch {
	case a.Kind == KindInstallation:
		h.installation(r, a.Action, inst, deliveryID(requestID, signature), reply, done)
		return
	case !ok:
		reply(http.StatusOK, "ignored")
		done(h.log.Debug(), http.StatusOK, "ignored", "webhook ignored: nothing to do for this resource or action", func(e *zerolog.Event) { e.Str("action", a.Action) })
		return
	}

	a.DeliveryID = deliveryID(requestID, signature)
	fields := func(e *zerolog.Event) {
		e.Str("action", a.Action).Str("issue_id", a.IssueID).Str("delivery_id", a.DeliveryID)
	}
	key := "webhook:" + a.DeliveryID

	ctx, cancel := context.WithTimeout(r.Context(), h.o.ReceiveTimeout)
	defer cancel()
	first, marked := h.markDelivery(ctx, key, a.DeliveryID)
	if !first {
		reply(http.StatusOK, "duplicate")
		done(h.log.Info(), http.StatusOK, "duplicate", "webhook already received; skipped", fields)
		return
	}

	if err := h.receiver.Receive(ctx, a); err != nil {
		if marked {
			h.forgetDelivery(r, key, a.DeliveryID)
		}
		reply(http.StatusServiceUnavailable, "try again later")
		done(h.log.Error(), http.StatusServiceUnavailable, "receiver_failed", "webhook could not be kept", func(e *zerolog.Event) { fields(e); e.Err(err) })
		return
	}
	reply(http.StatusOK, "ok")
	done(h.log.Info(), http.StatusOK, "accepted", "webhook received", fields)
}

// logDone writes the log line of a request and counts its outcome.
type logDone func(ev *zerolog.Event, status int, outcome, msg string, fields func(*zerolog.Event))

// installation answers an installation webhook: it hands "created" and
// "deleted" to Installations, when there is one. The grant code is never
// logged.
func (h *handler) installation(r *http.Request, action string, in installation, delivery string, reply func(int, string), done logDone) {
	fields := func(e *zerolog.Event) {
		e.Str("action", action).Str("installation", in.UUID).Str("org", in.Org).Str("delivery_id", delivery)
	}
	switch {
	case h.o.Installations == nil:
		reply(http.StatusOK, "ok")
		done(h.log.Info(), http.StatusOK, "installation", "sentry integration installation changed", fields)
		return
	case action != "created" && action != "deleted":
		reply(http.StatusOK, "ignored")
		done(h.log.Debug(), http.StatusOK, "ignored", "webhook ignored: nothing to do for this installation action", fields)
		return
	case in.UUID == "" || action == "created" && in.Code == "":
		reply(http.StatusBadRequest, "malformed payload")
		done(h.log.Warn(), http.StatusBadRequest, "malformed", "webhook refused: installation payload lacks data.installation.uuid or, when created, its code", fields)
		return
	}

	key := "webhook:" + delivery
	// The exchange runs to its end even if Sentry hangs up: a grant code
	// Sentry has taken but whose token never arrived cannot be used again.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.o.InstallTimeout)
	defer cancel()
	first, marked := h.markDelivery(ctx, key, delivery)
	if !first {
		reply(http.StatusOK, "duplicate")
		done(h.log.Info(), http.StatusOK, "duplicate", "webhook already received; skipped", fields)
		return
	}
	fail := func(err error) {
		if marked {
			h.forgetDelivery(r, key, delivery)
		}
		reply(http.StatusServiceUnavailable, "try again later")
		done(h.log.Error(), http.StatusServiceUnavailable, "installation_failed", "sentry integration "+action+" webhook could not be handled", func(e *zerolog.Event) { fields(e); e.Err(err) })
	}

	if action == "deleted" {
		if err := h.o.Installations.Uninstalled(ctx, in.UUID); err != nil {
			fail(err)
			return
		}
		reply(http.StatusOK, "ok")
		done(h.log.Info(), http.StatusOK, "installation", "sentry integration uninstalled", fields)
		return
	}
	taken, err := h.o.Installations.Installed(ctx, in.UUID, in.Org, in.Code)
	switch {
	case err != nil:
		fail(err)
	case !taken:
		reply(http.StatusForbidden, "refused")
		done(h.log.Warn(), http.StatusForbidden, "installation_refused", "sentry integration installation refused", fields)
	default:
		reply(http.StatusOK, "ok")
		done(h.log.Info(), http.StatusOK, "installation", "sentry integration installed", fields)
	}
}

// deliveryID names a delivery by Sentry's Request-ID, the same on Sentry's
// retries of it. Without one, by a hash of its signature (the same for the
// same body); the signature itself never reaches a log. Keying on the body
// always would drop a legitimate repeat: an issue resolved, reopened and
// resolved again can send byte-identical bodies.
func deliveryID(requestID, signature string) string {
	if requestID != "" {
		return requestID
	}
	sum := sha256.Sum256([]byte(signature))
	return "sig-" + hex.EncodeToString(sum[:16])
}

// markDelivery records the delivery key. first is false for a delivery
// already taken; marked says whether the key was recorded, and so must be
// forgotten if the work fails.
func (h *handler) markDelivery(ctx context.Context, key, delivery string) (first, marked bool) {
	if h.replays == nil {
		return true, false
	}
	first, err := h.replays.MarkSeen(ctx, key, h.o.ReplayTTL)
	if err != nil {
		// A possible duplicate is better than a lost alert.
		h.log.Warn().Err(err).Str("delivery_id", delivery).Msg("could not record webhook delivery; accepting without replay check")
		return true, false
	}
	return first, first
}

// forgetDelivery drops the key of a delivery whose work failed: Sentry
// retries it with the same Request-ID, and it must be taken then. The
// request's context may be gone.
func (h *handler) forgetDelivery(r *http.Request, key, delivery string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Second)
	defer cancel()
	if err := h.replays.ForgetSeen(ctx, key); err != nil {
		h.log.Error().Err(err).Str("delivery_id", delivery).Msg("could not forget webhook delivery; a retry of it will be skipped")
	}
}

func resourceLabel(resource string) string {
	switch resource {
	case ResourceEventAlert, ResourceIssue, ResourceInstallation:
		return resource
	}
	return "other"
}

// checkTimestamp returns why the Sentry-Hook-Timestamp value is refused, or
// "". The value is epoch seconds; a fraction is tolerated.
func (h *handler) checkTimestamp(v string, now time.Time) string {
	if v == "" {
		return "missing timestamp"
	}
	var at time.Time
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		at = time.Unix(secs, 0)
	} else {
		// ParseFloat also takes "NaN", "Inf" and hex floats; only plain
		// decimal digits are a timestamp.
		if strings.Trim(v, "0123456789.") != "" {
			return "unparseable timestamp"
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f > math.MaxInt64/2 {
			return "unparseable timestamp"
		}
		sec, frac := math.Modf(f)
		at = time.Unix(int64(sec), int64(frac*1e9))
	}
	skew := now.Sub(at)
	if skew > h.o.MaxSkew {
		return "stale timestamp"
	}
	if skew < -h.o.MaxSkew {
		return "timestamp in the future"
	}
	return ""
}
