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
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"strings"

	"github.com/zoomtoken/tokenserver/internal/web/webfiles"
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

// Handler serves the document and the page. Mount ServeDocument at
// /openapi.json and the Handler at /docs/api/ with that prefix stripped.
type Handler struct {
	files  map[string]webfiles.File
	doc    webfiles.File
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
	vendor := func(name string) bool { return strings.HasPrefix(name, "vendor/") }
	files, err := webfiles.Load(fsys, "assets", served(), vendor)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	_, js := files[BundlePath]
	_, css := files[StylePath]
	return &Handler{files: files, doc: webfiles.NewFile(document, "application/json"), bundle: js && css}, nil
}

// HasBundle says whether Swagger UI's files were embedded.
func (h *Handler) HasBundle() bool { return h.bundle }

// ServeDocument answers GET and HEAD with the document, revalidated on each
// use (no-cache with an ETag).
func (h *Handler) ServeDocument(w http.ResponseWriter, r *http.Request) {
	webfiles.Serve(w, r, "openapi.json", h.doc, CSP)
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
		msg := "The API reference page has no such file."
		if strings.HasPrefix(name, "vendor/") && !h.bundle {
			msg = "This server was built without its npm assets (Swagger UI): run `make node-deps` and rebuild."
		}
		webfiles.NotFound(w, msg)
		return
	}
	webfiles.Serve(w, r, name, f, CSP)
}
