package services

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zoomtoken/tokenserver/apperr"
	"github.com/zoomtoken/tokenserver/connections"
	"github.com/zoomtoken/tokenserver/secret"
)

// PendingStates keeps the connect flow's pending links between Authorize
// and Zoom's redirect (Complete): each state with the sub that asked for
// it and its PKCE verifier, sealed (Connections seals it with the
// CONNECTIONS_KEY that seals refresh tokens, bound to the state and the
// sub, before Put). A state is single use and lives until expires; one sub
// keeps at most MaxPendingPerSub open, a new one retiring its oldest.
// MemoryStates is the one-process implementation; a shared one (Redis)
// lets Zoom's redirect land on another instance than the one that made
// the link.
type PendingStates interface {
	// Put keeps state for sub until expires.
	Put(ctx context.Context, state, sub string, sealedVerifier []byte, expires time.Time) error
	// Take removes state and answers what it held; ok is false for a
	// state that is unknown, used or expired.
	Take(ctx context.Context, state string) (sub string, sealedVerifier []byte, ok bool)
}

// MaxPendingPerSub is how many authorize links one caller may have open.
const MaxPendingPerSub = 5

// DefaultMaxPending bounds MemoryStates: links awaiting their callback,
// all callers together.
const DefaultMaxPending = 10_000

// MemoryStates is PendingStates in one process: bounded (maxPending in
// all, perSub per sub), each state forgotten when it expires or is taken.
type MemoryStates struct {
	max, perSub int
	now         func() time.Time

	mu      sync.Mutex
	pending map[string]pendingState // by state
	bySub   map[string][]string     // states of pending, by sub, oldest first (may name used ones)
}

type pendingState struct {
	sub      string
	verifier []byte // sealed
	expires  time.Time
}

// NewMemoryStates holds at most maxPending states (0: DefaultMaxPending),
// perSub per sub (0: MaxPendingPerSub), expiring on now (nil: time.Now).
func NewMemoryStates(maxPending, perSub int, now func() time.Time) *MemoryStates {
	if maxPending <= 0 {
		maxPending = DefaultMaxPending
	}
	if perSub <= 0 {
		perSub = MaxPendingPerSub
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryStates{max: maxPending, perSub: perSub, now: now,
		pending: map[string]pendingState{}, bySub: map[string][]string{}}
}

// Put implements PendingStates. A full table answers ErrRateLimited.
func (m *MemoryStates) Put(_ context.Context, state, sub string, verifier []byte, expires time.Time) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.pending) >= m.max {
		m.sweep(now)
	}
	if len(m.pending) >= m.max {
		return &apperr.Error{Kind: apperr.ErrRateLimited, Op: "authorize a Zoom connection", RetryAfter: time.Minute,
			Message: "Too many Zoom connections are being made at once; try again in a minute."}
	}
	// One caller keeps at most perSub links open: a new one retires the
	// oldest, so no caller can fill the table.
	var open []string
	for _, st := range m.bySub[sub] {
		if p, ok := m.pending[st]; ok && now.Before(p.expires) {
			open = append(open, st)
		} else {
			delete(m.pending, st)
		}
	}
	for len(open) >= m.perSub {
		delete(m.pending, open[0])
		open = open[1:]
	}
	m.pending[state] = pendingState{sub: sub, verifier: verifier, expires: expires}
	m.bySub[sub] = append(open, state)
	return nil
}

// sweep drops expired links and rebuilds bySub from what is left. The
// caller holds mu.
func (m *MemoryStates) sweep(now time.Time) {
	clear(m.bySub)
	for k, p := range m.pending {
		if !now.Before(p.expires) {
			delete(m.pending, k)
			continue
		}
		m.bySub[p.sub] = append(m.bySub[p.sub], k)
	}
	for sub, states := range m.bySub {
		slices.SortFunc(states, func(a, b string) int { return m.pending[a].expires.Compare(m.pending[b].expires) })
		m.bySub[sub] = states
	}
}

// Take implements PendingStates.
func (m *MemoryStates) Take(_ context.Context, state string) (string, []byte, bool) {
	if state == "" {
		return "", nil, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pending[state]
	delete(m.pending, state)
	if ok {
		left := slices.DeleteFunc(m.bySub[p.sub], func(s string) bool { return s == state })
		if len(left) == 0 {
			delete(m.bySub, p.sub)
		} else {
			m.bySub[p.sub] = left
		}
	}
	if !ok || !m.now().Before(p.expires) {
		return "", nil, false
	}
	return p.sub, p.verifier, true
}

// Len is how many states are held (for tests).
func (m *MemoryStates) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pending)
}

// verifierAAD binds a sealed verifier to its state and sub. The keyring's
// own label says refresh token; the NUL-separated prefix cannot be a sub
// (subs have no control characters), so a sealed verifier never opens as a
// refresh token, nor under another state or sub.
func verifierAAD(state, sub string) string { return "oauth-state\x00" + state + "\x00" + sub }

// sealVerifier seals v for PendingStates: the key id, NUL, the ciphertext.
func (cs *Connections) sealVerifier(state, sub string, v secret.Value) ([]byte, error) {
	s, err := cs.keys.Seal(verifierAAD(state, sub), connections.NewToken(v.Reveal()))
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
	t, err := cs.keys.Open(verifierAAD(state, sub), connections.Sealed{KeyID: id, Ciphertext: []byte(ct)})
	if err != nil {
		return secret.Value{}, err
	}
	return secret.New(t.Reveal()), nil
}
