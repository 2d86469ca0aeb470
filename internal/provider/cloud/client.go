package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/hangar-dev/hangar"
)

// Client calls one vendor's JSON HTTP API.
type Client struct {
	Vendor  string      // names the vendor in errors
	BaseURL string      // without a trailing slash
	Header  http.Header // sent with every request (auth)
	Query   url.Values  // added to every request (e.g. Vercel's teamId)
	HTTP    *http.Client
}

// JSON sends body (nil for none) as JSON and decodes a 2xx response into out (nil to
// discard). Non-2xx statuses become classified errors (StatusError).
func (c *Client) JSON(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s: encode request: %w", c.Vendor, err)
		}
		r = bytes.NewReader(b)
	}
	resp, err := c.Do(ctx, method, path, query, "application/json", r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s: decode %s %s response: %w", c.Vendor, method, path, err)
	}
	return nil
}

// Do sends a request and returns the response when its status is 2xx; the caller closes
// its body.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, contentType string, body io.Reader) (*http.Response, error) {
	req, err := c.Request(ctx, method, path, query, contentType, body)
	if err != nil {
		return nil, err
	}
	return c.Send(req)
}

// Request builds a request with the client's headers and query.
func (c *Client) Request(ctx context.Context, method, path string, query url.Values, contentType string, body io.Reader) (*http.Request, error) {
	u := c.BaseURL + path
	q := url.Values{}
	for k, v := range c.Query {
		q[k] = v
	}
	for k, v := range query {
		q[k] = v
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Vendor, err)
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
	if contentType != "" && body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	return req, nil
}

// Send sends req, returning the response when its status is 2xx.
func (c *Client) Send(req *http.Request) (*http.Response, error) {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, &hangar.Error{Kind: hangar.KindUnavailable, Message: c.Vendor + " API unreachable", Err: err}
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, StatusError(c.Vendor, req.Method+" "+req.URL.Path, resp)
	}
	return resp, nil
}

// StatusError classifies a vendor's non-2xx response. 404 is not_found (a sandbox or
// file that is gone); credentials the vendor rejects are the server's misconfiguration,
// not the API client's, so 401/403 are api_error.
func StatusError(vendor, what string, resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := vendorMessage(body)
	kind := hangar.KindInternal
	switch code := resp.StatusCode; {
	case code == http.StatusNotFound:
		kind = hangar.KindNotFound
	case code == http.StatusBadRequest || code == http.StatusUnprocessableEntity:
		kind = hangar.KindInvalidRequest
	case code == http.StatusConflict:
		kind = hangar.KindConflict
	case code == http.StatusTooManyRequests:
		kind = hangar.KindRateLimit
	case code >= 500:
		kind = hangar.KindUnavailable
	}
	return &hangar.Error{Kind: kind, Message: fmt.Sprintf("%s: %s: %s", vendor, resp.Status, msg), Err: fmt.Errorf("%s", what)}
}

// vendorMessage extracts the message of the error bodies vendors send: {"message"},
// {"error": {"message"}} or {"error": "..."}; otherwise the body's first line.
func vendorMessage(body []byte) string {
	var e struct {
		Message string          `json:"message"`
		Error   json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil {
		if e.Message != "" {
			return e.Message
		}
		var inner struct {
			Message string `json:"message"`
		}
		var s string
		if json.Unmarshal(e.Error, &inner) == nil && inner.Message != "" {
			return inner.Message
		} else if json.Unmarshal(e.Error, &s) == nil && s != "" {
			return s
		}
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	if len(line) > 200 {
		line = line[:200]
	}
	return line
}
