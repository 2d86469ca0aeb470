package httpapi

import "net/http"

// Stub handlers: being written (see issue 2).
func (s *Server) sendEvents(w http.ResponseWriter, r *http.Request) error   { return errNotImplemented }
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error   { return errNotImplemented }
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) error { return errNotImplemented }
