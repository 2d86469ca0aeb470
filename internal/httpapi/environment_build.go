package httpapi

import (
	"net/http"

	"github.com/hangar-dev/hangar"
)

// Builds are environment builds (internal/envbuild.Manager): config.packages installed
// once into a layer the environment's sessions start from.
type Builds interface {
	// Status returns env's build state ("preparing", "ready", "failed"; "" when it has
	// nothing to build) and a failure's message, starting the build if none is known.
	Status(env *hangar.Environment) (state, message string)
	// Log returns the build's log so far (nil when there is nothing to build).
	Log(env *hangar.Environment) ([]byte, error)
}

// environmentView is an environment's response with its build state.
func (s *Server) environmentView(e *hangar.Environment) environmentWire {
	out := environmentOut(e)
	if s.cfg.Builds != nil && e.ArchivedAt == nil {
		out.State, out.StateMessage = s.cfg.Builds.Status(e)
	}
	return out
}

// environmentBuildLog serves GET /v1/environments/{id}/build_log: the build's progress
// log as text, with its state in the Hangar-Build-State header. An environment without
// packages (or a server without builds) has an empty log.
func (s *Server) environmentBuildLog(w http.ResponseWriter, r *http.Request) error {
	e, err := s.store.GetEnvironment(r.Context(), pathID(r, "environment_id"))
	if err != nil {
		return err
	}
	var log []byte
	if s.cfg.Builds != nil {
		state, _ := s.cfg.Builds.Status(e)
		w.Header().Set("Hangar-Build-State", state)
		if log, err = s.cfg.Builds.Log(e); err != nil {
			return err
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(log)
	return nil
}
