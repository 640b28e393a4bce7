package routes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/zoomtoken/tokenserver/services"
)

// decodeBody reads the request body, at most limit bytes, as one JSON object
// into dst, whose fields are json.RawMessage so that each field's type is
// checked with a specific reason. Unknown fields are ignored, as the original
// service did.
func decodeBody(c *gin.Context, limit int64, dst any) error {
	const op = "read body"
	// The body must be a JSON object whatever the Content-Type says (curl -d
	// sends a form type); only a multipart upload is refused outright.
	if ct := c.GetHeader("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil && strings.HasPrefix(mt, "multipart/") {
			return services.InvalidInput(op, services.FieldError{Field: "Content-Type", Reason: "must be application/json"})
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &services.Error{Kind: services.ErrTooLarge, Op: op,
				Message: fmt.Sprintf("The request body is larger than %d bytes.", limit)}
		}
		return services.InvalidInput(op, services.FieldError{Field: "body", Reason: "could not be read"})
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return services.InvalidInput(op, services.FieldError{Field: "body", Reason: "is empty; send a JSON object"})
	}
	if body[0] != '{' {
		return services.InvalidInput(op, services.FieldError{Field: "body", Reason: "must be a JSON object"})
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(dst); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return services.InvalidInput(op, services.FieldError{Field: "body", Reason: fmt.Sprintf("is not valid JSON (at byte %d)", se.Offset)})
		}
		return services.InvalidInput(op, services.FieldError{Field: "body", Reason: "is not valid JSON"})
	}
	if _, err := dec.Token(); err != io.EOF {
		return services.InvalidInput(op, services.FieldError{Field: "body", Reason: "must hold one JSON object and nothing after it"})
	}
	return nil
}

// fields collects the reasons a request's fields are wrong.
type fields struct{ details []services.FieldError }

func (f *fields) add(field, reason string) {
	f.details = append(f.details, services.FieldError{Field: field, Reason: reason})
}

func (f *fields) err(op string) error {
	if len(f.details) == 0 {
		return nil
	}
	return services.InvalidInput(op, f.details...)
}

func (f *fields) meetingID(name string, raw json.RawMessage) services.MeetingID {
	m, reason := services.ParseMeetingID(raw)
	if reason != "" {
		f.add(name, reason)
	}
	return m
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// userID reads a required string; its content is checked by the services.
func (f *fields) userID(name string, raw json.RawMessage) string {
	if isNull(raw) {
		f.add(name, "is required")
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		f.add(name, "must be a string (a Zoom user id or email)")
		return ""
	}
	if reason := services.CheckUserID(s); reason != "" {
		f.add(name, reason)
	}
	return s
}

// userIDs reads an optional array of strings.
func (f *fields) userIDs(name string, raw json.RawMessage, required bool) []string {
	if isNull(raw) {
		if required {
			f.add(name, "is required: an array of Zoom user ids or emails")
		}
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		f.add(name, "must be an array of strings")
		return nil
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		var s string
		if err := json.Unmarshal(it, &s); err != nil {
			f.add(fmt.Sprintf("%s[%d]", name, i), "must be a string")
			continue
		}
		out = append(out, s)
	}
	return out
}

// ttl reads an optional lifetime in whole seconds.
func (f *fields) ttl(name string, raw json.RawMessage) int {
	if isNull(raw) {
		return 0
	}
	var n json.Number
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&n); err != nil {
		f.add(name, "must be a whole number of seconds")
		return 0
	}
	v, err := n.Int64()
	if err != nil || v < 1 || v > services.MaxTTLSeconds {
		f.add(name, fmt.Sprintf("must be a whole number of seconds from 1 to %d", services.MaxTTLSeconds))
		return 0
	}
	return int(v)
}
