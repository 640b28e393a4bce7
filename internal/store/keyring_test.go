package store

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// keyBytes returns 32 bytes that differ by seed and include 0xfb and 0xff,
// so the standard and URL-safe base64 forms differ.
func keyBytes(seed byte) []byte {
	b := make([]byte, KeySize)
	for i := range b {
		b[i] = seed ^ byte(i*7)
	}
	b[0], b[1] = 0xfb, 0xff
	return b
}

func keyB64(seed byte) string { return base64.StdEncoding.EncodeToString(keyBytes(seed)) }

func mustKeyring(t *testing.T, s string) *Keyring {
	t.Helper()
	k, err := ParseKeyring(s)
	if err != nil {
		t.Fatalf("ParseKeyring: %v", err)
	}
	return k
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := mustKeyring(t, "k1:"+keyB64(1))
	const tok = "rt-plain-refresh-token-0001"
	s, err := k.Seal("alice", NewToken(tok))
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID != "k1" {
		t.Fatalf("key id = %q, want k1", s.KeyID)
	}
	if bytes.Contains(s.Ciphertext, []byte(tok)) {
		t.Fatal("ciphertext contains the token")
	}
	if got := len(s.Ciphertext); got != 12+len(tok)+16 {
		t.Fatalf("ciphertext is %d bytes, want nonce(12)+token+tag(16) = %d", got, 12+len(tok)+16)
	}
	got, err := k.Open("alice", s)
	if err != nil {
		t.Fatal(err)
	}
	if got.Reveal() != tok {
		t.Fatal("opened token differs")
	}
	// A fresh nonce each time: the same token seals differently.
	s2, _ := k.Seal("alice", NewToken(tok))
	if bytes.Equal(s.Ciphertext[:12], s2.Ciphertext[:12]) || bytes.Equal(s.Ciphertext, s2.Ciphertext) {
		t.Fatal("two seals share a nonce")
	}
}

func TestSealedForOneSubDoesNotOpenForAnother(t *testing.T) {
	k := mustKeyring(t, "k1:"+keyB64(1))
	s, err := k.Seal("alice", NewToken("rt-for-alice"))
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"bob", "Alice", "alice ", "", "alic"} {
		if _, err := k.Open(sub, s); !errors.Is(err, ErrCannotOpen) {
			t.Errorf("Open for %q: err = %v, want ErrCannotOpen", sub, err)
		}
	}
}

func TestTamperedOrMislabelledDoesNotOpen(t *testing.T) {
	k := mustKeyring(t, "k1:"+keyB64(1)+",k2:"+keyB64(2))
	s, _ := k.Seal("alice", NewToken("rt-x"))
	for i := range s.Ciphertext {
		bad := s.clone()
		bad.Ciphertext[i] ^= 0x01
		if _, err := k.Open("alice", bad); !errors.Is(err, ErrCannotOpen) {
			t.Fatalf("byte %d flipped: err = %v, want ErrCannotOpen", i, err)
		}
	}
	relabelled := s.clone()
	relabelled.KeyID = "k2"
	if _, err := k.Open("alice", relabelled); !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("relabelled key id: err = %v, want ErrCannotOpen", err)
	}
	if _, err := k.Open("alice", Sealed{KeyID: "k1", Ciphertext: s.Ciphertext[:5]}); !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("truncated: err = %v, want ErrCannotOpen", err)
	}
	unknown := s.clone()
	unknown.KeyID = "k9"
	if _, err := k.Open("alice", unknown); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown key id: err = %v, want ErrUnknownKey", err)
	}
}

func TestKeyRotation(t *testing.T) {
	old := mustKeyring(t, "k1:"+keyB64(1))
	s, err := old.Seal("alice", NewToken("rt-sealed-before-rotation"))
	if err != nil {
		t.Fatal(err)
	}
	if old.NeedsReseal(s) {
		t.Fatal("NeedsReseal before rotation")
	}
	rotated := mustKeyring(t, "k2:"+keyB64(2)+",k1:"+keyB64(1))
	got, err := rotated.Open("alice", s)
	if err != nil {
		t.Fatalf("old record after rotation: %v", err)
	}
	if got.Reveal() != "rt-sealed-before-rotation" {
		t.Fatal("opened token differs")
	}
	if !rotated.NeedsReseal(s) {
		t.Fatal("NeedsReseal = false for a record sealed with the old key")
	}
	s2, _ := rotated.Seal("alice", got)
	if s2.KeyID != "k2" || rotated.NeedsReseal(s2) {
		t.Fatalf("re-sealed with %q, NeedsReseal %v; want k2, false", s2.KeyID, rotated.NeedsReseal(s2))
	}
	// Once the old key is dropped, old records no longer open.
	onlyNew := mustKeyring(t, "k2:"+keyB64(2))
	if _, err := onlyNew.Open("alice", s); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old key dropped: err = %v, want ErrUnknownKey", err)
	}
	if got := rotated.KeyIDs(); strings.Join(got, ",") != "k2,k1" || rotated.SealingKeyID() != "k2" {
		t.Fatalf("KeyIDs = %v, SealingKeyID = %q", got, rotated.SealingKeyID())
	}
}

func TestParseKeyringEncodings(t *testing.T) {
	raw := keyBytes(3)
	forms := map[string]string{
		"std padded":   base64.StdEncoding.EncodeToString(raw),
		"std raw":      base64.RawStdEncoding.EncodeToString(raw),
		"url padded":   base64.URLEncoding.EncodeToString(raw),
		"url raw":      base64.RawURLEncoding.EncodeToString(raw),
		"spaces, crlf": "  " + base64.StdEncoding.EncodeToString(raw) + " \r\n",
	}
	if forms["std raw"] == forms["url raw"] {
		t.Fatal("test key does not tell the encodings apart")
	}
	ref := mustKeyring(t, "k:"+forms["std padded"])
	s, _ := ref.Seal("alice", NewToken("rt"))
	for name, enc := range forms {
		k, err := ParseKeyring("k:" + enc)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if _, err := k.Open("alice", s); err != nil {
			t.Errorf("%s: decodes to another key: %v", name, err)
		}
	}
}

func TestParseKeyringRefusals(t *testing.T) {
	good := keyB64(1)
	short := base64.StdEncoding.EncodeToString(keyBytes(1)[:16])
	long := base64.StdEncoding.EncodeToString(append(keyBytes(1), 0, 0, 0))
	urlKey := base64.RawURLEncoding.EncodeToString(keyBytes(5))
	cases := []struct {
		name, in, want string
	}{
		{"empty", "", "empty"},
		{"blank", "  \n", "empty"},
		{"no colon", good, "entry 1 has no ':'"},
		{"empty id", ":" + good, "entry 1: key id is empty"},
		{"space in id", "k 1:" + good, "entry 1: key id has a character outside"},
		{"unicode id", "clé:" + good, "entry 1: key id has a character outside"},
		{"key and id swapped", urlKey + ":k1", "entry 1: key id is longer than 32"},
		{"empty key", "k1:", `entry 1 (key id "k1"): key is empty`},
		{"not base64", "k1:" + good[:20] + "!*" + good[22:], `entry 1 (key id "k1"): key is not base64`},
		{"mixed alphabets", "k1:" + strings.Replace(good, "/", "_", 1), `entry 1 (key id "k1"): key is not base64`},
		{"16 bytes", "k1:" + short, `entry 1 (key id "k1"): key is 16 bytes, want 32`},
		{"35 bytes", "k1:" + long, `entry 1 (key id "k1"): key is 35 bytes, want 32`},
		{"duplicate id", "k1:" + good + ",k1:" + keyB64(2), `entry 2: key id "k1" appears twice`},
		{"trailing comma", "k1:" + good + ",", "entry 2 is empty"},
		{"empty middle", "k1:" + good + ",,k2:" + keyB64(2), "entry 2 is empty"},
		{"second entry bad", "k1:" + good + ",k2:" + short, `entry 2 (key id "k2"): key is 16 bytes`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := ParseKeyring(c.in)
			if err == nil {
				t.Fatalf("accepted %s", k)
			}
			if !errors.Is(err, ErrInvalidKeyring) {
				t.Errorf("err %v is not ErrInvalidKeyring", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) {
				t.Errorf("error %q does not say %q", msg, c.want)
			}
			assertNoKeyMaterial(t, msg, c.in)
		})
	}
}

// assertNoKeyMaterial fails when msg holds any 8-character run of a key
// part of the keyring value in.
func assertNoKeyMaterial(t *testing.T, msg, in string) {
	t.Helper()
	for _, entry := range strings.Split(in, ",") {
		parts := strings.SplitN(entry, ":", 2)
		for _, p := range parts {
			p = strings.TrimSpace(p)
			if len(p) <= maxKeyIDLen && len(parts) == 2 && p == parts[0] {
				continue // an id, which may be named
			}
			for i := 0; i+8 <= len(p); i++ {
				if strings.Contains(msg, p[i:i+8]) {
					t.Fatalf("error %q echoes key material %q", msg, p[i:i+8])
				}
			}
		}
	}
}

func TestGenerateKeyring(t *testing.T) {
	a, b := GenerateKeyring(), GenerateKeyring()
	if a.SealingKeyID() == b.SealingKeyID() {
		t.Fatal("two generated keyrings share an id")
	}
	if err := checkKeyID(a.SealingKeyID()); err != nil {
		t.Fatalf("generated id: %v", err)
	}
	s, err := a.Seal("alice", NewToken("rt"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := a.Open("alice", s); err != nil || got.Reveal() != "rt" {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := b.Open("alice", Sealed{KeyID: a.SealingKeyID(), Ciphertext: s.Ciphertext}); err == nil {
		t.Fatal("another generated keyring opened it")
	}
}

func TestSealRefusesEmpty(t *testing.T) {
	k := GenerateKeyring()
	if _, err := k.Seal("", NewToken("rt")); err == nil {
		t.Error("sealed for an empty sub")
	}
	if _, err := k.Seal("alice", NewToken("")); err == nil {
		t.Error("sealed an empty token")
	}
}

// TestNothingPrintsSecrets formats a token, a sealed token, a connection
// and a keyring every way a log line or an answer might, and looks for the
// token, the ciphertext and the key in every encoding.
func TestNothingPrintsSecrets(t *testing.T) {
	const tok = "rt-very-secret-refresh-token"
	keyText := keyB64(7)
	k := mustKeyring(t, "k1:"+keyText)
	s, err := k.Seal("alice", NewToken(tok))
	if err != nil {
		t.Fatal(err)
	}
	conn := Connection{Sub: "alice", ZoomUserID: "zu1", Email: "a@example.com", AccountID: "acc",
		Status: StatusConnected, Scopes: []string{"user:read:token"}, Refresh: s, Version: 4}

	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("x", "token", NewToken(tok), "sealed", s, "conn", conn, "keyring", k, "ptr", &conn)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "token", NewToken(tok), "sealed", s, "conn", conn, "keyring", k)

	var out []string
	for _, v := range []any{NewToken(tok), s, conn, &conn, k, []Connection{conn}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			out = append(out, fmt.Sprintf(verb, v))
		}
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json %T: %v", v, err)
		}
		out = append(out, string(j))
	}
	out = append(out, logs.String())
	all := strings.Join(out, "\n")

	forbidden := map[string]string{
		"token":             tok,
		"ciphertext hex":    hex.EncodeToString(s.Ciphertext),
		"ciphertext base64": base64.StdEncoding.EncodeToString(s.Ciphertext),
		"ciphertext raw":    string(s.Ciphertext),
		"key base64":        keyText,
		"key hex":           hex.EncodeToString(keyBytes(7)),
	}
	for name, f := range forbidden {
		if strings.Contains(all, f) {
			t.Errorf("%s appears in formatted output", name)
		}
	}
	// The ciphertext bytes printed as a Go byte list, as %v of a []byte would.
	if strings.Contains(all, fmt.Sprint(s.Ciphertext[:6])[1:12]) {
		t.Error("ciphertext bytes appear as a byte list")
	}
	if !strings.Contains(all, "REDACTED") || !strings.Contains(all, `sub="alice"`) {
		t.Errorf("formatting lost the useful parts:\n%s", all)
	}
}
