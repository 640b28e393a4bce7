// Package jsonbody reads a request body as exactly one JSON object, with a
// reason a caller can act on when it is not one, and collects what is wrong
// with its fields (Fields): the request decoders (package wire, package
// sdk) read each field as raw JSON and add one reason per bad field.
package jsonbody

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/zoomtoken/tokenserver/internal/apperr"
)

// Decode reads body as exactly one JSON object into dst; op names the
// operation in the error. Fields then collects what is wrong with the
// fields read from dst.
func Decode(op string, body []byte, dst any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return apperr.InvalidInput(op, apperr.FieldError{Field: "body", Reason: "is empty; send a JSON object"})
	}
	if body[0] != '{' {
		return apperr.InvalidInput(op, apperr.FieldError{Field: "body", Reason: "must be a JSON object"})
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(dst); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return apperr.InvalidInput(op, apperr.FieldError{Field: "body", Reason: fmt.Sprintf("is not valid JSON (at byte %d)", se.Offset)})
		}
		return apperr.InvalidInput(op, apperr.FieldError{Field: "body", Reason: "is not valid JSON"})
	}
	if _, err := dec.Token(); err != io.EOF {
		return apperr.InvalidInput(op, apperr.FieldError{Field: "body", Reason: "must hold one JSON object and nothing after it"})
	}
	return nil
}
