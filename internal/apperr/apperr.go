// Package apperr is the one error type of the server: a kind (what went
// wrong, mapped to a caller-facing code by one table), the operation, a
// sentence a caller can act on, and the cause for logs. Every package
// returns these, so REST and Socket.IO answer the same failure the same way.
// Messages never hold a token or a secret.
package apperr

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kinds of failure. Every error the services return wraps exactly one of
// these, so transports can map it to a status and a code with errors.Is.
var (
	ErrInvalidInput    = errors.New("invalid input")
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrForbidden       = errors.New("forbidden")
	ErrNotFound        = errors.New("not found")
	ErrTooLarge        = errors.New("too large")
	ErrRateLimited     = errors.New("caller rate limited")
	ErrUserNotFound    = errors.New("zoom user not found")
	ErrZoomRejected    = errors.New("zoom rejected the request")
	ErrZoomAuth        = errors.New("zoom refused the S2S credentials")
	ErrZoomRateLimited = errors.New("zoom rate limit reached")
	ErrZoomUnavailable = errors.New("zoom unavailable")
	ErrZoomTimeout     = errors.New("zoom timed out")
	// ErrNotConnected: the user has no OAuth connection, and the account's
	// S2S app cannot mint for them either.
	ErrNotConnected = errors.New("user has no zoom connection")
	// ErrConnectionLost: the user's OAuth grant died (Zoom answered
	// invalid_grant, or it was revoked); the user must connect again.
	ErrConnectionLost = errors.New("zoom connection lost")
	// ErrMeetingNotFound: Zoom answered 3001, the meeting does not exist for
	// the credential asked (not in the account, not hosted by the user, or none).
	ErrMeetingNotFound = errors.New("zoom meeting not found")
	// ErrStoreUnavailable: the database of users' connections cannot be
	// used now (DATABASE_URL unreachable); minting through a connection
	// waits for it.
	ErrStoreUnavailable = errors.New("connections database unavailable")
	// ErrInvalidSignature: a signed request (a webhook, a bot platform's
	// callback, a signed callback URL) whose signature, expiry or secret is
	// wrong.
	ErrInvalidSignature = errors.New("invalid signature")
	// ErrPresenceTimeout: an await ran out before its user was in the meeting.
	ErrPresenceTimeout = errors.New("presence timeout")
	// ErrNoCandidate: a join with candidates where the meeting's presence is
	// known and none of them is in it.
	ErrNoCandidate = errors.New("no candidate present")
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
	// AuthorizeURL, with ErrNotConnected: the link the caller follows to
	// connect its Zoom account.
	AuthorizeURL string
	Err          error
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

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
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

// Error codes shown to callers, one per kind of failure (docs/API.md).
const (
	CodeInvalidRequest   = "invalid_request"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeUserNotFound     = "zoom_user_not_found"
	CodePayloadTooLarge  = "payload_too_large"
	CodeRateLimited      = "rate_limited"
	CodeZoomRejected     = "zoom_rejected"
	CodeZoomAuthFailed   = "zoom_auth_failed"
	CodeZoomRateLimited  = "zoom_rate_limited"
	CodeZoomUnavailable  = "zoom_unavailable"
	CodeNotConnected     = "not_connected"
	CodeConnectionLost   = "connection_lost"
	CodeMeetingNotFound  = "zoom_meeting_not_found"
	CodeStoreUnavailable = "store_unavailable"
	CodeInternal         = "internal"

	CodeInvalidSignature = "invalid_signature"    // a signed request's signature, timestamp, expiry or secret is wrong
	CodePresenceTimeout  = "presence_timeout"     // an await ran out
	CodeNoCandidate      = "no_candidate_present" // a join with candidates: none is in the meeting
)

var kindCodes = []struct {
	kind error
	code string
}{
	{ErrInvalidInput, CodeInvalidRequest},
	{ErrUnauthenticated, CodeUnauthorized},
	{ErrForbidden, CodeForbidden},
	{ErrNotFound, CodeNotFound},
	{ErrTooLarge, CodePayloadTooLarge},
	{ErrRateLimited, CodeRateLimited},
	{ErrUserNotFound, CodeUserNotFound},
	{ErrZoomRejected, CodeZoomRejected},
	{ErrZoomAuth, CodeZoomAuthFailed},
	{ErrZoomRateLimited, CodeZoomRateLimited},
	{ErrZoomUnavailable, CodeZoomUnavailable},
	{ErrZoomTimeout, CodeZoomUnavailable},
	{ErrNotConnected, CodeNotConnected},
	{ErrConnectionLost, CodeConnectionLost},
	{ErrInvalidSignature, CodeInvalidSignature},
	{ErrMeetingNotFound, CodeMeetingNotFound},
	{ErrStoreUnavailable, CodeStoreUnavailable},
	{ErrInvalidSignature, CodeInvalidSignature},
	{ErrPresenceTimeout, CodePresenceTimeout},
	{ErrNoCandidate, CodeNoCandidate},
}

// Code is the caller-facing code of err; "internal" for anything unknown.
func Code(err error) string {
	for _, kc := range kindCodes {
		if errors.Is(err, kc.kind) {
			return kc.code
		}
	}
	return CodeInternal
}

// PublicMessage is the sentence a caller may see for err. Unknown errors
// (bugs) say nothing internal.
func PublicMessage(err error) string {
	if e, ok := As(err); ok && Code(err) != CodeInternal {
		return e.Public()
	}
	return "Something went wrong on our side; the error was logged."
}
