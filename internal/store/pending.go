package store

import (
	"context"
	"slices"
	"sync"
	"time"
)

// PendingLinks keeps the connect flow's pending links between the
// authorize link and Zoom's redirect (services.PendingStates says what and
// why): MemoryPending in one instance, RedisPending across a cluster.
type PendingLinks interface {
	Put(ctx context.Context, state, sub, addr string, sealedVerifier []byte, expires time.Time) (refused time.Duration, err error)
	Take(ctx context.Context, state string) (sub string, sealedVerifier []byte, ok bool)
}

var (
	_ PendingLinks = (*MemoryPending)(nil)
	_ PendingLinks = (*RedisPending)(nil)
)

// MaxPendingPerSub is how many authorize links one caller may have open.
const MaxPendingPerSub = 5

// MaxPendingPerAddr is how many authorize links one client address may
// have open, all its callers together (a connect takes a person a minute;
// 50 links in 10 minutes leaves room for an office behind one NAT).
const MaxPendingPerAddr = 50

// DefaultMaxPending bounds MemoryStates: links awaiting their callback,
// all callers together.
const DefaultMaxPending = 10_000

// MemoryPending is PendingLinks in one process: bounded (maxPending in
// all, perSub per sub, perAddr per address), each state forgotten when it
// expires or is taken.
type MemoryPending struct {
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

// NewMemoryPending holds at most maxPending states (0: DefaultMaxPending),
// perSub per sub (0: MaxPendingPerSub) and MaxPendingPerAddr per address,
// expiring on now (nil: time.Now).
func NewMemoryPending(maxPending, perSub int, now func() time.Time) *MemoryPending {
	return NewMemoryPendingPerAddr(maxPending, perSub, 0, now)
}

// NewMemoryPendingPerAddr is NewMemoryPending with perAddr links per
// address (0: MaxPendingPerAddr).
func NewMemoryPendingPerAddr(maxPending, perSub, perAddr int, now func() time.Time) *MemoryPending {
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
	return &MemoryPending{max: maxPending, perSub: perSub, perAddr: perAddr, now: now,
		pending: map[string]pendingState{}, bySub: map[string][]string{}, byAddr: map[string][]string{}}
}

// Put implements PendingLinks.
func (m *MemoryPending) Put(_ context.Context, state, sub, addr string, verifier []byte, expires time.Time) (time.Duration, error) {
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
func (m *MemoryPending) live(list []string, now time.Time) []string {
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
func (m *MemoryPending) drop(state string) {
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

// Take implements PendingLinks.
func (m *MemoryPending) Take(_ context.Context, state string) (string, []byte, bool) {
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
func (m *MemoryPending) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pending)
}
