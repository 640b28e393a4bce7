// Package console is the server's web console: one page, its script and its
// style sheet, embedded in the binary, and socket.io-client's browser bundle,
// copied from npm by `make node-deps` into assets/vendor/ (never committed) and
// embedded beside them. The page needs nothing from the server but its API:
// every call carries the caller token the user pasted.
package console

import (
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"strings"

	"github.com/zoomtoken/tokenserver/internal/web/webfiles"
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

// Handler serves the console's files at the paths below its mount point:
// "/" and "/index.html" the page, "/console.js", "/console.css",
// "/vendor/socket.io.min.js". Mount it with the prefix stripped.
type Handler struct {
	files  map[string]webfiles.File
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
	files, err := webfiles.Load(fsys, "assets", served(), func(name string) bool { return name == BundlePath })
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	_, bundle := files[BundlePath]
	return &Handler{files: files, bundle: bundle}, nil
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
	f, ok := h.files[name]
	if !ok {
		webfiles.SecurityHeaders(w.Header(), CSP)
		msg := "The console has no such file."
		if name == BundlePath {
			msg = "This server was built without its npm assets: run `make node-deps` and rebuild."
		}
		webfiles.NotFound(w, msg)
		return
	}
	webfiles.Serve(w, r, name, f, CSP)
}
