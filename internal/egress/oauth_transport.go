package egress

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/hangar-dev/hangar"
)

// maxReplayBody is the largest MCP request body kept for a retry after a 401. MCP
// requests are small JSON-RPC messages; a larger body is streamed and not retried.
const maxReplayBody = 4 << 20

// oauthTransport sends MCP requests with an MCPAuth's access token: refreshed first when
// it has expired, and refreshed then sent once more when the server answers 401 to a
// request whose body can be replayed.
type oauthTransport struct {
	base http.RoundTripper
	auth MCPAuth
	ok   func() // called when a request got through with a token
}

// mcpAuthError is a failure to obtain an MCP server's token; the MCP route answers it
// with a 401 and reports it to Config.OnMCPError.
type mcpAuthError struct {
	credentialID string
	err          error
}

func (e *mcpAuthError) Error() string {
	return "MCP credential " + e.credentialID + ": " + e.err.Error()
}
func (e *mcpAuthError) Unwrap() error { return e.err }

func (t *oauthTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	tok, err := t.auth.Token(ctx)
	if err != nil {
		return nil, t.fail(ctx, err)
	}
	resp, err := t.base.RoundTrip(withBearer(req, tok))
	if err != nil || resp.StatusCode != http.StatusUnauthorized || (req.Body != nil && req.GetBody == nil) {
		if err == nil && resp.StatusCode != http.StatusUnauthorized {
			t.ok()
		}
		return resp, err
	}
	// The server rejected a token we believed valid (revoked, or expired early).
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if tok, err = t.auth.Refresh(ctx, tok); err != nil {
		return nil, t.fail(ctx, err)
	}
	retry := req.Clone(ctx)
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	resp, err = t.base.RoundTrip(withBearer(retry, tok))
	if err == nil && resp.StatusCode != http.StatusUnauthorized {
		t.ok()
	}
	return resp, err
}

func (t *oauthTransport) fail(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return &mcpAuthError{credentialID: t.auth.CredentialID(), err: err}
}

// withBearer returns req (cloned headers) with Authorization: Bearer tok.
func withBearer(req *http.Request, tok hangar.Secret) *http.Request {
	out := *req
	out.Header = req.Header.Clone()
	out.Header.Set("Authorization", "Bearer "+tok.Reveal())
	return &out
}

// replayable buffers r's body (up to maxReplayBody) and sets r.GetBody, so a transport
// can send it again. A larger body is left streaming, without GetBody.
func replayable(r *http.Request) {
	buf, err := io.ReadAll(io.LimitReader(r.Body, maxReplayBody+1))
	if err != nil || len(buf) > maxReplayBody {
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), readerOrErr(r.Body, err)), r.Body}
		return
	}
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(buf))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
}

func readerOrErr(r io.Reader, err error) io.Reader {
	if err != nil {
		return errReader{err}
	}
	return r
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// mcpAuthFailed answers a request whose MCP credential failed, and reports the failure
// once until the server's requests succeed again.
func (a *Attachment) mcpAuthFailed(name string, af *mcpAuthError, w http.ResponseWriter) {
	a.log.Warn("egress: MCP credential failed", "mcp_server", name, "credential", af.credentialID, "err", af.err)
	msg := "the access token of MCP server " + name + " expired and could not be refreshed; authorize the credential again"
	var re *RefreshError
	if !errors.As(af.err, &re) {
		msg = "the credential of MCP server " + name + " could not be read"
	}
	if _, reported := a.mcpFails.LoadOrStore(name, struct{}{}); !reported && a.onMCPError != nil {
		a.onMCPError(MCPFailure{ServerName: name, CredentialID: af.credentialID, Message: msg, Err: af.err})
	}
	writeError(w, apiAnthropic, errUnauthenticated, "hangar egress proxy: "+msg)
}
