package httpapi

import "net/http"

// Stub handlers: being written (see issue 2).
func (s *Server) createVault(w http.ResponseWriter, r *http.Request) error  { return errNotImplemented }
func (s *Server) listVaults(w http.ResponseWriter, r *http.Request) error   { return errNotImplemented }
func (s *Server) getVault(w http.ResponseWriter, r *http.Request) error     { return errNotImplemented }
func (s *Server) updateVault(w http.ResponseWriter, r *http.Request) error  { return errNotImplemented }
func (s *Server) deleteVault(w http.ResponseWriter, r *http.Request) error  { return errNotImplemented }
func (s *Server) archiveVault(w http.ResponseWriter, r *http.Request) error { return errNotImplemented }
