package console

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

// page is a console laid out as the embedded one, with a stand-in bundle.
func page(withBundle bool) fstest.MapFS {
	m := fstest.MapFS{
		"assets/index.html":        {Data: []byte("<!doctype html><title>c</title>")},
		"assets/console.js":        {Data: []byte("'use strict';")},
		"assets/console.css":       {Data: []byte("body{}")},
		"assets/vendor/README.md":  {Data: []byte("placeholder")},
		"assets/vendor/x.js.map":   {Data: []byte("{}")},
		"assets/secret-notes.html": {Data: []byte("not served")},
	}
	if withBundle {
		m["assets/"+BundlePath] = &fstest.MapFile{Data: []byte("var io=function(){};")}
	}
	return m
}

func get(t *testing.T, h http.Handler, method, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestServesItsFilesWithTypesAndHeaders(t *testing.T) {
	h, err := FromFS(page(true))
	if err != nil {
		t.Fatal(err)
	}
	if !h.HasBundle() {
		t.Fatal("HasBundle = false with the bundle there")
	}
	for path, ctype := range map[string]string{
		"/":                        "text/html; charset=utf-8",
		"/index.html":              "text/html; charset=utf-8",
		"/console.js":              "text/javascript; charset=utf-8",
		"/console.css":             "text/css; charset=utf-8",
		"/vendor/socket.io.min.js": "text/javascript; charset=utf-8",
	} {
		w := get(t, h, http.MethodGet, path)
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != ctype || w.Body.Len() == 0 {
			t.Errorf("GET %s = %d %q (%d bytes); want 200 %q", path, w.Code, w.Header().Get("Content-Type"), w.Body.Len(), ctype)
		}
		for k, want := range map[string]string{
			"Cache-Control":           "no-cache",
			"Content-Security-Policy": CSP,
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         "no-referrer",
		} {
			if got := w.Header().Get(k); got != want {
				t.Errorf("GET %s: %s = %q, want %q", path, k, got, want)
			}
		}
		etag := w.Header().Get("ETag")
		if etag == "" {
			t.Fatalf("GET %s: no ETag", path)
		}
		// Revalidation answers 304 with no body.
		if w := get(t, h, http.MethodGet, path, "If-None-Match", etag); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
			t.Errorf("GET %s If-None-Match = %d (%d bytes), want 304", path, w.Code, w.Body.Len())
		}
		if w := get(t, h, http.MethodHead, path); w.Code != http.StatusOK || w.Body.Len() != 0 {
			t.Errorf("HEAD %s = %d (%d bytes), want 200 and no body", path, w.Code, w.Body.Len())
		}
	}
	if !strings.Contains(CSP, "script-src 'self'") || strings.Contains(CSP, "unsafe-inline") || strings.Contains(CSP, "unsafe-eval") {
		t.Errorf("CSP %q: want scripts from this origin only, nothing inline", CSP)
	}
}

// Only the listed files are served: not the placeholder, a source map, any
// other file in assets, or a path that climbs out.
func TestServesNothingElse(t *testing.T) {
	h, err := FromFS(page(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/vendor/README.md", "/vendor/x.js.map", "/secret-notes.html", "/../console.go",
		"/vendor/", "/index.html/", "/INDEX.HTML", "/%2e%2e/console.go"} {
		w := get(t, h, http.MethodGet, path)
		if w.Code != http.StatusNotFound || w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s = %d (Cache-Control %q), want 404 no-store", path, w.Code, w.Header().Get("Cache-Control"))
		}
	}
	if w := get(t, h, http.MethodPost, "/"); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST / = %d Allow %q, want 405 GET, HEAD", w.Code, w.Header().Get("Allow"))
	}
}

// A build before `make node-deps` still serves the page; the bundle's URL
// says how to build it properly, and HasBundle tells the server to warn.
func TestWithoutTheBundle(t *testing.T) {
	h, err := FromFS(page(false))
	if err != nil {
		t.Fatal(err)
	}
	if h.HasBundle() {
		t.Fatal("HasBundle = true without the bundle")
	}
	if w := get(t, h, http.MethodGet, "/"); w.Code != http.StatusOK {
		t.Errorf("GET / = %d, want the page", w.Code)
	}
	w := get(t, h, http.MethodGet, "/"+BundlePath)
	if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "run `make node-deps` and rebuild") {
		t.Errorf("GET the missing bundle = %d %q", w.Code, w.Body)
	}
}

func TestRefusesABuildWithoutThePage(t *testing.T) {
	m := page(true)
	delete(m, "assets/console.js")
	if _, err := FromFS(m); err == nil || !strings.Contains(err.Error(), "console.js") {
		t.Fatalf("FromFS without console.js = %v, want an error naming it", err)
	}
}

// The embedded page: every file it names is served, it has no inline script
// or style (the CSP would refuse them), and its script neither logs nor
// writes HTML nor uses storage beyond the tab's session.
func TestEmbeddedPage(t *testing.T) {
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	html, _ := fs.ReadFile(assets, "assets/index.html")
	js, _ := fs.ReadFile(assets, "assets/console.js")
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(string(html), -1)
	if len(refs) < 3 {
		t.Fatalf("index.html names %d files", len(refs))
	}
	for _, r := range refs {
		ref := r[1]
		if strings.HasPrefix(ref, "data:") {
			continue
		}
		if ref == BundlePath && !h.HasBundle() {
			continue // a build before make node-deps: TestWithoutTheBundle covers it
		}
		if w := get(t, h, http.MethodGet, "/"+ref); w.Code != http.StatusOK {
			t.Errorf("index.html names %s, served %d", ref, w.Code)
		}
	}
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`), // a script with a body
		regexp.MustCompile(`<script(?:(?:\s+[a-z-]+(?:="[^"]*")?)*)>`),
		regexp.MustCompile(`<style`),
		regexp.MustCompile(`\sstyle=`),
		regexp.MustCompile(`\son[a-z]+=`),
	} {
		for _, m := range bad.FindAllString(string(html), -1) {
			if strings.Contains(m, `src="`) {
				continue
			}
			t.Errorf("index.html has %q: inline script or style, which the CSP refuses", m)
		}
	}
	if m := regexp.MustCompile(`\bconsole\.[a-z]+\(`).FindString(string(js)); m != "" {
		t.Errorf("console.js logs to the browser's console (%q): tokens must never be logged", m)
	}
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "localStorage", "eval("} {
		if strings.Contains(string(js), bad) {
			t.Errorf("console.js uses %q", bad)
		}
	}
}
