package httpapi

import "net/http"

// Stub handlers: being written (see issue 2).
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error { return errNotImplemented }
