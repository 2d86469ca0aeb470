package httpapi

import "net/http"

// Stub handlers: being written (see issue 2).
func (s *Server) createSession(w http.ResponseWriter, r *http.Request) error {
	return errNotImplemented
}
func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) error { return errNotImplemented }
func (s *Server) getSession(w http.ResponseWriter, r *http.Request) error   { return errNotImplemented }
func (s *Server) updateSession(w http.ResponseWriter, r *http.Request) error {
	return errNotImplemented
}
func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) error {
	return errNotImplemented
}
func (s *Server) archiveSession(w http.ResponseWriter, r *http.Request) error {
	return errNotImplemented
}
