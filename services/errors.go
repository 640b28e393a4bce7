// Package services holds the domain of the token server: the Zoom client
// (S2S token cache, ZAK/OBF minting, error mapping), caller authentication and
// authorization, and the meeting operations shared by REST and Socket.IO.
// It knows nothing of gin or socket.io.
package services

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kinds of failure. Every error the services return wraps exactly one of
// these, so transports can map it to a status and a code with errors.Is.
var (
	ErrInvalidInput     = errors.New("invalid input")
	ErrUnauthenticated  = errors.New("unauthenticated")
	ErrForbidden        = errors.New("forbidden")
	ErrTooLarge         = errors.New("too large")
	ErrRateLimited      = errors.New("caller rate limited")
	ErrUserNotFound     = errors.New("zoom user not found")
	ErrZoomRejected     = errors.New("zoom rejected the request")
	ErrZoomAuth         = errors.New("zoom refused the S2S credentials")
	ErrZoomRateLimited  = errors.New("zoom rate limit reached")
	ErrZoomUnavailable  = errors.New("zoom unavailable")
	ErrZoomTimeout      = errors.New("zoom timed out")
	errInvalidZoomReply = errors.New("unexpected reply from zoom")
)

// FieldError names one bad field of a request and why it is bad.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// Error is the error type of the services. Message is a sentence a caller
// can act on and is safe to show; Err is the cause, for logs only. Neither
// ever holds a token or a secret.
type Error struct {
	Kind       error
	Op         string
	Message    string
	Hint       string
	ZoomCode   int
	RetryAfter time.Duration
	Details    []FieldError
	Err        error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap lets errors.Is match both the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Public is the sentence shown to the caller: the message and the hint.
func (e *Error) Public() string {
	if e.Hint == "" {
		return e.Message
	}
	return e.Message + " " + e.Hint
}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

func newErr(kind error, op, format string, args ...any) *Error {
	return &Error{Kind: kind, Op: op, Message: fmt.Sprintf(format, args...)}
}

// InvalidInput builds an ErrInvalidInput error carrying field details.
func InvalidInput(op string, details ...FieldError) *Error {
	msg := "The request is not valid."
	if len(details) == 1 {
		msg = fmt.Sprintf("The request is not valid: %s %s.", details[0].Field, details[0].Reason)
	} else if len(details) > 1 {
		msg = fmt.Sprintf("The request is not valid: %d fields are wrong (see details).", len(details))
	}
	return &Error{Kind: ErrInvalidInput, Op: op, Message: msg, Details: details}
}
