package jsonbody

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/zoomtoken/tokenserver/internal/apperr"
)

func details(t *testing.T, err error) (string, []apperr.FieldError) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok {
		t.Fatalf("%v is not an *apperr.Error", err)
	}
	if !errors.Is(err, apperr.ErrInvalidInput) {
		t.Errorf("%v is not apperr.ErrInvalidInput", err)
	}
	return e.Message, e.Details
}

func TestFieldsNoneIsNil(t *testing.T) {
	var f Fields
	if err := f.Err("op"); err != nil || f.Len() != 0 {
		t.Fatalf("no reasons: %v, %d", err, f.Len())
	}
}

func TestFieldsListInOrder(t *testing.T) {
	var f Fields
	f.Add("a", "is required")
	f.Add("b", "must be a string")
	msg, d := details(t, f.Err("start"))
	if msg != "The request is not valid: 2 fields are wrong (see details)." {
		t.Errorf("message %q", msg)
	}
	if len(d) != 2 || d[0] != (apperr.FieldError{Field: "a", Reason: "is required"}) || d[1].Field != "b" {
		t.Errorf("details %+v", d)
	}
	var one Fields
	one.Add("ttl", "must be a whole number")
	if msg, _ := details(t, one.Err("start")); msg != "The request is not valid: ttl must be a whole number." {
		t.Errorf("one reason: %q", msg)
	}
}

func TestFieldsMax(t *testing.T) {
	tests := []struct {
		max, added, listed int
		msg                string
	}{
		{0, 30, 30, "The request is not valid: 30 fields are wrong (see details)."},
		{20, 20, 20, "The request is not valid: 20 fields are wrong (see details)."},
		{20, 21, 20, "The request is not valid: 21 fields are wrong; details lists the first 20."},
		{3, 1000, 3, "The request is not valid: 1000 fields are wrong; details lists the first 3."},
	}
	for _, tt := range tests {
		f := Fields{Max: tt.max}
		for i := range tt.added {
			f.Add(fmt.Sprintf("x[%d]", i), "must be a string")
		}
		msg, d := details(t, f.Err("batch-join"))
		if len(d) != tt.listed || msg != tt.msg || f.Len() != tt.added {
			t.Errorf("max %d, %d added: %d listed, len %d, %q", tt.max, tt.added, len(d), f.Len(), msg)
		}
		if d[len(d)-1].Field != fmt.Sprintf("x[%d]", tt.listed-1) {
			t.Errorf("max %d: the last listed is %+v, not the first ones", tt.max, d[len(d)-1])
		}
	}
}

func TestFieldsStopAnswersAlone(t *testing.T) {
	var f Fields
	f.Add("meetingId", "is required")
	first := &apperr.Error{Kind: apperr.ErrTooLarge, Message: "too many"}
	f.Stop(first)
	f.Stop(errors.New("second"))
	f.Add("ttl", "must be a whole number")
	if err := f.Err("op"); err != first {
		t.Fatalf("Err = %v, want the first error given to Stop", err)
	}
}

func TestPresent(t *testing.T) {
	for raw, want := range map[string]bool{``: false, `null`: false, ` null `: false, "\tnull\n": false,
		`0`: true, `""`: true, `false`: true, `[]`: true, `{}`: true, `"null"`: true} {
		if got := Present(json.RawMessage(raw)); got != want {
			t.Errorf("Present(%q) = %v", raw, got)
		}
	}
}

func TestRequired(t *testing.T) {
	var f Fields
	if !f.Required("a", json.RawMessage(`"x"`), "is required") || f.Required("b", json.RawMessage(`null`), "is required") || f.Required("c", nil, "is needed") {
		t.Fatal("Required answers presence")
	}
	_, d := details(t, f.Err("op"))
	if len(d) != 2 || d[0] != (apperr.FieldError{Field: "b", Reason: "is required"}) || d[1] != (apperr.FieldError{Field: "c", Reason: "is needed"}) {
		t.Errorf("details %+v", d)
	}
}

// reader runs one of the readers on raw: its value, and ok.
type reader func(f *Fields, raw json.RawMessage) (any, bool)

func TestReaders(t *testing.T) {
	str := func(f *Fields, raw json.RawMessage) (any, bool) { return f.String("f", raw, "R") }
	integer := func(f *Fields, raw json.RawMessage) (any, bool) { return f.Int("f", raw, "R") }
	coerced := func(f *Fields, raw json.RawMessage) (any, bool) { return f.IntOrString("f", raw, "R") }
	boolean := func(f *Fields, raw json.RawMessage) (any, bool) { return f.Bool("f", raw, "R") }
	tests := []struct {
		name string
		read reader
		raw  string
		want any
		ok   bool
	}{
		{"string", str, `"abc"`, "abc", true},
		{"string escaped", str, `"a\u00e9"`, "aé", true},
		{"string null is empty", str, `null`, "", true},
		{"string from a number", str, `12`, "", false},
		{"string from an array", str, `["a"]`, "", false},

		{"int", integer, `42`, int64(42), true},
		{"int negative", integer, `-7`, int64(-7), true},
		{"int fraction", integer, `1.5`, int64(0), false},
		{"int exponent", integer, `1e3`, int64(0), false},
		{"int string", integer, `"5"`, int64(0), false},
		{"int too big", integer, `9223372036854775808`, int64(0), false},
		{"int bool", integer, `true`, int64(0), false},

		{"coerced number", coerced, `1`, 1, true},
		{"coerced string", coerced, `"0"`, 0, true},
		{"coerced plus", coerced, `"+5"`, 5, true},
		{"coerced leading zero", coerced, `"05"`, 5, true},
		{"coerced spaced raw", coerced, ` 7 `, 7, true},
		{"coerced fraction", coerced, `1.5`, 0, false},
		{"coerced word", coerced, `"one"`, 0, false},
		{"coerced spaced string", coerced, `" 5"`, 0, false},
		{"coerced bool", coerced, `true`, 0, false},
		{"coerced broken string", coerced, `"\x"`, 0, false},

		{"bool true", boolean, `true`, true, true},
		{"bool false", boolean, `false`, false, true},
		{"bool string", boolean, `"true"`, false, false},
		{"bool number", boolean, `1`, false, false},
	}
	for _, tt := range tests {
		var f Fields
		got, ok := tt.read(&f, json.RawMessage(tt.raw))
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: got %#v, %v; want %#v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
		err := f.Err("op")
		if tt.ok && err != nil {
			t.Errorf("%s: a good value added a reason: %v", tt.name, err)
		}
		if !tt.ok {
			if _, d := details(t, err); len(d) != 1 || d[0] != (apperr.FieldError{Field: "f", Reason: "R"}) {
				t.Errorf("%s: details %+v", tt.name, d)
			}
		}
	}
}
