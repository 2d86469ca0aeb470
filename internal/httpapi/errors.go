package httpapi

import (
	"errors"
	"net/http"

	"github.com/hangar-dev/hangar"
)

// handlerFunc is a handler that returns its error; adapt turns it into an http.Handler.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) adapt(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

type errorBody struct {
	Type      string      `json:"type"`
	Error     errorDetail `json:"error"`
	RequestID string      `json:"request_id,omitempty"`
}

type errorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// statusOf maps a Kind to its HTTP status and wire error type. Conflicts go out as
// invalid_request_error with 409, as Anthropic's agents and sessions APIs do.
func statusOf(k hangar.Kind) (int, string) {
	switch k {
	case hangar.KindInvalidRequest:
		return http.StatusBadRequest, string(k)
	case hangar.KindAuthentication:
		return http.StatusUnauthorized, string(k)
	case hangar.KindPermission:
		return http.StatusForbidden, string(k)
	case hangar.KindNotFound:
		return http.StatusNotFound, string(k)
	case hangar.KindConflict:
		return http.StatusConflict, string(hangar.KindInvalidRequest)
	case hangar.KindMemoryPathConflict, hangar.KindMemoryPrecondition:
		return http.StatusConflict, string(k)
	case hangar.KindTooLarge:
		return http.StatusRequestEntityTooLarge, string(k)
	case hangar.KindRateLimit:
		return http.StatusTooManyRequests, string(k)
	case hangar.KindUnavailable:
		return 529, string(k)
	default:
		return http.StatusInternalServerError, string(hangar.KindInternal)
	}
}

// writeError is the one place errors become HTTP responses. Classified errors show their
// message; anything else is logged with the request ID and answered generically.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var he *hangar.Error
	kind := hangar.KindInternal
	msg := "internal server error"
	if errors.As(err, &he) && he.Kind != hangar.KindInternal {
		kind, msg = he.Kind, he.Message
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		kind, msg = hangar.KindTooLarge, "request body too large"
	}
	status, typ := statusOf(kind)
	reqID := w.Header().Get("request-id")
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "request_id", reqID, "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusConflict {
		// Deterministic conflicts: tell the SDKs not to replay the request.
		w.Header().Set("x-should-retry", "false")
	}
	encode(w, status, errorBody{Type: "error", Error: errorDetail{Type: typ, Message: msg}, RequestID: reqID})
}
