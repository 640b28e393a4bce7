// Package webfiles serves a page's embedded files: each file's body, type and
// ETag, read once from an fs.FS, answered to GET and HEAD with the headers a
// page of this server carries (its CSP, nosniff, no framing, no referrer) and
// revalidated on each use (no-cache with the ETag). The console and the API
// reference page are both served by it.
package webfiles

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"time"
)

// File is one file to serve.
type File struct {
	body  []byte
	ctype string
	etag  string
}

// NewFile is body served as ctype, with an ETag of its content.
func NewFile(body []byte, ctype string) File {
	sum := sha256.Sum256(body)
	return File{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// Load reads each file named in types (name → content type) from dir in
// fsys. A file that optional says may be missing is skipped when absent;
// any other missing file is an error (a broken build).
func Load(fsys fs.FS, dir string, types map[string]string, optional func(name string) bool) (map[string]File, error) {
	files := make(map[string]File, len(types))
	for name, ctype := range types {
		b, err := fs.ReadFile(fsys, dir+"/"+name)
		if err != nil {
			if optional != nil && optional(name) {
				continue
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		files[name] = NewFile(b, ctype)
	}
	return files, nil
}

// Serve answers GET and HEAD with f under the page's csp; any other method
// is refused with 405.
func Serve(w http.ResponseWriter, r *http.Request, name string, f File, csp string) {
	hd := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	SecurityHeaders(hd, csp)
	hd.Set("Content-Type", f.ctype)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", f.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}

// SecurityHeaders sets what every answer of a page carries.
func SecurityHeaders(hd http.Header, csp string) {
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Content-Security-Policy", csp)
}

// NotFound answers 404 with msg as plain text, never cached.
func NotFound(w http.ResponseWriter, msg string) {
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(msg + "\n"))
}
