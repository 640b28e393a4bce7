package awaits_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/services/awaits"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/presence"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
)

// fakeJoiner mints a token per call.
type fakeJoiner struct {
	mu    sync.Mutex
	calls int
	users []string
	push  []bool
	err   error
}

func (f *fakeJoiner) Join(_ context.Context, _ services.Identity, in services.JoinInput) (services.Minted, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.users = append(f.users, in.ParticipantUserID.String())
	f.push = append(f.push, !in.NoPush)
	if f.err != nil {
		return services.Minted{}, f.err
	}
	return services.Minted{Token: zoom.Token{Type: zoom.TokenOnBehalf, UserID: in.ParticipantUserID, MeetingID: in.MeetingID, Value: secret.New("obf")}}, nil
}

func (f *fakeJoiner) n() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// sink records what an await was told, in order.
type sink struct {
	mu     sync.Mutex
	said   []string
	creds  []awaits.AwaitCredentials
	signal chan string
}

func newSink() *sink { return &sink{signal: make(chan string, 16)} }

func (s *sink) add(v string) {
	s.mu.Lock()
	s.said = append(s.said, v)
	s.mu.Unlock()
	s.signal <- v
}
func (s *sink) Awaiting(p presence.State) { s.add("awaiting:" + string(p)) }
func (s *sink) Credentials(c awaits.AwaitCredentials) {
	s.mu.Lock()
	s.creds = append(s.creds, c)
	s.mu.Unlock()
	s.add("credentials")
}
func (s *sink) Failed(err error)       { s.add("failed:" + apperr.Code(err)) }
func (s *sink) UserLeft(u zoom.UserID) { s.add("left") }
func (s *sink) next(t *testing.T) string {
	t.Helper()
	select {
	case v := <-s.signal:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("the sink heard nothing")
		return ""
	}
}

// manualTimers runs AfterFunc's functions when told to.
type manualTimers struct {
	mu sync.Mutex
	fs []func()
}

func (m *manualTimers) after(_ time.Duration, f func()) func() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := len(m.fs)
	m.fs = append(m.fs, f)
	return func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.fs[i] = nil
		return true
	}
}

func (m *manualTimers) fire() {
	m.mu.Lock()
	fs := append([]func(){}, m.fs...)
	m.mu.Unlock()
	for _, f := range fs {
		if f != nil {
			f()
		}
	}
}

const mtg = "85746065432"

func awaitSetup(t *testing.T, ctx context.Context) (*awaits.Awaits, *presence.Memory, *fakeJoiner, *manualTimers) {
	t.Helper()
	store := presence.NewMemory(presence.MemoryConfig{})
	j := &fakeJoiner{}
	timers := &manualTimers{}
	a, err := awaits.NewAwaits(ctx, awaits.AwaitsConfig{Presence: store, Join: j, AfterFunc: timers.after, MaxPerCaller: 2})
	if err != nil {
		t.Fatal(err)
	}
	return a, store, j, timers
}

func ids(t *testing.T, user string) (zoom.MeetingID, zoom.UserID) {
	m, _ := zoom.MeetingIDFromString(mtg)
	u, bad := zoom.ParseUserID(user)
	if bad != "" {
		t.Fatal(bad)
	}
	return m, u
}

func TestAwaitWaitsWakesWatches(t *testing.T) {
	ctx := context.Background()
	a, store, j, _ := awaitSetup(t, ctx)
	m, pat := ids(t, "pat@example.com")
	admin := services.Identity{Role: services.RoleAdmin, Method: "api-key", Subject: "k"}

	s := newSink()
	if _, err := a.Await(ctx, admin, awaits.AwaitInput{MeetingID: m, User: pat, Timeout: time.Minute, Watch: true}, s); err != nil {
		t.Fatal(err)
	}
	if v := s.next(t); v != "awaiting:unknown" || a.Len() != 0 {
		t.Fatalf("no events: %s, %d held", v, a.Len())
	}
	_ = store.Started(ctx, mtg, time.Now())
	s = newSink()
	if _, err := a.Await(ctx, admin, awaits.AwaitInput{MeetingID: m, User: pat, Timeout: time.Minute, Watch: true}, s); err != nil {
		t.Fatal(err)
	}
	if v := s.next(t); v != "awaiting:waiting" {
		t.Fatal(v)
	}
	// Another user's join wakes nothing; the user's does (matched by email, any case).
	a.Deliver(ctx, services.Event{Kind: services.ParticipantJoined, Meeting: m, IDs: []string{"kim@example.com"}})
	_ = store.Joined(ctx, mtg, presence.Participant{Sessions: []string{"1"}, IDs: []string{"Pat@Example.com"}})
	a.Deliver(ctx, services.Event{Kind: services.ParticipantJoined, Meeting: m, IDs: []string{"abc", "Pat@Example.com"}})
	if v := s.next(t); v != "credentials" {
		t.Fatal(v)
	}
	// Joining again (another device) says nothing new.
	a.Deliver(ctx, services.Event{Kind: services.ParticipantJoined, Meeting: m, IDs: []string{"pat@example.com"}})
	_, _ = store.Left(ctx, mtg, presence.Participant{Sessions: []string{"1"}})
	a.Deliver(ctx, services.Event{Kind: services.ParticipantLeft, Meeting: m, IDs: []string{"pat@example.com"}})
	if v := s.next(t); v != "left" {
		t.Fatal(v)
	}
	if a.Len() != 0 || j.n() != 1 {
		t.Fatalf("%d held, %d mints", a.Len(), j.n())
	}
}

func TestAwaitTimeoutCancelLimitsShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	a, store, j, timers := awaitSetup(t, ctx)
	m, pat := ids(t, "pat@example.com")
	_ = store.Started(ctx, mtg, time.Now())
	bob := services.Identity{Role: services.RoleParticipant, Subject: "pat@example.com", User: pat, Method: "jwt"}

	// A participant awaits only itself.
	_, kim := ids(t, "kim@example.com")
	if _, err := a.Await(ctx, bob, awaits.AwaitInput{MeetingID: m, User: kim, Timeout: time.Minute}, newSink()); !errors.Is(err, apperr.ErrForbidden) {
		t.Fatalf("another user: %v", err)
	}
	s1 := newSink()
	if _, err := a.Await(ctx, bob, awaits.AwaitInput{MeetingID: m, User: pat, Timeout: time.Minute}, s1); err != nil {
		t.Fatal(err)
	}
	s1.next(t)
	timers.fire()
	if v := s1.next(t); v != "failed:presence_timeout" {
		t.Fatal(v)
	}
	// Cancelled: a join wakes nothing.
	s2 := newSink()
	w, _ := a.Await(ctx, bob, awaits.AwaitInput{MeetingID: m, User: pat, Timeout: time.Minute}, s2)
	s2.next(t)
	w.Cancel()
	a.Deliver(ctx, services.Event{Kind: services.ParticipantJoined, Meeting: m, IDs: []string{"pat@example.com"}})
	if j.n() != 0 || a.Len() != 0 {
		t.Fatalf("after cancel: %d mints, %d held", j.n(), a.Len())
	}
	// At most MaxPerCaller at once.
	for range 2 {
		s := newSink()
		if _, err := a.Await(ctx, bob, awaits.AwaitInput{MeetingID: m, User: pat, Timeout: time.Minute}, s); err != nil {
			t.Fatal(err)
		}
		s.next(t)
	}
	if _, err := a.Await(ctx, bob, awaits.AwaitInput{MeetingID: m, User: pat, Timeout: time.Minute}, newSink()); !errors.Is(err, apperr.ErrRateLimited) {
		t.Fatalf("a third: %v", err)
	}
	// Shutdown ends the waits at once.
	a2, store2, _, _ := awaitSetup(t, ctx)
	_ = store2.Started(ctx, mtg, time.Now())
	s3 := newSink()
	_, _ = a2.Await(ctx, bob, awaits.AwaitInput{MeetingID: m, User: pat, Timeout: time.Minute}, s3)
	s3.next(t)
	cancel()
	if v := s3.next(t); v != "failed:presence_timeout" {
		t.Fatal(v)
	}
}

// A mint that fails ends the await with its error.
func TestAwaitMintFails(t *testing.T) {
	ctx := context.Background()
	a, store, j, _ := awaitSetup(t, ctx)
	j.err = &apperr.Error{Kind: apperr.ErrNotConnected, Message: "no"}
	m, pat := ids(t, "pat@example.com")
	_ = store.Joined(ctx, mtg, presence.Participant{Sessions: []string{"1"}, IDs: []string{"pat@example.com"}})
	s := newSink()
	_, _ = a.Await(ctx, services.Identity{Role: services.RoleAdmin}, awaits.AwaitInput{MeetingID: m, User: pat, Timeout: time.Minute}, s)
	if v := s.next(t) + " " + s.next(t); v != "awaiting:present failed:not_connected" {
		t.Fatal(v)
	}
}
