// Package console serves Hangar's web console: plain ES modules and CSS embedded in the
// binary (no build step), which talk only to the public /v1 API with the key the user
// types into the page. The handler serves no secrets, so it needs no auth; it answers GET
// and HEAD for its assets and falls back to index.html for the console's own routes
// (/sessions/sesn_…), so a reload of any page works. docs/console.md describes it.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// CSP is the Content-Security-Policy of every console response: scripts, styles and API
// calls from this origin only, no inline code, no framing. Setting element styles from
// script (the chart) is CSSOM, which style-src does not restrict.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the console's assets.
type Handler struct {
	assets map[string]*asset // by URL path, "/assets/app.js"
	index  *asset
}

type asset struct {
	name  string
	body  []byte
	etag  string
	ctype string
}

// Files returns the embedded console files, rooted at the directory holding index.html.
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	return sub
}

// New returns the handler for the embedded console.
func New() *Handler {
	h, err := NewFS(Files())
	if err != nil {
		panic(err) // the embedded files are fixed at build time; a test covers them
	}
	return h
}

// NewFS returns a handler for the console files in fsys, which must hold index.html. It
// reads every file once: assets are small and immutable for the life of the process.
func NewFS(fsys fs.FS) (*Handler, error) {
	h := &Handler{assets: map[string]*asset{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		h.assets["/"+p] = &asset{
			name:  path.Base(p),
			body:  body,
			etag:  `"` + hex.EncodeToString(sum[:12]) + `"`,
			ctype: contentType(p),
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read console assets: %w", err)
	}
	if h.index = h.assets["/index.html"]; h.index == nil {
		return nil, fmt.Errorf("read console assets: no index.html")
	}
	return h, nil
}

// contentTypes are explicit so responses do not depend on the host's mime.types.
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".svg":         "image/svg+xml",
	".json":        "application/json",
	".webmanifest": "application/manifest+json",
	".png":         "image/png",
	".ico":         "image/x-icon",
	".txt":         "text/plain; charset=utf-8",
}

func contentType(p string) string {
	if ct, ok := contentTypes[path.Ext(p)]; ok {
		return ct
	}
	return "application/octet-stream"
}

// ServeHTTP serves an asset, or index.html for a console route (a path whose last segment
// has no extension). API paths are never answered here: they belong to the API's router,
// and a console page in place of an API error would confuse every client.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := path.Clean("/" + r.URL.Path)
	if p == "/v1" || strings.HasPrefix(p, "/v1/") {
		http.NotFound(w, r)
		return
	}
	a := h.assets[p]
	switch {
	case p == "/" || p == "/index.html":
		a = h.index
	case a == nil && !strings.Contains(path.Base(p), "."):
		a = h.index // a client-side route
	case a == nil:
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", a.ctype)
	hdr.Set("ETag", a.etag)
	// Asset names carry no content hash, so browsers revalidate every file each time
	// (a 304 costs one round trip); an upgraded binary is picked up at once.
	hdr.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}

func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}
