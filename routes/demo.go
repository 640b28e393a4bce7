package routes

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/zoomtoken/tokenserver/internal/apperr"
)

// DemoFiles serves the browser example (sandbox mode only): the page's own
// files from pageDir and socket.io-client's browser bundle from bundle. Only
// these files are served, read from disk on each request.
type DemoFiles struct {
	PageDir string // examples/browser
	Bundle  string // examples/node/node_modules/socket.io-client/dist/socket.io.min.js
}

var demoTypes = map[string]string{
	"index.html":       "text/html; charset=utf-8",
	"app.js":           "text/javascript; charset=utf-8",
	"style.css":        "text/css; charset=utf-8",
	"socket.io.min.js": "text/javascript; charset=utf-8",
}

func (a *api) demo(c *gin.Context) {
	name := strings.TrimPrefix(c.Param("file"), "/")
	if name == "" {
		name = "index.html"
	}
	ctype, ok := demoTypes[name]
	if !ok {
		problem(c, http.StatusNotFound, apperr.CodeNotFound, "The demo has no such file.")
		return
	}
	path := filepath.Join(a.Demo.PageDir, name)
	if name == "socket.io.min.js" {
		path = a.Demo.Bundle
	}
	body, err := os.ReadFile(path)
	if err != nil {
		problem(c, http.StatusNotFound, apperr.CodeNotFound,
			"The demo's files are not here: run the server from the repository root, after `make node-deps`.")
		return
	}
	c.Header("Content-Security-Policy", "default-src 'self'; connect-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, ctype, body)
}
