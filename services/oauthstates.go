package services

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/store"
)

// PendingStates keeps the connect flow's pending links between Authorize
// and Zoom's redirect (Complete): each state with the sub that asked for
// it, the client address it was asked from, and its PKCE verifier, sealed
// (Connections seals it with the CONNECTIONS_KEY that seals refresh
// tokens, bound to the state and the sub, before Put). A state is single
// use and lives until expires. Three bounds keep one caller from spoiling
// the links of others:
//   - one sub keeps at most store.MaxPendingPerSub open: a new one retires its
//     own oldest (a user who clicks Connect again is not refused);
//   - one address keeps at most store.MaxPendingPerAddr open: beyond that, Put
//     refuses, answering how long until the address's oldest link expires
//     (429 rate_limited with that Retry-After), so many identities behind
//     one address cannot fill the table;
//   - all together, at most a global cap: a new link retires the oldest of
//     all, never refusing, so the table full (links from many addresses)
//     shortens the life of links but blocks no one.
//
// store.MemoryPending is the one-process implementation; store.RedisPending
// lets Zoom's redirect land on another instance than the one that made
// the link.
type PendingStates interface {
	// Put keeps state for sub, asked from addr ("" when unknown: no
	// address cap), until expires. refused > 0: addr holds its cap of
	// links; nothing was kept, and one frees up in that time.
	Put(ctx context.Context, state, sub, addr string, sealedVerifier []byte, expires time.Time) (refused time.Duration, err error)
	// Take removes state and answers what it held; ok is false for a
	// state that is unknown, used or expired.
	Take(ctx context.Context, state string) (sub string, sealedVerifier []byte, ok bool)
}

// clientAddrKey is the context key of the caller's client address.
type clientAddrKey struct{}

// WithClientAddr returns ctx carrying the caller's client address (as
// TrustedProxies.ClientAddr gives it), which the connect links it makes
// are counted by.
func WithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// clientAddrFrom is the address WithClientAddr put in ctx; "" when none.
func clientAddrFrom(ctx context.Context) string {
	a, _ := ctx.Value(clientAddrKey{}).(string)
	return a
}

// verifierAAD binds a sealed verifier to its state and sub. The keyring's
// own label says refresh token; the NUL-separated prefix cannot be a sub
// (subs have no control characters), so a sealed verifier never opens as a
// refresh token, nor under another state or sub.
func verifierAAD(state, sub string) string { return "oauth-state\x00" + state + "\x00" + sub }

// sealVerifier seals v for PendingStates: the key id, NUL, the ciphertext.
func (cs *Connections) sealVerifier(state, sub string, v secret.Value) ([]byte, error) {
	s, err := cs.keys.Seal(verifierAAD(state, sub), store.NewToken(v.Reveal()))
	if err != nil {
		return nil, err
	}
	return append([]byte(s.KeyID+"\x00"), s.Ciphertext...), nil
}

func (cs *Connections) openVerifier(state, sub string, b []byte) (secret.Value, error) {
	id, ct, ok := strings.Cut(string(b), "\x00")
	if !ok {
		return secret.Value{}, errors.New("open the PKCE verifier: not a sealed value")
	}
	t, err := cs.keys.Open(verifierAAD(state, sub), store.Sealed{KeyID: id, Ciphertext: []byte(ct)})
	if err != nil {
		return secret.Value{}, err
	}
	return secret.New(t.Reveal()), nil
}
