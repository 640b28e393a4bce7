package realtime

import (
	"fmt"
	"regexp"
	"runtime/debug"

	"github.com/zishang520/socket.io/v2/socket"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/wire"
)

// Codes of the error event sent before the server disconnects a client,
// besides the API's own.
const (
	codeUnauthorized   = apperr.CodeUnauthorized
	codeServerShutdown = "server_shutdown"
)

// reply answers an event: through the ack when there is one, else through
// the named event (or error).
func (s *Server) reply(sock *socket.Socket, ack socket.Ack, event string, body any, err error) {
	if err != nil {
		if apperr.Code(err) == apperr.CodeInternal {
			s.log.Error("socket event failed: internal error", "event", event, "err", err)
		}
		if ack != nil {
			ack([]any{wire.NewErrorResponse(err)}, nil)
			return
		}
		_ = sock.Emit(evError, errorEvent(event, err))
		return
	}
	if ack != nil {
		ack([]any{body}, nil)
		return
	}
	_ = sock.Emit(event, body)
}

// errorEvent is the body of the error event: {message, code} plus the event
// it answers, the error body's fields, and details for invalid input.
func errorEvent(event string, err error) map[string]any {
	r := wire.NewErrorResponse(err)
	m := map[string]any{"success": false, "message": r.Error, "error": r.Error, "code": r.Code}
	if event != "" {
		m["event"] = event
	}
	if len(r.Details) > 0 {
		m["details"] = r.Details
	}
	if e, ok := apperr.As(err); ok && e.RetryAfter > 0 {
		m["retryAfterSeconds"] = int(e.RetryAfter.Seconds() + 0.999)
	}
	return m
}

// safe recovers from a panic in a handler: the library runs handlers in
// goroutines of its own, where a panic would end the process.
func (s *Server) safe(sock *socket.Socket, event string, fn func(args ...any)) func(args ...any) {
	return func(args ...any) {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic in socket handler", "event", event, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				_, ack := splitArgs(args)
				s.reply(sock, ack, event, nil, fmt.Errorf("panic: %v", p))
			}
		}()
		fn(args...)
	}
}

// splitArgs separates an event's payload (its first argument) from its ack
// (its last argument, when it is one).
func splitArgs(args []any) (any, socket.Ack) {
	var ack socket.Ack
	if n := len(args); n > 0 {
		if a, ok := args[n-1].(socket.Ack); ok {
			ack = a
			args = args[:n-1]
		}
	}
	if len(args) == 0 {
		return nil, ack
	}
	return args[0], ack
}

var nonPrintable = regexp.MustCompile(`[^\x20-\x7e]`)

func truncate(s string, n int) string {
	s = nonPrintable.ReplaceAllString(s, "?")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
