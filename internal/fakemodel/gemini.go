package fakemodel

import "net/http"

// gemini serves the Gemini API (POST /v1beta/models/{model}:generateContent and
// :streamGenerateContent).
func (s *Server) gemini(w http.ResponseWriter, r *http.Request, req Request) {
	writeError(w, &APIError{Status: http.StatusNotImplemented, Type: "api_error", Message: "fakemodel: the Gemini API is not implemented yet"})
}
