package console_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hangar-dev/hangar/internal/console"
	"github.com/hangar-dev/hangar/internal/httpapi"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	h := console.New()
	index := get(t, h, "/")
	for _, tc := range []struct {
		name, method, path string
		header             map[string]string
		status             int
		ctype              string
		index              bool // the body is index.html
	}{
		{name: "root", path: "/", status: 200, ctype: "text/html; charset=utf-8", index: true},
		{name: "index file", path: "/index.html", status: 200, ctype: "text/html; charset=utf-8", index: true},
		{name: "module", path: "/assets/app.js", status: 200, ctype: "text/javascript; charset=utf-8"},
		{name: "view module", path: "/assets/views/chat.js", status: 200, ctype: "text/javascript; charset=utf-8"},
		{name: "stylesheet", path: "/assets/style.css", status: 200, ctype: "text/css; charset=utf-8"},
		{name: "icon", path: "/favicon.svg", status: 200, ctype: "image/svg+xml"},
		{name: "console route", path: "/sessions/sesn_123", status: 200, ctype: "text/html; charset=utf-8", index: true},
		{name: "console route with query", path: "/sessions?status=idle", status: 200, ctype: "text/html; charset=utf-8", index: true},
		{name: "missing asset", path: "/assets/nope.js", status: 404},
		{name: "api root", path: "/v1", status: 404},
		{name: "api path", path: "/v1/agents", status: 404},
		{name: "head", method: "HEAD", path: "/", status: 200, ctype: "text/html; charset=utf-8"},
		{name: "post", method: "POST", path: "/", status: 405},
		{name: "revalidation", path: "/assets/app.js", header: map[string]string{"If-None-Match": etag(t, h, "/assets/app.js")}, status: 304},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			method := tc.method
			if method == "" {
				method = "GET"
			}
			req := httptest.NewRequest(method, tc.path, nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d", rec.Code, tc.status)
			}
			if got := rec.Header().Get("Content-Security-Policy"); got != console.CSP {
				t.Errorf("Content-Security-Policy = %q, want %q", got, console.CSP)
			}
			if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", got)
			}
			if tc.status != 200 {
				if tc.status != 304 && strings.Contains(rec.Body.String(), "<!doctype html>") {
					t.Errorf("a %d answer served the console page", tc.status)
				}
				return
			}
			if got := rec.Header().Get("Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type = %q, want %q", got, tc.ctype)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control = %q, want no-cache", got)
			}
			if rec.Header().Get("ETag") == "" {
				t.Error("no ETag")
			}
			if method == "HEAD" {
				if rec.Body.Len() != 0 {
					t.Errorf("HEAD has a body of %d bytes", rec.Body.Len())
				}
				return
			}
			if got := rec.Body.String() == index; got != tc.index {
				t.Errorf("body is index.html: %v, want %v", got, tc.index)
			}
		})
	}
}

// TestMountedInAPI serves the console through the API's router as cmd/hangar does: the
// console needs no key, /v1 still does, and unknown /v1 paths get the API's JSON 404.
func TestMountedInAPI(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(httpapi.New(httpapi.Config{APIKey: "k", Console: console.New()}))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		name, path, key string
		status          int
		ctype           string
	}{
		{name: "console without key", path: "/", status: 200, ctype: "text/html; charset=utf-8"},
		{name: "console route without key", path: "/agents/agent_1", status: 200, ctype: "text/html; charset=utf-8"},
		{name: "asset without key", path: "/assets/api.js", status: 200, ctype: "text/javascript; charset=utf-8"},
		{name: "api without key", path: "/v1/agents", status: 401, ctype: "application/json"},
		{name: "unknown api path without key", path: "/v1/nope", status: 401, ctype: "application/json"},
		{name: "unknown api path", path: "/v1/nope", key: "k", status: 404, ctype: "application/json"},
		{name: "api root", path: "/v1", key: "k", status: 404, ctype: "application/json"},
		{name: "health", path: "/healthz", status: 200, ctype: "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), "GET", srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.key != "" {
				req.Header.Set("x-api-key", tc.key)
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d: %s", res.StatusCode, tc.status, body)
			}
			if got := res.Header.Get("Content-Type"); !strings.HasPrefix(got, tc.ctype) {
				t.Errorf("Content-Type = %q, want %q", got, tc.ctype)
			}
			if res.StatusCode >= 400 && !strings.Contains(string(body), `"type":"error"`) {
				t.Errorf("error body is not the API envelope: %s", body)
			}
		})
	}
}

// TestAssetsResolve checks, without a browser, what would break the page under its CSP:
// every module a module imports exists, index.html loads only files it ships, nothing is
// inline, and no code builds markup from strings.
func TestAssetsResolve(t *testing.T) {
	t.Parallel()
	fsys := console.Files()
	importRE := regexp.MustCompile(`(?m)^\s*import\s[^'"]*['"]([^'"]+)['"]`)
	srcRE := regexp.MustCompile(`(?:src|href)="(/[^"]*)"`)
	n := 0
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		text := string(b)
		switch path.Ext(p) {
		case ".js":
			n++
			for _, m := range importRE.FindAllStringSubmatch(text, -1) {
				if !strings.HasPrefix(m[1], "./") && !strings.HasPrefix(m[1], "../") {
					t.Errorf("%s imports %q: only relative imports of shipped files work offline", p, m[1])
					continue
				}
				if _, err := fs.Stat(fsys, path.Join(path.Dir(p), m[1])); err != nil {
					t.Errorf("%s imports %q, which does not exist", p, m[1])
				}
			}
			for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "new Function", "document.write"} {
				if strings.Contains(text, bad) {
					t.Errorf("%s uses %s: build nodes with dom.js instead", p, bad)
				}
			}
		case ".html":
			for _, m := range srcRE.FindAllStringSubmatch(text, -1) {
				if _, err := fs.Stat(fsys, strings.TrimPrefix(m[1], "/")); err != nil {
					t.Errorf("%s loads %q, which does not exist", p, m[1])
				}
			}
			if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(text) || strings.Contains(text, " style=") || strings.Contains(text, "<style") {
				t.Errorf("%s has inline script or style, which the CSP blocks", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("found only %d modules", n)
	}
}

func TestNewFSNeedsIndex(t *testing.T) {
	t.Parallel()
	if _, err := console.NewFS(fstest.MapFS{"app.js": {Data: []byte("")}}); err == nil {
		t.Fatal("NewFS without index.html: got no error")
	}
}

func get(t *testing.T, h http.Handler, p string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
	if rec.Code != 200 {
		t.Fatalf("GET %s: %d", p, rec.Code)
	}
	return rec.Body.String()
}

func etag(t *testing.T, h http.Handler, p string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
	return rec.Header().Get("ETag")
}
