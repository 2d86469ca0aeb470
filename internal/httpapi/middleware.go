package httpapi

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/hangar-dev/hangar"
)

// middleware wraps every request: a request-id header, panic recovery, access log, and
// API-key auth for everything under /v1.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		reqID := s.newID(hangar.PrefixRequest)
		w.Header().Set("request-id", reqID)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(r.Context(), "panic", "request_id", reqID, "panic", p)
				if !sw.wrote {
					s.writeError(sw, r, hangar.Errorf(hangar.KindInternal, "panic"))
				}
			}
			s.log.DebugContext(r.Context(), "request", "request_id", reqID, "method", r.Method, "path", r.URL.Path,
				"status", sw.status, "duration", time.Since(start))
		}()
		if strings.HasPrefix(r.URL.Path, "/v1/") && !s.authorized(r) {
			// Not the API key: maybe a self-hosted worker's scoped credential (work_auth.go).
			if err := s.authorizeScoped(r); err != nil {
				s.writeError(sw, r, err)
				return
			}
		}
		next.ServeHTTP(sw, r)
	})
}

// authorized accepts the admin key as x-api-key or as an Authorization bearer token.
func (s *Server) authorized(r *http.Request) bool {
	key := r.Header.Get("x-api-key")
	if key == "" {
		if auth := r.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
			key = strings.TrimSpace(auth[7:])
		}
	}
	return key != "" && subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.APIKey)) == 1
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Flush lets SSE handlers flush through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
