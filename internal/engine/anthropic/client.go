package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// Headers every Managed Agents call carries (managed-agents-api.md §1.1).
const (
	apiVersion = "2023-06-01"
	betaHeader = "managed-agents-2026-04-01"
)

// requestTimeout bounds one remote call other than the event stream.
const requestTimeout = 2 * time.Minute

// client calls the remote Managed Agents API with plain net/http: the engine forwards raw
// event JSON, so typed SDK structs would only get in the way, and another Hangar (which adds
// fields such as engine) is as valid a remote as Anthropic's.
type client struct {
	base string // without a trailing slash
	key  hangar.Secret
	http *http.Client
}

// apiError is an error answer of the remote API.
type apiError struct {
	Status    int
	Type      string // error.type of the envelope, "" when the body was not one
	Message   string // error.message; may be shown only after classification (see engineError)
	RequestID string
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("remote managed agents api: %d", e.Status)
	if e.Type != "" {
		s += " " + e.Type
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request-id " + e.RequestID + ")"
	}
	return s
}

func (c *client) newRequest(ctx context.Context, method, path string, q url.Values, body any) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		r = bytes.NewReader(b)
	}
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("x-api-key", c.key.Reveal())
	req.Header.Set("anthropic-version", apiVersion)
	req.Header.Set("anthropic-beta", betaHeader)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// do sends one JSON request and decodes a 200 answer into out (when non-nil). Error answers
// become *apiError.
func (c *client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := c.newRequest(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return readAPIError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// readAPIError reads a non-200 answer in the Anthropic error envelope.
func readAPIError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &apiError{Status: resp.StatusCode, RequestID: resp.Header.Get("request-id")}
	var env struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &env) == nil {
		e.Type, e.Message = env.Error.Type, env.Error.Message
	}
	return e
}

// page is a Managed Agents list answer.
type page[T any] struct {
	Data     []T     `json:"data"`
	NextPage *string `json:"next_page"`
}

// list calls a list endpoint page by page until found returns true or the pages end.
func list[T any](ctx context.Context, c *client, path string, q url.Values, found func(T) bool) error {
	if q == nil {
		q = url.Values{}
	}
	q.Set("limit", "100")
	for {
		var p page[T]
		if err := c.do(ctx, http.MethodGet, path, q, nil, &p); err != nil {
			return err
		}
		for _, item := range p.Data {
			if found(item) {
				return nil
			}
		}
		if p.NextPage == nil || *p.NextPage == "" || len(p.Data) == 0 {
			return nil
		}
		q.Set("page", *p.NextPage)
	}
}

// isStatus reports whether err is a remote answer with the given status.
func isStatus(err error, status int) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == status
}

// engineError classifies a failed remote call as the session error a client sees. The
// message names the HTTP status and the remote's error type but not its message, which
// could echo request details; the full error stays in Err for the server log.
func engineError(what string, err error) *engine.Error {
	var ae *apiError
	if !errors.As(err, &ae) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return &engine.Error{Type: "unknown_error", Message: what + ": the request to the remote Managed Agents API was cancelled", Err: err}
		}
		return &engine.Error{Type: "model_request_failed_error", Message: what + ": the remote Managed Agents API could not be reached", Err: err}
	}
	detail := fmt.Sprintf("%d", ae.Status)
	if ae.Type != "" {
		detail += " " + ae.Type
	}
	typ, text := "unknown_error", "the remote Managed Agents API rejected the request"
	switch {
	case ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden:
		text = "the remote Managed Agents API refused the server's credentials"
	case ae.Status == http.StatusNotFound:
		text = "the remote Managed Agents API does not know the resource"
	case ae.Status == http.StatusTooManyRequests:
		typ, text = "model_rate_limited_error", "the remote Managed Agents API is rate limiting requests"
	case ae.Status == 529 || ae.Status == http.StatusServiceUnavailable || ae.Type == "overloaded_error":
		typ, text = "model_overloaded_error", "the remote Managed Agents API is overloaded"
	case ae.Type == "billing_error" || ae.Status == http.StatusPaymentRequired:
		typ, text = "billing_error", "the remote Managed Agents API reported a billing problem"
	case ae.Status >= 500:
		typ, text = "model_request_failed_error", "the remote Managed Agents API failed"
	}
	return &engine.Error{Type: typ, Message: what + ": " + text + " (" + strings.TrimSpace(detail) + ")", Err: err}
}
