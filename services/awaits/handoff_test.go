package awaits_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/services/awaits"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/presence"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
)

func users(t *testing.T, names ...string) []zoom.UserID {
	t.Helper()
	var out []zoom.UserID
	for _, n := range names {
		_, u := ids(t, n)
		out = append(out, u)
	}
	return out
}

// joined and left apply an event to the store and deliver it, as the
// webhook service does.
func joined(ctx context.Context, a *awaits.Awaits, store *presence.Memory, session, user string) {
	m, _ := zoom.MeetingIDFromString(mtg)
	_ = store.Joined(ctx, mtg, presence.Participant{Sessions: []string{session}, IDs: []string{user}})
	a.Deliver(ctx, services.Event{Kind: services.ParticipantJoined, Meeting: m, IDs: []string{user}})
}

func left(ctx context.Context, a *awaits.Awaits, store *presence.Memory, session, user string) {
	m, _ := zoom.MeetingIDFromString(mtg)
	gone, _ := store.Left(ctx, mtg, presence.Participant{Sessions: []string{session}, IDs: []string{user}})
	a.Deliver(ctx, services.Event{Kind: services.ParticipantLeft, Meeting: m, IDs: append([]string{user}, gone...)})
}

func (s *sink) cred(t *testing.T, i int) awaits.AwaitCredentials {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if i >= len(s.creds) {
		t.Fatalf("credentials %d not given (%d)", i, len(s.creds))
	}
	return s.creds[i]
}

func (s *sink) quiet(t *testing.T) {
	t.Helper()
	select {
	case v := <-s.signal:
		t.Fatalf("unexpected %s", v)
	case <-time.After(50 * time.Millisecond):
	}
}

// Candidates, followed: the first present; on its departure the next
// present at once; none: waiting, then whoever joins (a rejoin too); the
// meeting's end ends it. One mint per hand-off, none pushed.
func TestAwaitFollowHandsOver(t *testing.T) {
	ctx := context.Background()
	a, store, j, _ := awaitSetup(t, ctx)
	m, _ := ids(t, mtg+"@example.com")
	admin := services.Identity{Role: services.RoleAdmin, Method: "api-key", Subject: "k"}
	_ = store.Started(ctx, mtg, time.Now())
	joined(ctx, a, store, "k1", "kim@example.com")
	joined(ctx, a, store, "l1", "lee@example.com")
	joined(ctx, a, store, "l2", "lee@example.com") // a second device
	in := awaits.AwaitInput{MeetingID: m, Candidates: users(t, "pat@example.com", "kim@example.com", "lee@example.com", "KIM@example.com"),
		Listed: true, Follow: true, Timeout: time.Minute}
	s := newSink()
	if _, err := a.Await(ctx, admin, in, s); err != nil {
		t.Fatal(err)
	}
	if v := s.next(t) + " " + s.next(t); v != "awaiting:present credentials" {
		t.Fatal(v)
	}
	c := s.cred(t, 0)
	if c.UserID.String() != "kim@example.com" || c.Handoff != nil || len(c.Candidates) != 3 ||
		c.Candidates[0].Presence != presence.Waiting || c.Candidates[1].Presence != presence.Present {
		t.Fatalf("first: %+v", c)
	}
	left(ctx, a, store, "k1", "kim@example.com")
	if v := s.next(t) + " " + s.next(t); v != "left credentials" {
		t.Fatal(v)
	}
	if c := s.cred(t, 1); c.UserID.String() != "lee@example.com" || c.Handoff == nil || c.Handoff.From.String() != "kim@example.com" || c.Handoff.Reason != "user_left" {
		t.Fatalf("hand-off: %+v", c)
	}
	left(ctx, a, store, "k1", "kim@example.com") // a duplicate: nothing
	left(ctx, a, store, "l1", "lee@example.com") // one device of two: still present
	s.quiet(t)
	left(ctx, a, store, "l2", "lee@example.com")
	if v := s.next(t) + " " + s.next(t); v != "left awaiting:waiting" {
		t.Fatal(v)
	}
	joined(ctx, a, store, "l3", "lee@example.com") // lee rejoins
	if v := s.next(t); v != "credentials" {
		t.Fatal(v)
	}
	if c := s.cred(t, 2); c.UserID.String() != "lee@example.com" || c.Handoff.From.String() != "lee@example.com" {
		t.Fatalf("rejoin: %+v", c)
	}
	_, _ = store.Ended(ctx, mtg, time.Now())
	a.Deliver(ctx, services.Event{Kind: services.MeetingEnded, Meeting: m, IDs: []string{"lee@example.com"}})
	if v := s.next(t) + " " + s.next(t); v != "left awaiting:ended" {
		t.Fatal(v)
	}
	if a.Len() != 0 || j.n() != 3 {
		t.Fatalf("%d held, %d mints", a.Len(), j.n())
	}
	for i, p := range j.push {
		if p {
			t.Fatalf("mint %d was pushed to the user's sockets", i)
		}
	}
}

// A followed await with no candidate present runs out; the meeting's end
// ends a waiting one.
func TestAwaitFollowTimeoutAndEnd(t *testing.T) {
	ctx := context.Background()
	a, store, _, timers := awaitSetup(t, ctx)
	m, pat := ids(t, "pat@example.com")
	admin := services.Identity{Role: services.RoleAdmin}
	_ = store.Started(ctx, mtg, time.Now())
	s := newSink()
	if _, err := a.Await(ctx, admin, awaits.AwaitInput{MeetingID: m, User: pat, Follow: true, Timeout: time.Minute}, s); err != nil {
		t.Fatal(err)
	}
	s.next(t)
	timers.fire()
	if v := s.next(t); v != "failed:presence_timeout" {
		t.Fatal(v)
	}
	s = newSink()
	_, _ = a.Await(ctx, admin, awaits.AwaitInput{MeetingID: m, User: pat, Follow: true, Timeout: time.Minute}, s)
	s.next(t)
	a.Deliver(ctx, services.Event{Kind: services.MeetingEnded, Meeting: m})
	if v := s.next(t); v != "awaiting:ended" || a.Len() != 0 {
		t.Fatalf("%s, %d held", v, a.Len())
	}
}

// Bad candidates: too many, all excluded, one the caller may not mint for.
func TestAwaitCandidatesRefused(t *testing.T) {
	ctx := context.Background()
	a, store, j, _ := awaitSetup(t, ctx)
	m, pat := ids(t, "pat@example.com")
	_ = store.Started(ctx, mtg, time.Now())
	admin := services.Identity{Role: services.RoleAdmin}
	var many []string
	for i := range 51 {
		many = append(many, strings.Repeat("u", i+1)+"@example.com")
	}
	if _, err := a.Await(ctx, admin, awaits.AwaitInput{MeetingID: m, Candidates: users(t, many...), Listed: true}, newSink()); !errors.Is(err, apperr.ErrInvalidInput) {
		t.Fatalf("51: %v", err)
	}
	in := awaits.AwaitInput{MeetingID: m, Candidates: users(t, "pat@example.com"), Exclude: users(t, "PAT@example.com"), Listed: true}
	if _, err := a.Await(ctx, admin, in, newSink()); !errors.Is(err, apperr.ErrInvalidInput) {
		t.Fatalf("all excluded: %v", err)
	}
	self := services.Identity{Role: services.RoleParticipant, User: pat, Subject: "pat@example.com"}
	_, err := a.JoinCandidates(ctx, self, services.JoinInput{MeetingID: m, Candidates: users(t, "pat@example.com", "kim@example.com")})
	if e, ok := apperr.As(err); !ok || !errors.Is(err, apperr.ErrForbidden) || !strings.Contains(e.Message, "kim@example.com") {
		t.Fatalf("another user: %v", err)
	}
	if j.n() != 0 {
		t.Fatal("minted")
	}
}

// A join with candidates: present first, in list order, never an excluded
// one; unknown presence: list order; known and none: no_candidate_present.
func TestJoinCandidates(t *testing.T) {
	ctx := context.Background()
	a, store, j, _ := awaitSetup(t, ctx)
	m, _ := ids(t, "pat@example.com")
	admin := services.Identity{Role: services.RoleAdmin}
	in := services.JoinInput{MeetingID: m, Candidates: users(t, "pat@example.com", "kim@example.com", "lee@example.com"), Exclude: users(t, "pat@example.com")}
	c, err := a.JoinCandidates(ctx, admin, in)
	if err != nil || c.UserID.String() != "kim@example.com" || c.Candidates[1].Presence != presence.Unknown || !c.Candidates[0].Excluded {
		t.Fatalf("unknown: %+v %v", c, err)
	}
	_ = store.Started(ctx, mtg, time.Now())
	if _, err := a.JoinCandidates(ctx, admin, in); apperr.Code(err) != "no_candidate_present" {
		t.Fatalf("none present: %v", err)
	}
	joined(ctx, a, store, "p", "pat@example.com")
	joined(ctx, a, store, "l", "lee@example.com")
	c, err = a.JoinCandidates(ctx, admin, in)
	if err != nil || c.UserID.String() != "lee@example.com" {
		t.Fatalf("present: %+v %v", c, err)
	}
	if j.n() != 2 || j.push[0] || j.push[1] {
		t.Fatalf("%d mints, pushed %v", j.n(), j.push)
	}
}

// ChooseCandidate, for bot platforms' callbacks: the choice of a join with
// candidates, with no caller to authorize and nothing minted.
func TestChooseCandidate(t *testing.T) {
	ctx := context.Background()
	a, store, j, _ := awaitSetup(t, ctx)
	m, _ := ids(t, "pat@example.com")
	list := users(t, "pat@example.com", "kim@example.com", "KIM@example.com")
	c, err := a.ChooseCandidate(ctx, m, list)
	if err != nil || c.User.String() != "pat@example.com" || len(c.Candidates) != 2 || c.Candidates[0].Presence != presence.Unknown {
		t.Fatalf("unknown: %+v %v", c, err)
	}
	_ = store.Started(ctx, mtg, time.Now())
	if _, err := a.ChooseCandidate(ctx, m, list); apperr.Code(err) != "no_candidate_present" || !strings.Contains(apperr.PublicMessage(err), "kim@example.com") {
		t.Fatalf("none present: %v", err)
	}
	joined(ctx, a, store, "k", "kim@example.com")
	if c, err = a.ChooseCandidate(ctx, m, list); err != nil || c.User.String() != "kim@example.com" || c.Candidates[1].Presence != presence.Present {
		t.Fatalf("present: %+v %v", c, err)
	}
	if _, err := a.ChooseCandidate(ctx, m, nil); !errors.Is(err, apperr.ErrInvalidInput) {
		t.Fatalf("no candidates: %v", err)
	}
	if j.n() != 0 {
		t.Fatalf("%d minted", j.n())
	}
}
