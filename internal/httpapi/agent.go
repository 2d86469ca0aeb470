package httpapi

import "net/http"

// Stub handlers: being written (see issue 2).
func (s *Server) createAgent(w http.ResponseWriter, r *http.Request) error  { return errNotImplemented }
func (s *Server) listAgents(w http.ResponseWriter, r *http.Request) error   { return errNotImplemented }
func (s *Server) getAgent(w http.ResponseWriter, r *http.Request) error     { return errNotImplemented }
func (s *Server) updateAgent(w http.ResponseWriter, r *http.Request) error  { return errNotImplemented }
func (s *Server) archiveAgent(w http.ResponseWriter, r *http.Request) error { return errNotImplemented }
func (s *Server) listAgentVersions(w http.ResponseWriter, r *http.Request) error {
	return errNotImplemented
}
