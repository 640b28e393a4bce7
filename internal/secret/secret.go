// Package secret holds credentials so that they never print: a Value logs,
// formats and marshals as REDACTED; only Reveal gives the value, at the one
// place it is sent.
package secret

import "log/slog"

// Value holds a credential or a token.
type Value struct{ v string }

// New wraps s.
func New(s string) Value { return Value{v: s} }

// Reveal returns the value. Call it only where the value is sent.
func (s Value) Reveal() string { return s.v }

// Empty reports whether no value is held.
func (s Value) Empty() bool { return s.v == "" }

func (Value) String() string               { return "REDACTED" }
func (Value) GoString() string             { return "REDACTED" }
func (Value) LogValue() slog.Value         { return slog.StringValue("REDACTED") }
func (Value) MarshalText() ([]byte, error) { return []byte("REDACTED"), nil }
