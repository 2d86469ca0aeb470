package cloud_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider/cloud"
)

// TestScript runs the command lines Script builds through a real shell.
func TestScript(t *testing.T) {
	for _, tc := range []struct {
		dir  string
		env  map[string]string
		args []string
		want string
	}{
		{"", nil, []string{"echo", "plain"}, "plain\n"},
		{"/", nil, []string{"pwd"}, "/\n"},
		{"", map[string]string{"B": "two words", "A": "it's"}, []string{"sh", "-c", `echo "$A|$B"`}, "it's|two words\n"},
		{"", nil, []string{"printf", "%s\n", "", "$HOME", "a\"b", "*"}, "\n$HOME\na\"b\n*\n"},
	} {
		line := cloud.Script(tc.dir, tc.env, tc.args)
		out, err := exec.Command("sh", "-c", line).Output()
		if err != nil || string(out) != tc.want {
			t.Errorf("sh -c %q = %q, %v; want %q", line, out, err, tc.want)
		}
	}
}

func TestStatusError(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		kind   hangar.Kind
		msg    string
	}{
		{404, `{"code":404,"message":"sandbox gone"}`, hangar.KindNotFound, "sandbox gone"},
		{400, `{"error":{"code":"bad","message":"nope"}}`, hangar.KindInvalidRequest, "nope"},
		{401, `{"statusCode":401,"message":"Unauthorized","error":"Unauthorized"}`, hangar.KindInternal, "Unauthorized"},
		{409, `{"error":"conflict"}`, hangar.KindConflict, "conflict"},
		{429, `slow down`, hangar.KindRateLimit, "slow down"},
		{502, ``, hangar.KindUnavailable, ""},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Key") != "k" || r.URL.Query().Get("team") != "t" {
				w.WriteHeader(http.StatusTeapot)
				return
			}
			w.WriteHeader(tc.status)
			io.WriteString(w, tc.body)
		}))
		c := &cloud.Client{Vendor: "v", BaseURL: srv.URL, Header: http.Header{"X-Key": {"k"}}, Query: map[string][]string{"team": {"t"}}}
		err := c.JSON(context.Background(), http.MethodGet, "/x", nil, nil, nil)
		srv.Close()
		var he *hangar.Error
		if !hangar.IsKind(err, tc.kind) {
			t.Errorf("status %d: error %v, want kind %s", tc.status, err, tc.kind)
		} else if he, _ = err.(*hangar.Error); he == nil || (tc.msg != "" && !strings.Contains(he.Message, tc.msg)) {
			t.Errorf("status %d: message %q, want it to hold %q", tc.status, err, tc.msg)
		}
	}
}

// TestProc checks that unread stderr does not block stdout, and that output written
// before Exit is read before EOF.
func TestProc(t *testing.T) {
	p := cloud.NewProc(nil, nil)
	for range 1000 {
		p.StderrWriter().Write(make([]byte, 1024)) // nobody reads stderr
	}
	p.StdoutWriter().Write([]byte("out"))
	p.Exit(3, nil)
	if b, err := io.ReadAll(p.Stdout()); string(b) != "out" || err != nil {
		t.Errorf("stdout = %q, %v", b, err)
	}
	if code, err := p.Wait(); code != 3 || err != nil {
		t.Errorf("Wait = %d, %v", code, err)
	}
	if err := p.Signal(true); err == nil {
		t.Error("Signal without a signal func succeeded")
	}
}

func TestHandle(t *testing.T) {
	h := cloud.Handle{ID: "sb1", WorkDir: "/w"}
	back, err := cloud.DecodeHandle("v", h.Encode())
	if err != nil || back != h {
		t.Errorf("round trip = %+v, %v", back, err)
	}
	for _, bad := range []string{``, `{}`, `nope`} {
		if _, err := cloud.DecodeHandle("v", []byte(bad)); !hangar.IsKind(err, hangar.KindInvalidRequest) {
			t.Errorf("DecodeHandle(%q) = %v", bad, err)
		}
	}
	if got := cloud.Resolve("/w", "a/b"); got != "/w/a/b" {
		t.Errorf("Resolve = %q", got)
	}
}
