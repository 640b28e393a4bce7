package routes

import (
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/wire"
)

// statusOf is the one table from error code to HTTP status (docs/API.md).
var statusOf = map[string]int{
	apperr.CodeInvalidRequest:  http.StatusBadRequest,
	apperr.CodeUnauthorized:    http.StatusUnauthorized,
	apperr.CodeForbidden:       http.StatusForbidden,
	apperr.CodeNotFound:        http.StatusNotFound,
	apperr.CodeUserNotFound:    http.StatusNotFound,
	apperr.CodePayloadTooLarge: http.StatusRequestEntityTooLarge,
	apperr.CodeRateLimited:     http.StatusTooManyRequests,
	apperr.CodeZoomRejected:    http.StatusBadGateway,
	apperr.CodeZoomAuthFailed:  http.StatusServiceUnavailable,
	apperr.CodeZoomRateLimited: http.StatusServiceUnavailable,
	apperr.CodeZoomUnavailable: http.StatusServiceUnavailable,
	apperr.CodeNotConnected:    http.StatusConflict,
	apperr.CodeConnectionLost:  http.StatusConflict,
	apperr.CodeMeetingNotFound: http.StatusNotFound,
	apperr.CodeInternal:        http.StatusInternalServerError,

	apperr.CodeStoreUnavailable: http.StatusServiceUnavailable,
	apperr.CodeInvalidSignature: http.StatusUnauthorized,
	apperr.CodePresenceTimeout:  http.StatusRequestTimeout,
	apperr.CodeNoCandidate:      http.StatusConflict,
}

// fail writes err as the JSON error body, with the status of its code. It is
// the only place an error becomes a response.
func fail(c *gin.Context, log *slog.Logger, err error) {
	body := wire.NewErrorResponse(err)
	status := statusOf[body.Code]
	if errors.Is(err, apperr.ErrZoomTimeout) {
		status = http.StatusGatewayTimeout
	}
	if e, ok := apperr.As(err); ok && e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	if status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="zoom-token-server"`)
	}
	switch {
	case status >= 500 && body.Code == apperr.CodeInternal:
		log.Error("request failed: internal error", "route", c.FullPath(), "err", err)
	case status >= 500:
		log.Warn("request failed: zoom", "route", c.FullPath(), "code", body.Code, "err", err)
	}
	c.Header("Cache-Control", "no-store")
	c.Abort()
	writeJSON(c, status, body) // "<jwt>" as it is, not "\u003cjwt\u003e"
}

// problem is a transport-level error (routing, body) with its own code.
func problem(c *gin.Context, status int, code, msg string) {
	c.Header("Cache-Control", "no-store")
	c.Abort()
	writeJSON(c, status, wire.ErrorResponse{Error: msg, Code: code})
}
