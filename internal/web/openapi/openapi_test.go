package openapi

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

// assetsFS is the page's own files from disk, laid out as the embedded ones,
// with Swagger UI's files or stand-ins for them.
func assetsFS(t *testing.T, withBundle bool) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{"assets/vendor/README.md": {Data: []byte("placeholder")}}
	for _, name := range []string{"index.html", "missing.html", "docs.js", "docs.css"} {
		b, err := os.ReadFile("assets/" + name)
		if err != nil {
			t.Fatal(err)
		}
		m["assets/"+name] = &fstest.MapFile{Data: b}
	}
	if withBundle {
		m["assets/"+BundlePath] = &fstest.MapFile{Data: []byte("window.SwaggerUIBundle=function(){};")}
		m["assets/"+StylePath] = &fstest.MapFile{Data: []byte(".swagger-ui{}")}
	}
	return m
}

func get(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec
}

func TestDocumentIsJSON(t *testing.T) {
	var d map[string]any
	if err := json.Unmarshal(Document(), &d); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if d["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v", d["openapi"])
	}
	a, b := Document(), Document()
	a[0] = 'x'
	if b[0] == 'x' {
		t.Error("Document shares its bytes")
	}
}

func TestPageWithBundle(t *testing.T) {
	h, err := FromFS(assetsFS(t, true))
	if err != nil {
		t.Fatal(err)
	}
	if !h.HasBundle() {
		t.Fatal("no bundle")
	}
	for path, want := range map[string]struct {
		status int
		ctype  string
		text   string
	}{
		"/":                 {200, "text/html", `src="vendor/swagger-ui-bundle.js"`},
		"/index.html":       {200, "text/html", `src="docs.js"`},
		"/docs.js":          {200, "text/javascript", "validatorUrl: null"},
		"/docs.css":         {200, "text/css", "#loading"},
		"/" + BundlePath:    {200, "text/javascript", "SwaggerUIBundle"},
		"/" + StylePath:     {200, "text/css", ".swagger-ui"},
		"/vendor/README.md": {404, "text/plain", "no such file"},
		"/missing.html":     {404, "text/plain", "no such file"},
		"/../openapi.go":    {404, "text/plain", "no such file"},
	} {
		rec := get(h, path)
		if rec.Code != want.status || !strings.HasPrefix(rec.Header().Get("Content-Type"), want.ctype) ||
			!strings.Contains(rec.Body.String(), want.text) {
			t.Errorf("GET %s = %d %s %.80q; want %d %s with %q", path, rec.Code, rec.Header().Get("Content-Type"),
				rec.Body.String(), want.status, want.ctype, want.text)
		}
		if rec.Code == 200 && rec.Header().Get("Content-Security-Policy") != CSP {
			t.Errorf("GET %s: CSP %q", path, rec.Header().Get("Content-Security-Policy"))
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST / = %d", rec.Code)
	}
}

// A build without Swagger UI's files serves a page that says how to fix it.
func TestPageWithoutBundle(t *testing.T) {
	h, err := FromFS(assetsFS(t, false))
	if err != nil {
		t.Fatal(err)
	}
	if h.HasBundle() {
		t.Fatal("HasBundle with no vendor files")
	}
	for path, want := range map[string]struct {
		status int
		text   string
	}{
		"/":              {200, "make node-deps"},
		"/" + BundlePath: {404, "make node-deps"},
		"/" + StylePath:  {404, "make node-deps"},
	} {
		rec := get(h, path)
		if rec.Code != want.status || !strings.Contains(rec.Body.String(), want.text) {
			t.Errorf("GET %s = %d %.100q, want %d with %q", path, rec.Code, rec.Body.String(), want.status, want.text)
		}
	}
}

// The page's own files are required: a build without them is broken.
func TestPageFilesRequired(t *testing.T) {
	m := assetsFS(t, true)
	delete(m, "assets/docs.js")
	if _, err := FromFS(m); err == nil {
		t.Fatal("no error without docs.js")
	}
	if _, err := New(); err != nil {
		t.Fatalf("the embedded page: %v", err)
	}
	var _ fs.FS = m
}
