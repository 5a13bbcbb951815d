// Package web is sentrybot's optional HTTP listener: Sentry's webhooks,
// the health check and the metrics, plus routes added later (OAuth).
// Slack never needs it; it is for Sentry and for the operators' tools.
package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Options configure the listener. Nil handlers leave their route out.
type Options struct {
	Addr    string       // host:port; ":0" picks a free port
	Webhook http.Handler // mounted at POST /sentry/webhook
	// Healthy returns nil when the process can do its work; its error text
	// is shown to the caller of /healthz, so it must not hold secrets.
	// Nil means always healthy.
	Healthy func(ctx context.Context) error
	Metrics http.Handler // GET /metrics
	// Extra routes, keyed by http.ServeMux pattern ("GET /oauth/start").
	Extra map[string]http.Handler
	Log   zerolog.Logger
}

// Timeouts of the listener. Webhooks are small and answered within a
// second, so nothing needs long ones; they bound slow or idle clients.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 10 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 64 << 10
	shutdownTimeout   = 5 * time.Second
	healthTimeout     = 2 * time.Second
)

// Server is the HTTP listener. Serve it once.
type Server struct {
	o        Options
	log      zerolog.Logger
	handler  http.Handler
	routeErr error

	ready   chan struct{}
	mu      sync.Mutex
	addr    string
	started bool
}

// New builds the routes. It makes no network call; Serve listens.
func New(o Options) *Server {
	s := &Server{o: o, log: o.Log.With().Str("component", "http").Logger(), ready: make(chan struct{})}
	mux := http.NewServeMux()
	if o.Webhook != nil {
		s.handle(mux, "POST /sentry/webhook", o.Webhook)
	}
	s.handle(mux, "GET /healthz", http.HandlerFunc(s.healthz))
	if o.Metrics != nil {
		s.handle(mux, "GET /metrics", o.Metrics)
	}
	for pattern, h := range o.Extra {
		s.handle(mux, pattern, h)
	}
	s.handler = s.accessLog(mux)
	return s
}

// handle registers a route; a bad or conflicting pattern (ServeMux panics)
// becomes the error Serve returns.
func (s *Server) handle(mux *http.ServeMux, pattern string, h http.Handler) {
	defer func() {
		if r := recover(); r != nil && s.routeErr == nil {
			s.routeErr = fmt.Errorf("web: route %q: %v", pattern, r)
		}
	}()
	mux.Handle(pattern, h)
}

// Handler returns the routes with access logging, for tests that want no
// listener.
func (s *Server) Handler() http.Handler { return s.handler }

// Ready is closed once Serve has bound its address or failed to.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the bound address once listening (after Ready is closed), or
// "" before that and if listening failed.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Serve listens on Options.Addr and serves until ctx ends, then shuts down
// gracefully: in-flight requests get up to 5 s to finish. It returns nil
// after a clean shutdown, and an error naming the address if it cannot
// listen.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("web: Serve called twice")
	}
	s.started = true
	s.mu.Unlock()

	if s.routeErr != nil {
		close(s.ready)
		return s.routeErr
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.o.Addr)
	if err != nil {
		close(s.ready)
		return fmt.Errorf("web: listen on %q: %w", s.o.Addr, err)
	}
	s.mu.Lock()
	s.addr = ln.Addr().String()
	s.mu.Unlock()
	close(s.ready)

	srv := s.httpServer(ctx)
	s.log.Info().Str("addr", s.addr).Msg("http listener started")

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		// Serve only returns early on a listener failure.
		return fmt.Errorf("web: serve on %s: %w", s.addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-served // http.ErrServerClosed once Shutdown has begun
	if err != nil {
		srv.Close()
		return fmt.Errorf("web: shutdown of %s: %w", s.addr, err)
	}
	s.log.Info().Str("addr", s.addr).Msg("http listener stopped")
	return nil
}

// httpServer is the net/http server with the listener's limits. Requests
// keep the values of ctx but not its end: when ctx ends, in-flight requests
// are let finish by Shutdown, not cut.
func (s *Server) httpServer(ctx context.Context) *http.Server {
	return &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          stdlog.New(errorLogWriter{s.log}, "", 0),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.o.Healthy != nil {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		if err := s.o.Healthy(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, err.Error()+"\n")
			return
		}
	}
	io.WriteString(w, "ok\n")
}

// accessLog logs each request at debug: method, path (never the query,
// which may carry OAuth codes), status and duration. Headers are never
// logged.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &statusWriter{ResponseWriter: w}
		defer func() {
			s.log.Debug().Str("method", r.Method).Str("path", r.URL.Path).
				Int("status", rw.statusCode()).Dur("duration", time.Since(start)).Msg("http request")
		}()
		next.ServeHTTP(rw, r)
	})
}

// statusWriter remembers the status written. Unwrap lets
// http.ResponseController reach the underlying writer (Flush, deadlines).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) statusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// errorLogWriter sends net/http's own messages (TLS handshake noise, bad
// requests it answers itself) to the logger at warn.
type errorLogWriter struct{ log zerolog.Logger }

func (e errorLogWriter) Write(p []byte) (int, error) {
	msg := string(p)
	if n := len(msg); n > 0 && msg[n-1] == '\n' {
		msg = msg[:n-1]
	}
	e.log.Warn().Msg(msg)
	return len(p), nil
}
