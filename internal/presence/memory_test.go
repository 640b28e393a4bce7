package presence

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/zoom"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func lookup(t *testing.T, s Store, meeting string, ids ...string) State {
	t.Helper()
	st, err := s.Lookup(context.Background(), meeting, ids)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

const mtg = "85746065432"

func TestMemoryPresence(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	m := NewMemory(MemoryConfig{Now: c.now})
	if st := lookup(t, m, mtg, "pat@example.com"); st != Unknown {
		t.Fatalf("no events: %s", st)
	}
	_ = m.Started(ctx, mtg, c.t)
	if st := lookup(t, m, mtg, "pat@example.com"); st != Waiting {
		t.Fatalf("started: %s", st)
	}
	id, _ := zoom.MeetingIDFromString(mtg)
	if !m.Tracks(id) {
		t.Fatal("Tracks: false after an event")
	}
	// Matched on every identifier given; emails without regard to case.
	pat := Participant{Sessions: []string{"16778240", "uuid-1"}, IDs: []string{"BXE0adSxQRqGSP5fg1rkcA", "Pat@Example.com"}}
	_ = m.Joined(ctx, mtg, pat)
	for _, id := range []string{"pat@example.com", "PAT@EXAMPLE.COM", "BXE0adSxQRqGSP5fg1rkcA"} {
		if st := lookup(t, m, mtg, "nobody@example.com", id); st != Present {
			t.Fatalf("%s: %s", id, st)
		}
	}
	if st := lookup(t, m, mtg, "bxe0adsxqrqgsp5fg1rkca"); st != Waiting {
		t.Fatalf("a user id is case sensitive: %s", st)
	}
	// Two devices: leaving one keeps the user present.
	_ = m.Joined(ctx, mtg, Participant{Sessions: []string{"16778241"}, IDs: []string{"pat@example.com"}})
	ids, _ := m.Left(ctx, mtg, Participant{Sessions: []string{"16778240"}})
	if !slices.Contains(ids, "pat@example.com") || lookup(t, m, mtg, "pat@example.com") != Present {
		t.Fatalf("left one of two sessions: %v %s", ids, lookup(t, m, mtg, "pat@example.com"))
	}
	_, _ = m.Left(ctx, mtg, Participant{Sessions: []string{"16778241"}})
	if st := lookup(t, m, mtg, "pat@example.com"); st != Waiting {
		t.Fatalf("left both: %s", st)
	}
	// A leave that comes before its join: the join is ignored.
	_, _ = m.Left(ctx, mtg, Participant{Sessions: []string{"999"}, IDs: []string{"sam@example.com"}})
	_ = m.Joined(ctx, mtg, Participant{Sessions: []string{"999"}, IDs: []string{"sam@example.com"}})
	if st := lookup(t, m, mtg, "sam@example.com"); st != Waiting {
		t.Fatalf("join after its leave: %s", st)
	}
	// The meeting ends: everyone leaves; a late join from before the end is ignored.
	_ = m.Joined(ctx, mtg, Participant{Sessions: []string{"1"}, IDs: []string{"kim@example.com"}, At: c.t})
	c.t = c.t.Add(time.Minute)
	out, _ := m.Ended(ctx, mtg, c.t)
	if !slices.Contains(out, "kim@example.com") || lookup(t, m, mtg, "kim@example.com") != Waiting {
		t.Fatalf("ended: %v", out)
	}
	_ = m.Joined(ctx, mtg, Participant{Sessions: []string{"2"}, IDs: []string{"kim@example.com"}, At: c.t.Add(-time.Second)})
	if st := lookup(t, m, mtg, "kim@example.com"); st != Waiting {
		t.Fatalf("a join from before the end: %s", st)
	}
	// After 24 h without events the meeting is forgotten.
	c.t = c.t.Add(DefaultTTL + time.Second)
	if st := lookup(t, m, mtg, "kim@example.com"); st != Unknown || m.Tracks(id) {
		t.Fatalf("after 24 h: %s", st)
	}
}

func TestMemorySessionsExpire(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	m := NewMemory(MemoryConfig{Now: c.now})
	_ = m.Joined(ctx, mtg, Participant{Sessions: []string{"1"}, IDs: []string{"pat@example.com"}})
	c.t = c.t.Add(23 * time.Hour)
	_ = m.Started(ctx, mtg, c.t) // the meeting goes on
	c.t = c.t.Add(2 * time.Hour)
	if st := lookup(t, m, mtg, "pat@example.com"); st != Waiting {
		t.Fatalf("a session 25 h old: %s", st)
	}
}

func TestMemoryBounded(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	m := NewMemory(MemoryConfig{Now: c.now, MaxMeetings: 10, MaxPerMeeting: 5, MaxSessions: 30})
	for i := range 100 {
		c.t = c.t.Add(time.Second)
		meeting := fmt.Sprint(100000000 + i%20)
		_ = m.Joined(ctx, meeting, Participant{Sessions: []string{fmt.Sprint(i)}, IDs: []string{fmt.Sprintf("u%d@example.com", i)}})
	}
	meetings, sessions := m.Len()
	if meetings > 10 || sessions > 30 {
		t.Fatalf("%d meetings, %d sessions", meetings, sessions)
	}
	for i := range 20 {
		_ = m.Joined(ctx, "200000000", Participant{Sessions: []string{fmt.Sprint(i)}, IDs: []string{fmt.Sprintf("v%d@example.com", i)}})
	}
	if st := lookup(t, m, "200000000", "v19@example.com"); st != Present {
		t.Fatalf("the latest joiner: %s", st)
	}
	if st := lookup(t, m, "200000000", "v0@example.com"); st != Waiting {
		t.Fatalf("the oldest of a full meeting: %s", st)
	}
	_, sessions = m.Len()
	if sessions > 30 {
		t.Fatalf("%d sessions", sessions)
	}
}
