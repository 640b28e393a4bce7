// Package console is the server's web console: one page, its script and its
// style sheet, embedded in the binary, and socket.io-client's browser bundle,
// copied from npm by `make node-deps` into assets/vendor/ (never committed) and
// embedded beside them. The page needs nothing from the server but its API:
// every call carries the caller token the user pasted.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

// assets holds the page's own files and, when `make node-deps` ran before the
// build, the vendored bundle. assets/vendor/README.md, committed, keeps the
// directory in a fresh clone.
//
//go:embed all:assets
var assets embed.FS

// BundlePath is where the socket.io-client browser bundle sits in assets.
const BundlePath = "vendor/socket.io.min.js"

// served lists the files the console answers, with their types: nothing
// else in assets is served (the placeholder, a source map).
func served() map[string]string {
	return map[string]string{
		"index.html":  "text/html; charset=utf-8",
		"console.js":  "text/javascript; charset=utf-8",
		"console.css": "text/css; charset=utf-8",
		BundlePath:    "text/javascript; charset=utf-8",
	}
}

// CSP is the page's policy: scripts, styles and connections (REST and the
// Socket.IO websocket) from this origin only; no inline script or style, no
// frames, no form posts, no plugins.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

type file struct {
	body  []byte
	ctype string
	etag  string
}

// Handler serves the console's files at the paths below its mount point:
// "/" and "/index.html" the page, "/console.js", "/console.css",
// "/vendor/socket.io.min.js". Mount it with the prefix stripped.
type Handler struct {
	files  map[string]file
	bundle bool
}

// New serves the embedded files. It fails only when the page's own files
// were not embedded: a broken build.
func New() (*Handler, error) {
	return FromFS(assets)
}

// FromFS serves the files of fsys (laid out as assets/): the page's own files
// must be there; the bundle may be missing, which HasBundle reports.
func FromFS(fsys fs.FS) (*Handler, error) {
	h := &Handler{files: map[string]file{}}
	for name, ctype := range served() {
		b, err := fs.ReadFile(fsys, "assets/"+name)
		if err != nil {
			if name == BundlePath {
				continue
			}
			return nil, fmt.Errorf("console: %s: %w", name, err)
		}
		sum := sha256.Sum256(b)
		h.files[name] = file{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	_, h.bundle = h.files[BundlePath]
	return h, nil
}

// HasBundle says whether socket.io-client's bundle was embedded: without it
// the page can sign in to nothing and says how to build it properly.
func (h *Handler) HasBundle() bool { return h.bundle }

// ServeHTTP answers GET and HEAD for the console's files. Each answer is
// revalidated (no-cache with an ETag), so a new build is seen at once.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/")
	if name == "" {
		name = "index.html"
	}
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Content-Security-Policy", CSP)
	f, ok := h.files[name]
	if !ok {
		hd.Set("Cache-Control", "no-store")
		msg := "The console has no such file."
		if name == BundlePath {
			msg = "This server was built without its npm assets: run `make node-deps` and rebuild."
		}
		hd.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(msg + "\n"))
		return
	}
	hd.Set("Content-Type", f.ctype)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", f.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}
