package routes

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"
)

// writeJSON writes v as the body: JSON without HTML escaping (a sentence
// that says `<jwt>` reads `<jwt>`, a URL keeps its `&`), and without the
// newline an encoder ends with, so a body is the same bytes whatever
// answers it (curl's `; echo` in the README prints one line per answer).
func writeJSON(c *gin.Context, status int, v any) {
	c.Render(status, unescapedJSON{v})
}

// unescapedJSON is gin's render for writeJSON.
type unescapedJSON struct{ v any }

func (r unescapedJSON) Render(w http.ResponseWriter) error {
	r.WriteContentType(w)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r.v); err != nil {
		return err
	}
	_, err := w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	return err
}

func (unescapedJSON) WriteContentType(w http.ResponseWriter) {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
}
