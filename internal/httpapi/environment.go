package httpapi

import "net/http"

// Stub handlers: being written (see issue 2).
func (s *Server) createEnvironment(w http.ResponseWriter, r *http.Request) error {
	return errNotImplemented
}
func (s *Server) listEnvironments(w http.ResponseWriter, r *http.Request) error {
	return errNotImplemented
}
func (s *Server) getEnvironment(w http.ResponseWriter, r *http.Request) error {
	return errNotImplemented
}
func (s *Server) updateEnvironment(w http.ResponseWriter, r *http.Request) error {
	return errNotImplemented
}
func (s *Server) deleteEnvironment(w http.ResponseWriter, r *http.Request) error {
	return errNotImplemented
}
func (s *Server) archiveEnvironment(w http.ResponseWriter, r *http.Request) error {
	return errNotImplemented
}
