package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/hangar-dev/hangar"
)

// encode writes v as JSON with the given status.
func encode(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON object body into v, capping its size and rejecting unknown fields.
// Errors are invalid_request_error (request_too_large for oversized bodies) naming the field.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return hangar.Errorf(hangar.KindTooLarge, "request body exceeds %d bytes", s.cfg.MaxBodyBytes)
		}
		return hangar.Errorf(hangar.KindInvalidRequest, "read body: %v", err)
	}
	return decodeBytes(body, v)
}

// decodeBytes is decode on an in-memory body.
func decodeBytes(body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return hangar.Errorf(hangar.KindInvalidRequest, "request body is empty; expected a JSON object")
	}
	if trimmed[0] != '{' {
		return hangar.Errorf(hangar.KindInvalidRequest, "request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return hangar.Errorf(hangar.KindInvalidRequest, "request body has data after the JSON object")
	}
	return nil
}

// jsonError turns a json decoding error into a client message with the field path.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return hangar.Errorf(hangar.KindInvalidRequest, "%s: expected %s, got %s", field, jsonKind(te.Type.String()), te.Value)
	case errors.As(err, &se):
		return hangar.Errorf(hangar.KindInvalidRequest, "invalid JSON at byte %d: %v", se.Offset, se)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return hangar.Errorf(hangar.KindInvalidRequest, "%s: extra inputs are not permitted", strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return hangar.Errorf(hangar.KindInvalidRequest, "invalid JSON: unexpected end of input")
	}
	var he *hangar.Error
	if errors.As(err, &he) {
		return he
	}
	return hangar.Errorf(hangar.KindInvalidRequest, "invalid JSON: %v", err)
}

func jsonKind(goType string) string {
	switch {
	case goType == "string" || strings.HasSuffix(goType, "String"):
		return "string"
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "float") || strings.HasPrefix(goType, "uint"):
		return "number"
	case goType == "bool":
		return "boolean"
	case strings.HasPrefix(goType, "[]"):
		return "array"
	case strings.HasPrefix(goType, "map[") || strings.Contains(goType, "."):
		return "object"
	}
	return fmt.Sprint(goType)
}
