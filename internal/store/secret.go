package store

import (
	"fmt"
	"log/slog"
)

// Token is a refresh token in the clear. It prints, logs and marshals as
// REDACTED; only Reveal gives the value, at the one place it is sent to Zoom.
type Token struct{ v string }

// NewToken wraps s.
func NewToken(s string) Token { return Token{v: s} }

// Reveal returns the value. Call it only where the value is sent.
func (t Token) Reveal() string { return t.v }

// Empty reports whether no value is held.
func (t Token) Empty() bool { return t.v == "" }

func (Token) String() string               { return "REDACTED" }
func (Token) GoString() string             { return "REDACTED" }
func (Token) LogValue() slog.Value         { return slog.StringValue("REDACTED") }
func (Token) MarshalText() ([]byte, error) { return []byte("REDACTED"), nil }

// Sealed is a token sealed by a Keyring: the id of the key that sealed it
// and the nonce-prefixed AES-GCM ciphertext. Printing, logging or marshalling
// it shows the key id only, never the bytes.
type Sealed struct {
	KeyID      string
	Ciphertext []byte
}

// IsZero reports whether nothing is sealed.
func (s Sealed) IsZero() bool { return s.KeyID == "" && len(s.Ciphertext) == 0 }

func (s Sealed) String() string {
	if s.IsZero() {
		return "sealed(none)"
	}
	return fmt.Sprintf("sealed(key %s)", s.KeyID)
}

func (s Sealed) GoString() string { return s.String() }

func (s Sealed) LogValue() slog.Value {
	if s.IsZero() {
		return slog.StringValue("none")
	}
	return slog.GroupValue(slog.String("keyId", s.KeyID))
}

func (s Sealed) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// clone returns a copy that shares no memory with s.
func (s Sealed) clone() Sealed {
	if s.Ciphertext != nil {
		s.Ciphertext = append([]byte(nil), s.Ciphertext...)
	}
	return s
}
