package services

import "log/slog"

// Secret holds a credential. It prints and logs as REDACTED; only Reveal
// gives the value, at the one place it is sent.
type Secret struct{ v string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: s} }

// Reveal returns the value. Call it only where the value is sent.
func (s Secret) Reveal() string { return s.v }

// Empty reports whether no value is held.
func (s Secret) Empty() bool { return s.v == "" }

func (Secret) String() string               { return "REDACTED" }
func (Secret) GoString() string             { return "REDACTED" }
func (Secret) LogValue() slog.Value         { return slog.StringValue("REDACTED") }
func (Secret) MarshalText() ([]byte, error) { return []byte("REDACTED"), nil }
