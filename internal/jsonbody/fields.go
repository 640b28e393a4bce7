package jsonbody

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/zoomtoken/tokenserver/internal/apperr"
)

// Fields collects the reasons a request's fields are wrong, in the order
// they are found, for one apperr.ErrInvalidInput error. Request decoders
// read each field as raw JSON (json.RawMessage), so that each wrong type
// gets its own reason, and add a reason per bad field. The zero value
// lists every reason; Max bounds the list.
type Fields struct {
	// Max is how many reasons the error lists; the rest are only counted,
	// and the message says how many there were. 0: no bound.
	Max int

	details []apperr.FieldError
	more    int
	alone   error
}

// Add records that field is wrong, and why.
func (f *Fields) Add(field, reason string) {
	if f.Max > 0 && len(f.details) >= f.Max {
		f.more++
		return
	}
	f.details = append(f.details, apperr.FieldError{Field: field, Reason: reason})
}

// Stop records an error that is answered alone, whatever else is wrong
// (a list over its limit: 413, not 400). The first one wins.
func (f *Fields) Stop(err error) {
	if f.alone == nil {
		f.alone = err
	}
}

// Len is how many reasons were added, listed or only counted.
func (f *Fields) Len() int { return len(f.details) + f.more }

// Err is the error for op: the one given to Stop, else an
// apperr.ErrInvalidInput listing the reasons, else nil.
func (f *Fields) Err(op string) error {
	if f.alone != nil {
		return f.alone
	}
	if len(f.details) == 0 {
		return nil
	}
	e := apperr.InvalidInput(op, f.details...)
	if f.more > 0 {
		e.Message = fmt.Sprintf("The request is not valid: %d fields are wrong; details lists the first %d.", f.Len(), f.Max)
	}
	return e
}

// Present reports whether a field was sent with a value other than null.
// Null counts as absent.
func Present(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && !bytes.Equal(raw, []byte("null"))
}

// Required reports whether the field is present; when it is not, it adds
// reason (for example "is required").
func (f *Fields) Required(name string, raw json.RawMessage, reason string) bool {
	if Present(raw) {
		return true
	}
	f.Add(name, reason)
	return false
}

// String reads a field as a JSON string; when it is not one, it adds
// reason and ok is false. Like the readers below, it reads null as the
// zero value: check Present or Required first where null means absent.
func (f *Fields) String(name string, raw json.RawMessage, reason string) (s string, ok bool) {
	if err := json.Unmarshal(raw, &s); err != nil {
		f.Add(name, reason)
		return "", false
	}
	return s, true
}

// Int reads a field as a JSON number that is a whole number (not
// 1.5, 1e3 or "5"); when it is not one, it adds reason and ok is false.
func (f *Fields) Int(name string, raw json.RawMessage, reason string) (n int64, ok bool) {
	if err := json.Unmarshal(raw, &n); err != nil {
		f.Add(name, reason)
		return 0, false
	}
	return n, true
}

// IntOrString reads a present field as a whole number sent either as a
// JSON number or as a JSON string holding one in decimal ("5", "+5",
// "05"), as JavaScript's parseInt would coerce it; when it is neither, it
// adds reason and ok is false.
func (f *Fields) IntOrString(name string, raw json.RawMessage, reason string) (n int, ok bool) {
	raw = bytes.TrimSpace(raw)
	s := string(raw)
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			f.Add(name, reason)
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		f.Add(name, reason)
		return 0, false
	}
	return n, true
}

// Bool reads a field as a JSON true or false; when it is neither,
// it adds reason and ok is false.
func (f *Fields) Bool(name string, raw json.RawMessage, reason string) (b bool, ok bool) {
	if err := json.Unmarshal(raw, &b); err != nil {
		f.Add(name, reason)
		return false, false
	}
	return b, true
}
