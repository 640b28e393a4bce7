package services

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
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
//   - one sub keeps at most MaxPendingPerSub open: a new one retires its
//     own oldest (a user who clicks Connect again is not refused);
//   - one address keeps at most MaxPendingPerAddr open: beyond that, Put
//     refuses, answering how long until the address's oldest link expires
//     (429 rate_limited with that Retry-After), so many identities behind
//     one address cannot fill the table;
//   - all together, at most a global cap: a new link retires the oldest of
//     all, never refusing, so the table full (links from many addresses)
//     shortens the life of links but blocks no one.
//
// MemoryStates is the one-process implementation; a shared one (Redis)
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

// MaxPendingPerSub is how many authorize links one caller may have open.
const MaxPendingPerSub = 5

// MaxPendingPerAddr is how many authorize links one client address may
// have open, all its callers together (a connect takes a person a minute;
// 50 links in 10 minutes leaves room for an office behind one NAT).
const MaxPendingPerAddr = 50

// DefaultMaxPending bounds MemoryStates: links awaiting their callback,
// all callers together.
const DefaultMaxPending = 10_000

// clientAddrKey is the context key of the caller's client address.
type clientAddrKey struct{}

// WithClientAddr returns ctx carrying the caller's client address (as
// TrustedProxies.ClientAddr gives it), which the connect links it makes
// are counted by.
func WithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// ClientAddrFrom is the address WithClientAddr put in ctx; "" when none.
func ClientAddrFrom(ctx context.Context) string {
	a, _ := ctx.Value(clientAddrKey{}).(string)
	return a
}

// MemoryStates is PendingStates in one process: bounded (maxPending in
// all, perSub per sub, perAddr per address), each state forgotten when it
// expires or is taken.
type MemoryStates struct {
	max, perSub, perAddr int
	now                  func() time.Time

	mu      sync.Mutex
	pending map[string]pendingState // by state
	bySub   map[string][]string     // states of pending, by sub, oldest first
	byAddr  map[string][]string     // states of pending, by address, oldest first
	order   []string                // every state put, oldest first (may name gone ones)
}

type pendingState struct {
	sub, addr string
	verifier  []byte // sealed
	expires   time.Time
}

// NewMemoryStates holds at most maxPending states (0: DefaultMaxPending),
// perSub per sub (0: MaxPendingPerSub) and MaxPendingPerAddr per address,
// expiring on now (nil: time.Now).
func NewMemoryStates(maxPending, perSub int, now func() time.Time) *MemoryStates {
	return NewMemoryStatesPerAddr(maxPending, perSub, 0, now)
}

// NewMemoryStatesPerAddr is NewMemoryStates with perAddr links per
// address (0: MaxPendingPerAddr).
func NewMemoryStatesPerAddr(maxPending, perSub, perAddr int, now func() time.Time) *MemoryStates {
	if maxPending <= 0 {
		maxPending = DefaultMaxPending
	}
	if perSub <= 0 {
		perSub = MaxPendingPerSub
	}
	if perAddr <= 0 {
		perAddr = MaxPendingPerAddr
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryStates{max: maxPending, perSub: perSub, perAddr: perAddr, now: now,
		pending: map[string]pendingState{}, bySub: map[string][]string{}, byAddr: map[string][]string{}}
}

// Put implements PendingStates.
func (m *MemoryStates) Put(_ context.Context, state, sub, addr string, verifier []byte, expires time.Time) (time.Duration, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if addr != "" {
		if open := m.live(m.byAddr[addr], now); len(open) >= m.perAddr {
			return max(m.pending[open[0]].expires.Sub(now), time.Second), nil
		}
	}
	// One caller keeps at most perSub links open: a new one retires its
	// own oldest.
	for open := m.live(m.bySub[sub], now); len(open) >= m.perSub; open = open[1:] {
		m.drop(open[0])
	}
	// The table full: the oldest link of all goes.
	for len(m.pending) >= m.max && len(m.order) > 0 {
		st := m.order[0]
		m.order = m.order[1:]
		if _, ok := m.pending[st]; ok {
			m.drop(st)
		}
	}
	if len(m.order) > 2*len(m.pending)+64 { // forget the names of gone states
		m.order = slices.DeleteFunc(m.order, func(st string) bool { _, ok := m.pending[st]; return !ok })
	}
	m.pending[state] = pendingState{sub: sub, addr: addr, verifier: verifier, expires: expires}
	m.bySub[sub] = append(m.bySub[sub], state)
	if addr != "" {
		m.byAddr[addr] = append(m.byAddr[addr], state)
	}
	m.order = append(m.order, state)
	return 0, nil
}

// live drops the expired states of list and answers those left, oldest
// first. The caller holds mu.
func (m *MemoryStates) live(list []string, now time.Time) []string {
	var open []string
	for _, st := range slices.Clone(list) { // drop edits list
		if p, ok := m.pending[st]; ok && now.Before(p.expires) {
			open = append(open, st)
		} else if ok {
			m.drop(st)
		}
	}
	return open
}

// drop forgets state, in pending and in its sub's and address's lists.
// The caller holds mu.
func (m *MemoryStates) drop(state string) {
	p, ok := m.pending[state]
	if !ok {
		return
	}
	delete(m.pending, state)
	without := func(idx map[string][]string, k string) {
		left := slices.DeleteFunc(idx[k], func(s string) bool { return s == state })
		if len(left) == 0 {
			delete(idx, k)
		} else {
			idx[k] = left
		}
	}
	without(m.bySub, p.sub)
	if p.addr != "" {
		without(m.byAddr, p.addr)
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
	m.drop(state)
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
