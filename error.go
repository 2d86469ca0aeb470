package hangar

import (
	"errors"
	"fmt"
)

// Kind classifies an error. Its values are the Anthropic error envelope's "type" strings,
// so internal/httpapi maps a Kind to an HTTP status in one place.
type Kind string

const (
	KindInvalidRequest Kind = "invalid_request_error" // 400
	KindAuthentication Kind = "authentication_error"  // 401
	KindPermission     Kind = "permission_error"      // 403
	KindNotFound       Kind = "not_found_error"       // 404
	KindConflict       Kind = "conflict_error"        // 409, sent as invalid_request_error (see httpapi)
	KindTooLarge       Kind = "request_too_large"     // 413
	KindRateLimit      Kind = "rate_limit_error"      // 429
	KindInternal       Kind = "api_error"             // 500
	KindUnavailable    Kind = "overloaded_error"      // 529/503
)

// Error is a classified error. Message is safe to show to API clients; Err, if any, is the
// underlying cause and is only logged.
type Error struct {
	Kind    Kind
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns a classified error with a formatted, client-visible message.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// ErrorKind returns the Kind of the first *Error in err's chain, or KindInternal.
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// IsKind reports whether err is classified as kind.
func IsKind(err error, kind Kind) bool { return err != nil && ErrorKind(err) == kind }

// NotFound returns a not_found_error naming the resource.
func NotFound(what, id string) *Error {
	return Errorf(KindNotFound, "%s %s not found", what, id)
}
