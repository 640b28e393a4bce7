package presence

import (
	"context"
	"sync"
	"time"

	"github.com/zoomtoken/tokenserver/internal/zoom"
)

// Bounds of a Memory store: a flood of events cannot make it grow without end.
const (
	DefaultTTL           = 24 * time.Hour // a meeting, and a session, is forgotten this long after its last event
	DefaultMaxMeetings   = 20_000
	DefaultMaxPerMeeting = 2_000 // sessions in one meeting (Zoom's largest meetings hold 1,000)
	DefaultMaxSessions   = 200_000
	maxTombstones        = 2_000 // per meeting: sessions that left before their join arrived
)

// MemoryConfig configures a Memory store; zero values take the defaults.
type MemoryConfig struct {
	Now           func() time.Time
	TTL           time.Duration
	MaxMeetings   int
	MaxPerMeeting int
	MaxSessions   int
}

// Memory is the presence of one process.
type Memory struct {
	cfg MemoryConfig

	mu       sync.Mutex
	meetings map[string]*meetingState
	sessions int // in all meetings
}

type meetingState struct {
	seen    time.Time // the last event
	endedAt time.Time // zero unless it ended
	live    map[*session]struct{}
	byKey   map[string]*session              // by session key
	byID    map[string]map[*session]struct{} // by user identifier
	left    map[string]time.Time             // sessions that left before their join arrived
}

type session struct {
	keys []string
	ids  []string
	at   time.Time
}

// NewMemory returns an empty store.
func NewMemory(cfg MemoryConfig) *Memory {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.MaxMeetings <= 0 {
		cfg.MaxMeetings = DefaultMaxMeetings
	}
	if cfg.MaxPerMeeting <= 0 {
		cfg.MaxPerMeeting = DefaultMaxPerMeeting
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	return &Memory{cfg: cfg, meetings: map[string]*meetingState{}}
}

func keys(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if k := Key(s); k != "" {
			out = append(out, k)
		}
	}
	return out
}

// meeting returns the live state of a meeting, made when create is set.
// m.mu held.
func (m *Memory) meeting(number string, now time.Time, create bool) *meetingState {
	ms := m.meetings[number]
	if ms != nil && now.Sub(ms.seen) > m.cfg.TTL {
		m.drop(number, ms)
		ms = nil
	}
	if ms != nil || !create {
		return ms
	}
	if len(m.meetings) >= m.cfg.MaxMeetings {
		m.sweep(now)
	}
	for len(m.meetings) >= m.cfg.MaxMeetings {
		m.dropOldest()
	}
	ms = &meetingState{live: map[*session]struct{}{}, byKey: map[string]*session{}, byID: map[string]map[*session]struct{}{}}
	m.meetings[number] = ms
	return ms
}

func (m *Memory) drop(number string, ms *meetingState) {
	m.sessions -= len(ms.live)
	delete(m.meetings, number)
}

// sweep forgets every meeting past its time. m.mu held.
func (m *Memory) sweep(now time.Time) {
	for n, ms := range m.meetings {
		if now.Sub(ms.seen) > m.cfg.TTL {
			m.drop(n, ms)
		}
	}
}

// dropOldest forgets the meeting whose last event is the oldest. m.mu held.
func (m *Memory) dropOldest() {
	var oldest string
	var at time.Time
	for n, ms := range m.meetings {
		if oldest == "" || ms.seen.Before(at) {
			oldest, at = n, ms.seen
		}
	}
	if oldest != "" {
		m.drop(oldest, m.meetings[oldest])
	}
}

func (ms *meetingState) remove(s *session) {
	delete(ms.live, s)
	for _, k := range s.keys {
		if ms.byKey[k] == s {
			delete(ms.byKey, k)
		}
	}
	for _, id := range s.ids {
		if set := ms.byID[id]; set != nil {
			delete(set, s)
			if len(set) == 0 {
				delete(ms.byID, id)
			}
		}
	}
}

// expireSessions forgets sessions that joined more than the TTL ago (their
// participant_left never came). m.mu held.
func (m *Memory) expireSessions(ms *meetingState, now time.Time) {
	for s := range ms.live {
		if now.Sub(s.at) > m.cfg.TTL {
			ms.remove(s)
			m.sessions--
		}
	}
}

// Started implements Store.
func (m *Memory) Started(_ context.Context, meeting string, at time.Time) error {
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	ms := m.meeting(meeting, now, true)
	ms.seen = now
	if !at.IsZero() && !at.Before(ms.endedAt) {
		ms.endedAt = time.Time{} // started again
	}
	return nil
}

// Joined implements Store. A join that comes after its own participant_left
// (Zoom does not promise order) or from before the meeting ended is ignored.
func (m *Memory) Joined(_ context.Context, meeting string, p Participant) error {
	now := m.cfg.Now()
	at := p.At
	if at.IsZero() {
		at = now
	}
	sk, ids := keys(p.Sessions), keys(p.IDs)
	m.mu.Lock()
	defer m.mu.Unlock()
	ms := m.meeting(meeting, now, true)
	ms.seen = now
	if !ms.endedAt.IsZero() && !at.After(ms.endedAt) {
		return nil
	}
	for _, k := range sk {
		if _, gone := ms.left[k]; gone {
			return nil
		}
	}
	if len(ids) == 0 {
		return nil // nothing an await could match
	}
	for _, k := range sk {
		if s := ms.byKey[k]; s != nil { // the same session again (a retry): replaced
			ms.remove(s)
			m.sessions--
		}
	}
	m.expireSessions(ms, now)
	for len(ms.live) >= m.cfg.MaxPerMeeting {
		ms.remove(oldestSession(ms))
		m.sessions--
	}
	for m.sessions >= m.cfg.MaxSessions && len(m.meetings) > 1 {
		m.dropOldestExcept(meeting)
	}
	s := &session{keys: sk, ids: ids, at: now}
	ms.live[s] = struct{}{}
	m.sessions++
	for _, k := range sk {
		ms.byKey[k] = s
	}
	for _, id := range ids {
		set := ms.byID[id]
		if set == nil {
			set = map[*session]struct{}{}
			ms.byID[id] = set
		}
		set[s] = struct{}{}
	}
	return nil
}

func (m *Memory) dropOldestExcept(keep string) {
	var oldest string
	var at time.Time
	for n, ms := range m.meetings {
		if n != keep && (oldest == "" || ms.seen.Before(at)) {
			oldest, at = n, ms.seen
		}
	}
	if oldest != "" {
		m.drop(oldest, m.meetings[oldest])
	}
}

func oldestSession(ms *meetingState) *session {
	var o *session
	for s := range ms.live {
		if o == nil || s.at.Before(o.at) {
			o = s
		}
	}
	return o
}

// Left implements Store.
func (m *Memory) Left(_ context.Context, meeting string, p Participant) ([]string, error) {
	now := m.cfg.Now()
	sk, ids := keys(p.Sessions), keys(p.IDs)
	m.mu.Lock()
	defer m.mu.Unlock()
	ms := m.meeting(meeting, now, true)
	ms.seen = now
	found := map[*session]struct{}{}
	for _, k := range sk {
		if s := ms.byKey[k]; s != nil {
			found[s] = struct{}{}
		}
	}
	if len(found) == 0 && len(sk) > 0 {
		// Its join has not come (yet): remember, so that it is ignored.
		if ms.left == nil {
			ms.left = map[string]time.Time{}
		}
		if len(ms.left) < maxTombstones {
			for _, k := range sk {
				ms.left[k] = now
			}
		}
		return nil, nil
	}
	if len(sk) == 0 { // no session named: every session of the user ends
		for _, id := range ids {
			for s := range ms.byID[id] {
				found[s] = struct{}{}
			}
		}
	}
	var out []string
	for s := range found {
		out = append(out, s.ids...)
		ms.remove(s)
		m.sessions--
	}
	return out, nil
}

// Ended implements Store.
func (m *Memory) Ended(_ context.Context, meeting string, at time.Time) ([]string, error) {
	now := m.cfg.Now()
	if at.IsZero() {
		at = now
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ms := m.meeting(meeting, now, true)
	ms.seen = now
	if at.After(ms.endedAt) {
		ms.endedAt = at
	}
	var out []string
	for s := range ms.live {
		out = append(out, s.ids...)
		ms.remove(s)
		m.sessions--
	}
	ms.left = nil
	return out, nil
}

// Lookup implements Store.
func (m *Memory) Lookup(_ context.Context, meeting string, ids []string) (State, error) {
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	ms := m.meeting(meeting, now, false)
	if ms == nil {
		return Unknown, nil
	}
	for _, id := range ids {
		for s := range ms.byID[Key(id)] {
			if now.Sub(s.at) <= m.cfg.TTL {
				return Present, nil
			}
		}
	}
	return Waiting, nil
}

// Tracks reports whether events come for the meeting: one came within the
// TTL. It is services.PresenceTracker, for the access route.
func (m *Memory) Tracks(meeting zoom.MeetingID) bool {
	if meeting.IsZero() {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.meeting(meeting.String(), m.cfg.Now(), false) != nil
}

// Len reports how many meetings and sessions are held.
func (m *Memory) Len() (meetings, sessions int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.meetings), m.sessions
}
