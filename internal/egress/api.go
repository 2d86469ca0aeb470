package egress

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/hangar-dev/hangar"
)

// The proxy serves three model APIs on every listener, told apart by the request's path
// (the CLIs all get the same base URL):
//
//   - Anthropic Messages: /v1/messages…, and every other /v1/ path not listed below;
//   - OpenAI: /v1/responses…, /v1/chat/completions…;
//   - Gemini: /v1beta/…, /v1alpha/…, /upload/v1beta/…, and /v1/models/{model}:{method}.
//
// /v1/models and /v1/models/{id} exist in all three APIs; they go by the request's auth
// style (see route).

// api is one of the model APIs the proxy serves.
type api int

const (
	apiAnthropic api = iota
	apiOpenAI
	apiGemini
	numAPIs
)

func (v api) String() string {
	switch v {
	case apiOpenAI:
		return "openai"
	case apiGemini:
		return "gemini"
	default:
		return "anthropic"
	}
}

// Default upstreams of the OpenAI and Gemini APIs (Config.OpenAIUpstream, GeminiUpstream).
const (
	DefaultOpenAIUpstream = "https://api.openai.com"
	DefaultGeminiUpstream = "https://generativelanguage.googleapis.com"
)

// Error messages of model requests when neither the session nor the server has a
// credential for the API they call.
const (
	NoOpenAICredentialMessage = "no upstream credential: set OPENAI_API_KEY on the Hangar server, or add an OPENAI_API_KEY environment_variable credential to one of the session's vaults"
	NoGeminiCredentialMessage = "no upstream credential: set GEMINI_API_KEY on the Hangar server, or add a GEMINI_API_KEY environment_variable credential to one of the session's vaults"
)

// route returns the model API a request in origin form is for; ok is false for paths
// that belong to none.
func route(r *http.Request) (v api, ok bool) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/v1beta/"), strings.HasPrefix(p, "/v1alpha/"), strings.HasPrefix(p, "/upload/v1beta/"):
		return apiGemini, true
	case p == "/v1/responses", strings.HasPrefix(p, "/v1/responses/"),
		p == "/v1/chat/completions", strings.HasPrefix(p, "/v1/chat/completions/"):
		return apiOpenAI, true
	case p == "/v1/models", strings.HasPrefix(p, "/v1/models/"):
		if strings.Contains(strings.TrimPrefix(p, "/v1/models/"), ":") {
			return apiGemini, true // /v1/models/gemini-2.5-pro:generateContent
		}
		return routeAmbiguous(r), true
	case strings.HasPrefix(p, "/v1/"):
		return apiAnthropic, true
	}
	return 0, false
}

// routeAmbiguous picks the API of a path all three share (/v1/models) by its auth style:
// x-api-key or anthropic-version means Anthropic; x-goog-api-key or ?key= means Gemini;
// Authorization: Bearer alone means OpenAI; anything else stays Anthropic.
func routeAmbiguous(r *http.Request) api {
	h := r.Header
	switch {
	case h.Get("X-Api-Key") != "" || h.Get("Anthropic-Version") != "":
		return apiAnthropic
	case h.Get("X-Goog-Api-Key") != "" || r.URL.Query().Has("key"):
		return apiGemini
	case bearer(h) != "":
		return apiOpenAI
	}
	return apiAnthropic
}

// bearer returns the token of an Authorization: Bearer header, or "".
func bearer(h http.Header) string {
	if auth := h.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		return strings.TrimSpace(auth[7:])
	}
	return ""
}

// presentedToken returns the API key a request presents in v's auth style: Anthropic
// x-api-key (or Authorization: Bearer), OpenAI Authorization: Bearer, Gemini
// x-goog-api-key (or the key query parameter).
func presentedToken(v api, r *http.Request) string {
	switch v {
	case apiOpenAI:
		return bearer(r.Header)
	case apiGemini:
		if k := r.Header.Get("X-Goog-Api-Key"); k != "" {
			return k
		}
		return r.URL.Query().Get("key")
	default:
		if k := r.Header.Get("X-Api-Key"); k != "" {
			return k
		}
		return bearer(r.Header)
	}
}

// validToken reports whether r carries the session token in v's auth style (constant-time
// compare).
func (a *Attachment) validToken(v api, r *http.Request) bool {
	got := presentedToken(v, r)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(a.Token)) == 1
}

// credentials are a session's upstream credentials, one set per API.
type credentials struct {
	// Anthropic: apiKey (x-api-key), else authToken (Authorization: Bearer).
	apiKey, authToken hangar.Secret
	openAIKey         hangar.Secret // Authorization: Bearer
	geminiKey         hangar.Secret // x-goog-api-key
}

// has reports whether there is a credential for v.
func (c *credentials) has(v api) bool {
	switch v {
	case apiOpenAI:
		return c.openAIKey != ""
	case apiGemini:
		return c.geminiKey != ""
	default:
		return c.apiKey != "" || c.authToken != ""
	}
}

// set adds v's credential to the outgoing headers h.
func (c *credentials) set(v api, h http.Header) {
	switch v {
	case apiOpenAI:
		h.Set("Authorization", "Bearer "+c.openAIKey.Reveal())
	case apiGemini:
		h.Set("X-Goog-Api-Key", c.geminiKey.Reveal())
	default:
		if c.apiKey != "" {
			h.Set("X-Api-Key", c.apiKey.Reveal())
		} else {
			h.Set("Authorization", "Bearer "+c.authToken.Reveal())
		}
	}
}

// noCredentialMessage is the 401 message for a request to v without a credential.
func noCredentialMessage(v api) string {
	switch v {
	case apiOpenAI:
		return NoOpenAICredentialMessage
	case apiGemini:
		return NoGeminiCredentialMessage
	default:
		return NoCredentialMessage
	}
}

// withoutQueryParam returns rawQuery without its name parameters, leaving the rest as
// sent (url.Values.Encode would reorder and re-escape it).
func withoutQueryParam(rawQuery, name string) string {
	if rawQuery == "" {
		return ""
	}
	parts := strings.Split(rawQuery, "&")
	kept := parts[:0]
	for _, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if k != name {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, "&")
}

// errorKind is what went wrong, for writeError to put in v's error shape.
type errorKind int

const (
	errUnauthenticated errorKind = iota
	errNotFound
	errUpstream
)

// errorShapes gives, per errorKind, the HTTP status and each API's words for it: the
// Anthropic error type, the OpenAI error type and code, the Gemini status.
var errorShapes = [...]struct {
	status                            int
	anthropic, openAIType, openAICode string
	geminiStatus                      string
}{
	errUnauthenticated: {http.StatusUnauthorized, "authentication_error", "invalid_request_error", "invalid_api_key", "UNAUTHENTICATED"},
	errNotFound:        {http.StatusNotFound, "not_found_error", "invalid_request_error", "not_found", "NOT_FOUND"},
	errUpstream:        {http.StatusBadGateway, "api_error", "server_error", "bad_gateway", "UNAVAILABLE"},
}

// writeError writes an error in the shape of v's API: Anthropic
// {"type":"error","error":{"type","message"}}, OpenAI {"error":{"message","type","code"}},
// Gemini {"error":{"code","message","status"}}.
func writeError(w http.ResponseWriter, v api, kind errorKind, msg string) {
	e := errorShapes[kind]
	var body any
	switch v {
	case apiOpenAI:
		body = map[string]any{"error": map[string]any{"message": msg, "type": e.openAIType, "param": nil, "code": e.openAICode}}
	case apiGemini:
		body = map[string]any{"error": map[string]any{"code": e.status, "message": msg, "status": e.geminiStatus}}
	default:
		body = map[string]any{"type": "error", "error": map[string]string{"type": e.anthropic, "message": msg}}
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	if e.status < 500 {
		w.Header().Set("X-Should-Retry", "false") // retrying cannot fix it
	}
	w.WriteHeader(e.status)
	w.Write(b)
}
