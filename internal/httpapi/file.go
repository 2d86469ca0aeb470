package httpapi

import "net/http"

// Stub handlers: being written (see issue 2).
func (s *Server) uploadFile(w http.ResponseWriter, r *http.Request) error   { return errNotImplemented }
func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) error    { return errNotImplemented }
func (s *Server) getFile(w http.ResponseWriter, r *http.Request) error      { return errNotImplemented }
func (s *Server) downloadFile(w http.ResponseWriter, r *http.Request) error { return errNotImplemented }
func (s *Server) deleteFile(w http.ResponseWriter, r *http.Request) error   { return errNotImplemented }
