package egress_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/egress"
)

const (
	openAIKey hangar.Secret = "sk-proj-REAL-OPENAI-KEY-never-in-the-sandbox"
	geminiKey hangar.Secret = "AIza-REAL-GEMINI-KEY-never-in-the-sandbox"
)

// multiVendor points the OpenAI and Gemini upstreams at the fixture's upstream under
// /openai and /gemini, with the server's keys for both.
func multiVendor(c *egress.Config) {
	o, _ := url.Parse(c.Upstream.String() + "/openai")
	g, _ := url.Parse(c.Upstream.String() + "/gemini")
	c.OpenAIUpstream, c.OpenAIKey = o, openAIKey
	c.GeminiUpstream, c.GeminiKey = g, geminiKey
}

// vendorError decodes an error body in the OpenAI or Gemini shape and returns its message
// and type (OpenAI) or status (Gemini).
func vendorError(t *testing.T, api, body string) (msg, kind string) {
	t.Helper()
	var e struct {
		Error *struct {
			Message string          `json:"message"`
			Type    string          `json:"type"`
			Code    json.RawMessage `json:"code"`
			Status  string          `json:"status"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == nil || e.Error.Message == "" {
		t.Fatalf("not a %s error: %q", api, body)
	}
	switch api {
	case "openai":
		if e.Error.Type == "" || len(e.Error.Code) == 0 || e.Error.Status != "" {
			t.Errorf("not an OpenAI error: %q", body)
		}
		return e.Error.Message, e.Error.Type
	case "gemini":
		var code int
		if json.Unmarshal(e.Error.Code, &code) != nil || code == 0 || e.Error.Status == "" || e.Error.Type != "" {
			t.Errorf("not a Gemini error: %q", body)
		}
		return e.Error.Message, e.Error.Status
	}
	_, msg = apiError(t, body)
	return msg, ""
}

// vendorCase is one model request in a vendor's auth style.
type vendorCase struct {
	api        string
	method     string
	path       string // request path and query, the token replaced for "TOKEN"
	header     map[string]string
	wantPath   string // the upstream's path and query
	wantHeader string // the header carrying the real credential upstream
	wantValue  string
}

func vendorCases() []vendorCase {
	return []vendorCase{
		{api: "anthropic", method: "POST", path: "/v1/messages?beta=true", header: map[string]string{"x-api-key": "TOKEN"},
			wantPath: "/v1/messages?beta=true", wantHeader: "X-Api-Key", wantValue: realKey.Reveal()},
		{api: "openai", method: "POST", path: "/v1/responses", header: map[string]string{"Authorization": "Bearer TOKEN"},
			wantPath: "/openai/v1/responses", wantHeader: "Authorization", wantValue: "Bearer " + openAIKey.Reveal()},
		{api: "openai", method: "POST", path: "/v1/responses/compact", header: map[string]string{"Authorization": "Bearer TOKEN"},
			wantPath: "/openai/v1/responses/compact", wantHeader: "Authorization", wantValue: "Bearer " + openAIKey.Reveal()},
		{api: "openai", method: "POST", path: "/v1/chat/completions", header: map[string]string{"Authorization": "bearer TOKEN"},
			wantPath: "/openai/v1/chat/completions", wantHeader: "Authorization", wantValue: "Bearer " + openAIKey.Reveal()},
		{api: "gemini", method: "POST", path: "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", header: map[string]string{"x-goog-api-key": "TOKEN"},
			wantPath: "/gemini/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", wantHeader: "X-Goog-Api-Key", wantValue: geminiKey.Reveal()},
		{api: "gemini", method: "POST", path: "/v1beta/models/gemini-2.5-pro:generateContent?key=TOKEN&alt=sse&z=1", header: nil,
			wantPath: "/gemini/v1beta/models/gemini-2.5-pro:generateContent?alt=sse&z=1", wantHeader: "X-Goog-Api-Key", wantValue: geminiKey.Reveal()},
		{api: "gemini", method: "POST", path: "/v1/models/gemini-2.5-flash:generateContent?key=TOKEN", header: nil,
			wantPath: "/gemini/v1/models/gemini-2.5-flash:generateContent", wantHeader: "X-Goog-Api-Key", wantValue: geminiKey.Reveal()},
		{api: "gemini", method: "POST", path: "/upload/v1beta/files?key=TOKEN&uploadType=resumable", header: nil,
			wantPath: "/gemini/upload/v1beta/files?uploadType=resumable", wantHeader: "X-Goog-Api-Key", wantValue: geminiKey.Reveal()},
		// /v1/models is in all three APIs: the auth style decides.
		{api: "anthropic", method: "GET", path: "/v1/models", header: map[string]string{"x-api-key": "TOKEN"},
			wantPath: "/v1/models", wantHeader: "X-Api-Key", wantValue: realKey.Reveal()},
		{api: "anthropic", method: "GET", path: "/v1/models", header: map[string]string{"Authorization": "Bearer TOKEN", "anthropic-version": "2023-06-01"},
			wantPath: "/v1/models", wantHeader: "X-Api-Key", wantValue: realKey.Reveal()},
		{api: "openai", method: "GET", path: "/v1/models", header: map[string]string{"Authorization": "Bearer TOKEN"},
			wantPath: "/openai/v1/models", wantHeader: "Authorization", wantValue: "Bearer " + openAIKey.Reveal()},
		{api: "gemini", method: "GET", path: "/v1/models?key=TOKEN", header: nil,
			wantPath: "/gemini/v1/models", wantHeader: "X-Goog-Api-Key", wantValue: geminiKey.Reveal()},
	}
}

func (c vendorCase) request(t *testing.T, a *egress.Attachment, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), c.method, "http://"+a.TCPAddr+strings.ReplaceAll(c.path, "TOKEN", url.QueryEscape(token)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.method == "POST" {
		req.Body = io.NopCloser(strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		req.Header.Set(k, strings.ReplaceAll(v, "TOKEN", token))
	}
	resp, err := tcpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestVendorKeySwap checks each API's route: the request reaches that API's upstream (path
// and query kept, ?key= removed) with the real key in that API's header, and the session
// token goes nowhere upstream.
func TestVendorKeySwap(t *testing.T) {
	t.Parallel()
	for _, tt := range vendorCases() {
		t.Run(tt.api+" "+tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil, multiVendor)
			a := f.attach(hangar.Networking{})
			resp := tt.request(t, a, a.Token)
			if body := readAll(t, resp); resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d %s", resp.StatusCode, body)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("upstream got %d requests", len(reqs))
			}
			r := reqs[0]
			if got := r.URL.RequestURI(); got != tt.wantPath {
				t.Errorf("upstream URL = %s, want %s", got, tt.wantPath)
			}
			if got := r.Header.Get(tt.wantHeader); got != tt.wantValue {
				t.Errorf("upstream %s = %q, want the real %s key", tt.wantHeader, got, tt.api)
			}
			for _, h := range []string{"X-Api-Key", "Authorization", "X-Goog-Api-Key"} {
				if h != tt.wantHeader && r.Header.Get(h) != "" {
					t.Errorf("upstream also got %s", h)
				}
			}
			if strings.Contains(r.URL.String(), a.Token) {
				t.Errorf("upstream URL carries the session token")
			}
			for k, vs := range r.Header {
				for _, v := range vs {
					if strings.Contains(v, a.Token) {
						t.Errorf("upstream header %s carries the session token", k)
					}
				}
			}
		})
	}
}

// TestVendorTokenCheck checks that each API wants the session token in its own auth style
// and answers a bad one with a 401 in its own error shape, forwarding nothing.
func TestVendorTokenCheck(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, multiVendor)
	a := f.attach(hangar.Networking{})
	tests := []struct {
		name, api, path string
		header          map[string]string
	}{
		{"openai missing", "openai", "/v1/responses", nil},
		{"openai wrong bearer", "openai", "/v1/responses", map[string]string{"Authorization": "Bearer " + a.Token + "x"}},
		{"openai real key is not the token", "openai", "/v1/responses", map[string]string{"Authorization": "Bearer " + openAIKey.Reveal()}},
		{"openai token as x-api-key", "openai", "/v1/responses", map[string]string{"x-api-key": a.Token}},
		{"openai chat wrong bearer", "openai", "/v1/chat/completions", map[string]string{"Authorization": "Bearer nope"}},
		{"gemini missing", "gemini", "/v1beta/models/g:generateContent", nil},
		{"gemini wrong header", "gemini", "/v1beta/models/g:generateContent", map[string]string{"x-goog-api-key": "nope"}},
		{"gemini wrong key param", "gemini", "/v1beta/models/g:generateContent?key=nope", nil},
		{"gemini token as bearer", "gemini", "/v1beta/models/g:generateContent", map[string]string{"Authorization": "Bearer " + a.Token}},
		{"gemini token as x-api-key", "gemini", "/v1beta/models/g:generateContent", map[string]string{"x-api-key": a.Token}},
		{"anthropic token as x-goog-api-key", "anthropic", "/v1/messages", map[string]string{"x-goog-api-key": a.Token}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := post(t, tcpClient(), "http://"+a.TCPAddr+tt.path, tt.header, `{}`)
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status = %d %s, want 401", resp.StatusCode, body)
			}
			msg, kind := vendorError(t, tt.api, body)
			if !strings.Contains(msg, "invalid session token") {
				t.Errorf("message = %q", msg)
			}
			if want := map[string]string{"openai": "invalid_request_error", "gemini": "UNAUTHENTICATED"}[tt.api]; kind != want {
				t.Errorf("error kind = %q, want %q", kind, want)
			}
		})
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("upstream got %d unauthenticated requests", n)
	}
}

// TestVendorNoCredential checks that an API without a credential answers 401 in its shape,
// naming the variable to set, while the other APIs keep working.
func TestVendorNoCredential(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, func(c *egress.Config) {
		u, _ := url.Parse(c.Upstream.String() + "/openai")
		c.OpenAIUpstream = u
		c.APIKey = "" // only OpenAI has a key
		c.OpenAIKey = openAIKey
	})
	a := f.attach(hangar.Networking{})
	tests := []struct {
		api, path string
		header    map[string]string
		wantMsg   string
	}{
		{"anthropic", "/v1/messages", map[string]string{"x-api-key": a.Token}, egress.NoCredentialMessage},
		{"gemini", "/v1beta/models/g:streamGenerateContent?alt=sse", map[string]string{"x-goog-api-key": a.Token}, egress.NoGeminiCredentialMessage},
	}
	for _, tt := range tests {
		resp := post(t, tcpClient(), "http://"+a.TCPAddr+tt.path, tt.header, `{}`)
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: status = %d %s, want 401", tt.api, resp.StatusCode, body)
		}
		if msg, _ := vendorError(t, tt.api, body); msg != tt.wantMsg {
			t.Errorf("%s: message = %q, want %q", tt.api, msg, tt.wantMsg)
		}
	}
	if !strings.Contains(egress.NoGeminiCredentialMessage, "GEMINI_API_KEY") || !strings.Contains(egress.NoOpenAICredentialMessage, "OPENAI_API_KEY") {
		t.Error("the messages do not name the variable to set")
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("upstream got %d requests without a credential", n)
	}
	resp := post(t, tcpClient(), "http://"+a.TCPAddr+"/v1/responses", map[string]string{"Authorization": "Bearer " + a.Token}, `{}`)
	if body := readAll(t, resp); resp.StatusCode != http.StatusOK {
		t.Errorf("openai with its key = %d %s", resp.StatusCode, body)
	}

	// And the OpenAI message, from a proxy with no OpenAI key.
	g := newFixture(t, nil)
	b := g.attach(hangar.Networking{})
	resp = post(t, tcpClient(), "http://"+b.TCPAddr+"/v1/responses", map[string]string{"Authorization": "Bearer " + b.Token}, `{}`)
	body := readAll(t, resp)
	if msg, typ := vendorError(t, "openai", body); resp.StatusCode != http.StatusUnauthorized || msg != egress.NoOpenAICredentialMessage || typ != "invalid_request_error" {
		t.Errorf("openai without a key = %d %s", resp.StatusCode, body)
	}
}

// TestVendorSessionCredential checks that a session's own OpenAI and Gemini keys replace
// the server's for that session.
func TestVendorSessionCredential(t *testing.T) {
	t.Parallel()
	const sessOpenAI, sessGemini hangar.Secret = "sk-SESSION-openai", "SESSION-gemini"
	f := newFixture(t, nil, multiVendor)
	a, err := f.proxy.Attach(t.Context(), "sesn_own", hangar.Networking{}, egress.AttachOptions{OpenAIKey: sessOpenAI, GeminiKey: sessGemini})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, path := range []string{"/v1/responses", "/v1beta/models/g:generateContent", "/v1/messages"} {
		resp := post(t, tcpClient(), "http://"+a.TCPAddr+path, map[string]string{"Authorization": "Bearer " + a.Token, "x-goog-api-key": a.Token, "x-api-key": a.Token}, `{}`)
		if body := readAll(t, resp); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s = %d %s", path, resp.StatusCode, body)
		}
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("upstream got %d requests, want 3", len(reqs))
	}
	got := []string{reqs[0].Header.Get("Authorization"), reqs[1].Header.Get("X-Goog-Api-Key"), reqs[2].Header.Get("X-Api-Key")}
	want := []string{"Bearer " + sessOpenAI.Reveal(), sessGemini.Reveal(), realKey.Reveal()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("upstream credentials mismatch (-want +got):\n%s", diff)
	}
	a.Close()
	for _, s := range []hangar.Secret{sessOpenAI, sessGemini, openAIKey, geminiKey} {
		if strings.Contains(f.logs.String(), s.Reveal()) {
			t.Errorf("a credential appears in the logs")
		}
	}
}

// TestOpenAIUpstreamEndingInV1 checks that an OPENAI_BASE_URL in its usual form (ending in
// /v1) does not double the /v1 of the client's path.
func TestOpenAIUpstreamEndingInV1(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, multiVendor, func(c *egress.Config) {
		u, _ := url.Parse(c.Upstream.String() + "/gw/v1")
		c.OpenAIUpstream = u
	})
	a := f.attach(hangar.Networking{})
	resp := post(t, tcpClient(), "http://"+a.TCPAddr+"/v1/responses?x=1", map[string]string{"Authorization": "Bearer " + a.Token}, `{}`)
	readAll(t, resp)
	if r := f.requests(); len(r) != 1 || r[0].URL.RequestURI() != "/gw/v1/responses?x=1" {
		t.Fatalf("upstream requests = %v, want /gw/v1/responses?x=1", r)
	}
}

// TestVendorStreaming checks, for OpenAI and Gemini, that streamed responses reach the
// client event by event (the first before the upstream sends the rest) and that the
// usage they report is recorded.
func TestVendorStreaming(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		path   string
		header func(token string) map[string]string
		first  string
		rest   []string
		want   hangar.Usage
	}{
		{
			name:   "openai responses",
			path:   "/v1/responses",
			header: func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} },
			first:  "event: response.created\ndata: " + `{"type":"response.created","response":{"id":"resp_1","status":"in_progress","usage":null}}` + "\n\n",
			rest: []string{
				"event: response.output_text.delta\ndata: " + `{"type":"response.output_text.delta","delta":"the \"usage\" word"}` + "\n\n",
				"event: response.completed\ndata: " + `{"type":"response.completed","response":{"id":"resp_1","status":"completed","usage":{"input_tokens":120,"input_tokens_details":{"cached_tokens":100},"output_tokens":33,"output_tokens_details":{"reasoning_tokens":20},"total_tokens":153}}}` + "\n\n",
			},
			want: hangar.Usage{InputTokens: 20, CacheReadInputTokens: 100, OutputTokens: 33},
		},
		{
			name:   "gemini",
			path:   "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse&key=TOKEN",
			header: func(string) map[string]string { return nil },
			first:  "data: " + `{"candidates":[{"content":{"parts":[{"text":"hel"}],"role":"model"}}],"usageMetadata":{"promptTokenCount":50,"candidatesTokenCount":1,"totalTokenCount":51}}` + "\r\n\r\n",
			rest: []string{
				"data: " + `{"candidates":[{"content":{"parts":[{"text":"lo"}],"role":"model"}}],"usageMetadata":{"promptTokenCount":50,"candidatesTokenCount":7,"thoughtsTokenCount":5,"cachedContentTokenCount":30,"totalTokenCount":62}}` + "\r\n\r\n",
			},
			want: hangar.Usage{InputTokens: 20, CacheReadInputTokens: 30, OutputTokens: 12},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			next := make(chan struct{})
			f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, tt.first)
				http.NewResponseController(w).Flush()
				select { // the client must see the first event before the rest is sent
				case <-next:
				case <-r.Context().Done():
					return
				}
				for _, ev := range tt.rest {
					io.WriteString(w, ev)
				}
			}, multiVendor)
			a := f.attach(hangar.Networking{})
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+a.TCPAddr+strings.ReplaceAll(tt.path, "TOKEN", a.Token), strings.NewReader(`{"stream":true}`))
			for k, v := range tt.header(a.Token) {
				req.Header.Set(k, v)
			}
			resp, err := tcpClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			br := bufio.NewReader(resp.Body)
			var got strings.Builder
			for { // read the first event up to its blank line, before the upstream goes on
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("read first event: %v", err)
				}
				got.WriteString(line)
				if strings.TrimRight(line, "\r\n") == "" {
					break
				}
			}
			if got.String() != tt.first {
				t.Fatalf("first event = %q, want %q", got.String(), tt.first)
			}
			close(next)
			rest, err := io.ReadAll(br)
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.Join(tt.rest, ""); string(rest) != want {
				t.Errorf("rest of the stream = %q, want %q", rest, want)
			}
			select {
			case u := <-f.usage:
				if diff := cmp.Diff(tt.want, u.usage); diff != "" {
					t.Errorf("usage mismatch (-want +got):\n%s", diff)
				}
			case <-ctx.Done():
				t.Fatal("no usage reported")
			}
		})
	}
}

// TestVendorUpstreamDown checks the 502 of an unreachable upstream, in each API's shape.
func TestVendorUpstreamDown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		c, _, _ := http.NewResponseController(w).Hijack()
		c.Close()
	}, multiVendor)
	a := f.attach(hangar.Networking{})
	for api, path := range map[string]string{"openai": "/v1/responses", "gemini": "/v1beta/models/g:generateContent"} {
		resp := post(t, tcpClient(), "http://"+a.TCPAddr+path, map[string]string{"Authorization": "Bearer " + a.Token, "x-goog-api-key": a.Token}, `{}`)
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("%s: status = %d, want 502", api, resp.StatusCode)
		}
		if msg, _ := vendorError(t, api, body); !strings.Contains(msg, "could not be reached") {
			t.Errorf("%s: message = %q", api, msg)
		}
		for _, s := range []hangar.Secret{openAIKey, geminiKey} {
			if strings.Contains(body, s.Reveal()) {
				t.Errorf("%s: the real key appears in the response", api)
			}
		}
	}
}

func TestNewRejectsBadVendorUpstream(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"api.openai.com", "https://u:p@api.openai.com", "ftp://x"} {
		u, _ := url.Parse(raw)
		if _, err := egress.New(egress.Config{OpenAIUpstream: u}); err == nil {
			t.Errorf("OpenAIUpstream %q accepted", raw)
		}
		if _, err := egress.New(egress.Config{GeminiUpstream: u}); err == nil {
			t.Errorf("GeminiUpstream %q accepted", raw)
		}
	}
}
