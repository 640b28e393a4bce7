package services_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/store"
	"github.com/zoomtoken/tokenserver/services"
)

// recordingStates is a PendingStates that keeps what it was given, to see
// what a shared store would hold, and lets a test alter it.
type recordingStates struct {
	mu   sync.Mutex
	held map[string]heldState
}

type heldState struct {
	sub     string
	sealed  []byte
	expires time.Time
}

func (r *recordingStates) Put(_ context.Context, state, sub, _ string, sealed []byte, expires time.Time) (time.Duration, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held == nil {
		r.held = map[string]heldState{}
	}
	r.held[state] = heldState{sub: sub, sealed: append([]byte(nil), sealed...), expires: expires}
	return 0, nil
}

func (r *recordingStates) Take(_ context.Context, state string) (string, []byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.held[state]
	delete(r.held, state)
	return h.sub, h.sealed, ok
}

func (r *recordingStates) get(state string) heldState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held[state]
}

func (r *recordingStates) set(state string, h heldState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.held[state] = h
}

func pkceChallenge(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// What Connections gives PendingStates: the sub, the expiry of the state
// TTL, and the PKCE verifier sealed with the connections' keyring, bound
// to its state and sub: never in the clear, and useless under another
// state or when altered.
func TestPendingStatesHoldTheVerifierSealed(t *testing.T) {
	w := newWorld(t, nil)
	st := &recordingStates{}
	w.store = store.NewMemoryStore(w.clk.Now)
	cs, err := services.NewConnections(services.ConnectionsConfig{Zoom: w.zc, App: w.app, Store: w.store, Keyring: w.keys,
		Now: w.clk.Now, States: st, Logger: slog.New(slog.NewTextHandler(w.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	alice := caller(t, "alice@partner.example", services.RoleParticipant)
	authorize := func() (u, state, challenge string) {
		u, _, err := cs.Authorize(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		pu, _ := url.Parse(u)
		return u, pu.Query().Get("state"), pu.Query().Get("code_challenge")
	}

	u1, state1, challenge := authorize()
	h := st.get(state1)
	if h.sub != "alice@partner.example" || !h.expires.Equal(w.clk.Now().Add(10*time.Minute)) || len(h.sealed) == 0 {
		t.Fatalf("held %q %v %d bytes", h.sub, h.expires, len(h.sealed))
	}
	// No run of 43 bytes (a verifier's length) of the held value is the verifier.
	for i := 0; i+43 <= len(h.sealed); i++ {
		if pkceChallenge(string(h.sealed[i:i+43])) == challenge {
			t.Fatal("the PKCE verifier is held in the clear")
		}
	}
	if !strings.HasPrefix(string(h.sealed), "k1\x00") {
		t.Fatal("the verifier is not sealed with the connections' key")
	}

	// Zoom's code for link 1, its verifier moved under link 2's state: refused.
	code1, _ := w.fz.Consent(u1, "ZU_alice")
	_, state2, _ := authorize()
	st.set(state2, h)
	if _, err := cs.Complete(ctx, state2, code1, ""); !errors.Is(err, apperr.ErrInvalidInput) {
		t.Fatalf("a verifier moved to another state: %v", err)
	}
	// Held for another sub: refused.
	u3, state3, _ := authorize()
	code3, _ := w.fz.Consent(u3, "ZU_alice")
	h3 := st.get(state3)
	h3.sub = "mallory@example.com"
	st.set(state3, h3)
	if _, err := cs.Complete(ctx, state3, code3, ""); !errors.Is(err, apperr.ErrInvalidInput) {
		t.Fatalf("a verifier held for another sub: %v", err)
	}
	// Altered: refused, and logged without the value.
	u4, state4, _ := authorize()
	code4, _ := w.fz.Consent(u4, "ZU_alice")
	h4 := st.get(state4)
	h4.sealed[len(h4.sealed)-1] ^= 1
	st.set(state4, h4)
	if _, err := cs.Complete(ctx, state4, code4, ""); !errors.Is(err, apperr.ErrInvalidInput) {
		t.Fatalf("an altered verifier: %v", err)
	}
	if !strings.Contains(w.logs.String(), "does not open") {
		t.Fatalf("the refused verifier was not logged:\n%s", w.logs)
	}
	// Untouched: the flow completes through the store.
	u, _, _ := cs.Authorize(ctx, alice)
	code, state := w.fz.Consent(u, "ZU_alice")
	if _, err := cs.Complete(ctx, state, code, ""); err != nil {
		t.Fatalf("complete through the store: %v", err)
	}
}
