package httpapi

import (
	"net/http"

	"github.com/hangar-dev/hangar"
)

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil && !s.cfg.Ready() {
		encode(w, http.StatusServiceUnavailable, map[string]string{"status": "starting"})
		return
	}
	encode(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) error {
	return hangar.Errorf(hangar.KindNotFound, "no route for %s %s", r.Method, r.URL.Path)
}
