// Package openapi is the server's API reference: the OpenAPI 3.1 document of
// every REST route (openapi.json, written by hand and embedded), served at
// GET /openapi.json, and a page that renders it at /docs/api/ with Swagger
// UI's browser bundle, copied from npm by `make node-deps` into
// assets/vendor/ (never committed) and embedded beside the page's own files.
//
// The server's tests check every response they receive against the
// document, so a route, a status or a field that is not in it fails them.
package openapi

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

//go:embed openapi.json
var document []byte

// Document is the OpenAPI 3.1 document (JSON), a copy the caller may keep.
func Document() []byte { return bytes.Clone(document) }

// assets holds the page's own files and, when `make node-deps` ran before the
// build, Swagger UI's files. assets/vendor/README.md, committed, keeps the
// directory in a fresh clone.
//
//go:embed all:assets
var assets embed.FS

// The Swagger UI files the page needs, where they sit in assets.
const (
	BundlePath = "vendor/swagger-ui-bundle.js"
	StylePath  = "vendor/swagger-ui.css"
)

// served lists the files the page answers, with their types: nothing else in
// assets is served (the placeholder, missing.html under its own name).
func served() map[string]string {
	return map[string]string{
		"index.html":   "text/html; charset=utf-8",
		"missing.html": "text/html; charset=utf-8",
		"docs.js":      "text/javascript; charset=utf-8",
		"docs.css":     "text/css; charset=utf-8",
		BundlePath:     "text/javascript; charset=utf-8",
		StylePath:      "text/css; charset=utf-8",
	}
}

// CSP is the page's policy: scripts and styles from this origin only (no
// inline script; Swagger UI sets element styles through the DOM, which
// style-src does not govern), requests ("Try it out") to this origin only,
// images from here or data: URLs; no frames, no form posts, no plugins.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
	"font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

type file struct {
	body  []byte
	ctype string
	etag  string
}

// Handler serves the document and the page. Mount ServeDocument at
// /openapi.json and the Handler at /docs/api/ with that prefix stripped.
type Handler struct {
	files  map[string]file
	doc    file
	bundle bool
}

// New serves the embedded document and page.
func New() (*Handler, error) {
	return FromFS(assets)
}

// FromFS serves the document and the files of fsys (laid out as assets/): the
// page's own files must be there; Swagger UI's may be missing, which
// HasBundle reports, and the page then says how to build it properly.
func FromFS(fsys fs.FS) (*Handler, error) {
	h := &Handler{files: map[string]file{}, doc: newFile(document, "application/json")}
	for name, ctype := range served() {
		b, err := fs.ReadFile(fsys, "assets/"+name)
		if err != nil {
			if strings.HasPrefix(name, "vendor/") {
				continue
			}
			return nil, fmt.Errorf("openapi: %s: %w", name, err)
		}
		h.files[name] = newFile(b, ctype)
	}
	_, js := h.files[BundlePath]
	_, css := h.files[StylePath]
	h.bundle = js && css
	return h, nil
}

func newFile(b []byte, ctype string) file {
	sum := sha256.Sum256(b)
	return file{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// HasBundle says whether Swagger UI's files were embedded.
func (h *Handler) HasBundle() bool { return h.bundle }

// ServeDocument answers GET and HEAD with the document, revalidated on each
// use (no-cache with an ETag).
func (h *Handler) ServeDocument(w http.ResponseWriter, r *http.Request) {
	h.serveFile(w, r, "openapi.json", h.doc)
}

// ServeHTTP answers GET and HEAD for the page's files: "/" (or
// "/index.html") the page, "/docs.js", "/docs.css" and Swagger UI's files
// under "/vendor/". Built without Swagger UI, "/" answers a page that says
// how to fix that.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	if name == "" {
		name = "index.html"
		if !h.bundle {
			name = "missing.html"
		}
	}
	f, ok := h.files[name]
	if !ok || name == "missing.html" && r.URL.Path != "/" {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		msg := "The API reference page has no such file."
		if strings.HasPrefix(name, "vendor/") && !h.bundle {
			msg = "This server was built without its npm assets (Swagger UI): run `make node-deps` and rebuild."
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(msg + "\n"))
		return
	}
	h.serveFile(w, r, name, f)
}

func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, name string, f file) {
	hd := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("Content-Type", f.ctype)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", f.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}
