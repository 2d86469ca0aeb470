package fakemodel

import "net/http"

// responses serves the OpenAI Responses API (POST /v1/responses).
func (s *Server) responses(w http.ResponseWriter, r *http.Request, req Request) {
	writeError(w, &APIError{Status: http.StatusNotImplemented, Type: "api_error", Message: "fakemodel: the Responses API is not implemented yet"})
}
