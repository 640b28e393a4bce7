package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// KeySize is the length in bytes of every key in a Keyring (AES-256).
const KeySize = 32

// maxKeyIDLen bounds key ids. It is shorter than any base64 form of a key,
// so a key pasted where an id belongs can never pass as one (and so never
// be echoed in an error).
const maxKeyIDLen = 32

// aadLabel starts the associated data of every seal, so a ciphertext made
// for some other purpose with the same key does not open as a token.
const aadLabel = "zoomtoken/connections/refresh-token/v1"

var (
	// ErrInvalidKeyring: a keyring value could not be parsed.
	ErrInvalidKeyring = errors.New("invalid CONNECTIONS_KEY")
	// ErrUnknownKey: a sealed token names a key id the keyring does not hold.
	ErrUnknownKey = errors.New("sealed with a key not in the keyring")
	// ErrCannotOpen: a sealed token failed authentication: tampered, or
	// sealed for another sub.
	ErrCannotOpen = errors.New("sealed token does not open")
)

// Keyring seals and opens refresh tokens. The first key seals; every key
// opens, so a record sealed before a rotation still opens after it.
// A Keyring is safe for concurrent use.
type Keyring struct {
	ids   []string // ids[0] seals
	aeads map[string]cipher.AEAD
}

// ParseKeyring parses "id:base64key[,id:base64key…]". Ids are 1 to 32 of
// A-Z a-z 0-9 . _ - and must differ; each key is 32 bytes in standard or
// URL-safe base64, padded or not. Errors name the entry and what is wrong
// with it, never the key material.
func ParseKeyring(s string) (*Keyring, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("%w: empty; want id:base64key[,id:base64key…]", ErrInvalidKeyring)
	}
	k := &Keyring{aeads: map[string]cipher.AEAD{}}
	for i, entry := range strings.Split(s, ",") {
		n := i + 1
		entry = strings.TrimSpace(entry)
		if entry == "" {
			return nil, fmt.Errorf("%w: entry %d is empty", ErrInvalidKeyring, n)
		}
		id, encoded, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf("%w: entry %d has no ':'; want id:base64key", ErrInvalidKeyring, n)
		}
		id, encoded = strings.TrimSpace(id), strings.TrimSpace(encoded)
		if err := checkKeyID(id); err != nil {
			return nil, fmt.Errorf("%w: entry %d: %v", ErrInvalidKeyring, n, err)
		}
		if _, dup := k.aeads[id]; dup {
			return nil, fmt.Errorf("%w: entry %d: key id %q appears twice", ErrInvalidKeyring, n, id)
		}
		if encoded == "" {
			return nil, fmt.Errorf("%w: entry %d (key id %q): key is empty", ErrInvalidKeyring, n, id)
		}
		raw, err := decodeKey(encoded)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d (key id %q): key is not base64 (standard or URL-safe)", ErrInvalidKeyring, n, id)
		}
		if len(raw) != KeySize {
			return nil, fmt.Errorf("%w: entry %d (key id %q): key is %d bytes, want %d", ErrInvalidKeyring, n, id, len(raw), KeySize)
		}
		aead, err := newAEAD(raw)
		clear(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d (key id %q): %v", ErrInvalidKeyring, n, id, err)
		}
		k.ids = append(k.ids, id)
		k.aeads[id] = aead
	}
	return k, nil
}

// GenerateKeyring returns a keyring of one fresh random key, for sandbox
// mode, where nothing sealed outlives the process.
func GenerateKeyring() *Keyring {
	raw := make([]byte, KeySize)
	rand.Read(raw) // never fails: it crashes the program instead
	var idBytes [4]byte
	rand.Read(idBytes[:])
	id := "gen-" + hex.EncodeToString(idBytes[:])
	aead, err := newAEAD(raw)
	clear(raw)
	if err != nil {
		panic("connections: AES-256-GCM unavailable: " + err.Error())
	}
	return &Keyring{ids: []string{id}, aeads: map[string]cipher.AEAD{id: aead}}
}

// SealingKeyID is the id of the key that seals.
func (k *Keyring) SealingKeyID() string { return k.ids[0] }

// KeyIDs lists the key ids, the sealing key first.
func (k *Keyring) KeyIDs() []string { return append([]string(nil), k.ids...) }

// Seal encrypts token for sub with the sealing key and a random nonce.
func (k *Keyring) Seal(sub string, token Token) (Sealed, error) {
	if sub == "" {
		return Sealed{}, errors.New("seal: empty sub")
	}
	if token.Empty() {
		return Sealed{}, errors.New("seal: empty token")
	}
	id := k.ids[0]
	// The AEAD draws a fresh 12-byte nonce and puts it before the ciphertext.
	ct := k.aeads[id].Seal(nil, nil, []byte(token.Reveal()), aad(id, sub))
	return Sealed{KeyID: id, Ciphertext: ct}, nil
}

// Open decrypts s, which must have been sealed for sub. It fails with
// ErrUnknownKey when s names a key id the keyring lacks, and with
// ErrCannotOpen when s was sealed for another sub or was altered.
func (k *Keyring) Open(sub string, s Sealed) (Token, error) {
	aead, ok := k.aeads[s.KeyID]
	if !ok {
		return Token{}, fmt.Errorf("open: key id %q: %w", s.KeyID, ErrUnknownKey)
	}
	pt, err := aead.Open(nil, nil, s.Ciphertext, aad(s.KeyID, sub))
	if err != nil {
		return Token{}, fmt.Errorf("open: key id %q: %w", s.KeyID, ErrCannotOpen)
	}
	return NewToken(string(pt)), nil
}

// NeedsReseal reports whether s was sealed by a key other than the current
// sealing key; the caller re-seals on its next write (the next refresh).
func (k *Keyring) NeedsReseal(s Sealed) bool { return s.KeyID != k.ids[0] }

// String names the key ids only.
func (k *Keyring) String() string {
	return "keyring(" + strings.Join(k.ids, ",") + ")"
}

// GoString keeps %#v from printing the cipher state.
func (k *Keyring) GoString() string { return k.String() }

// LogValue logs the key ids only.
func (k *Keyring) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("keyIds", k.ids))
}

func checkKeyID(id string) error {
	if id == "" {
		return errors.New("key id is empty")
	}
	if len(id) > maxKeyIDLen {
		return fmt.Errorf("key id is longer than %d characters", maxKeyIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			// The id is not echoed: it may be something pasted in the wrong place.
			return fmt.Errorf("key id has a character outside A-Z a-z 0-9 . _ - (at position %d)", i+1)
		}
	}
	return nil
}

// decodeKey accepts standard or URL-safe base64, with or without padding.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(s)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(block)
}

// aad binds a ciphertext to its key id and to the sub it was sealed for.
// Key ids cannot contain NUL, so the encoding is unambiguous.
func aad(keyID, sub string) []byte {
	return []byte(aadLabel + "\x00" + keyID + "\x00" + sub)
}
