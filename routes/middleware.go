package routes

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"
)

// requestLog gives each request an id (from X-Request-ID when it is sane),
// echoes it, and logs one line when the request ends. It logs the route
// pattern, never the raw path or query, so nothing a client put in a URL
// reaches the log.
func (a *api) requestLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		id := c.GetHeader("X-Request-ID")
		if !saneRequestID(id) {
			id = newRequestID()
		}
		c.Header("X-Request-ID", id)
		c.Set("request_id", id)
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		d := time.Since(start)
		status := c.Writer.Status()
		if a.Observe != nil {
			a.Observe(route, status, d)
		}
		if route == "/socket.io/*any" && status < 400 {
			return // engine.io polling is chatty; failures still log
		}
		attrs := []any{"request_id", id, "method", c.Request.Method, "route", route, "status", status,
			"duration_ms", float64(d.Microseconds()) / 1000, "bytes", c.Writer.Size(), "client", a.clientAddr(c)}
		if who := caller(c); who.Subject != "" {
			attrs = append(attrs, "caller", who.Subject, "role", string(who.Role))
		}
		level := a.Logger.Info
		switch {
		case route == "/api/health" || route == "/api/live":
			level = a.Logger.Debug // probes: a change of readiness is logged once, with its cause (noteHealth)
		case status >= 500:
			level = a.Logger.Error
		}
		level("request", attrs...)
	}
}

func saneRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == ':') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// recovery turns a panic into a 500 that says nothing internal, and logs it.
func (a *api) recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.Logger.Error("panic while serving", "route", c.FullPath(), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				fail(c, a.Logger, fmt.Errorf("panic: %v", p))
			}
		}()
		c.Next()
	}
}

// clientAddr is the address the request is guarded, limited and logged by
// (gate.TrustedProxies.ClientAddr: the rule Socket.IO applies too).
func (a *api) clientAddr(c *gin.Context) string {
	return a.TrustedProxies.ClientAddr(c.Request.RemoteAddr, c.Request.Header.Values("X-Forwarded-For"))
}
