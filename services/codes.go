package services

import "errors"

// Error codes shown to callers, one per kind of failure (DESIGN.md).
const (
	CodeInvalidRequest  = "invalid_request"
	CodeUnauthorized    = "unauthorized"
	CodeForbidden       = "forbidden"
	CodeNotFound        = "not_found"
	CodeUserNotFound    = "zoom_user_not_found"
	CodePayloadTooLarge = "payload_too_large"
	CodeRateLimited     = "rate_limited"
	CodeZoomRejected    = "zoom_rejected"
	CodeZoomAuthFailed  = "zoom_auth_failed"
	CodeZoomRateLimited = "zoom_rate_limited"
	CodeZoomUnavailable = "zoom_unavailable"
	CodeInternal        = "internal"
)

var kindCodes = []struct {
	kind error
	code string
}{
	{ErrInvalidInput, CodeInvalidRequest},
	{ErrUnauthenticated, CodeUnauthorized},
	{ErrForbidden, CodeForbidden},
	{ErrTooLarge, CodePayloadTooLarge},
	{ErrRateLimited, CodeRateLimited},
	{ErrUserNotFound, CodeUserNotFound},
	{ErrZoomRejected, CodeZoomRejected},
	{ErrZoomAuth, CodeZoomAuthFailed},
	{ErrZoomRateLimited, CodeZoomRateLimited},
	{ErrZoomUnavailable, CodeZoomUnavailable},
	{ErrZoomTimeout, CodeZoomUnavailable},
}

// ErrorCode is the caller-facing code of err; "internal" for anything unknown.
func ErrorCode(err error) string {
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
	if e, ok := AsError(err); ok && ErrorCode(err) != CodeInternal {
		return e.Public()
	}
	return "Something went wrong on our side; the error was logged."
}
