package httpapi

import "net/http"

// Stub handlers: being written (see issue 2).
func (s *Server) createCredential(w http.ResponseWriter, r *http.Request) error {
	return errNotImplemented
}
func (s *Server) listCredentials(w http.ResponseWriter, r *http.Request) error {
	return errNotImplemented
}
func (s *Server) getCredential(w http.ResponseWriter, r *http.Request) error {
	return errNotImplemented
}
func (s *Server) updateCredential(w http.ResponseWriter, r *http.Request) error {
	return errNotImplemented
}
func (s *Server) deleteCredential(w http.ResponseWriter, r *http.Request) error {
	return errNotImplemented
}
func (s *Server) archiveCredential(w http.ResponseWriter, r *http.Request) error {
	return errNotImplemented
}
