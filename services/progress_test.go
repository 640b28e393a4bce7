package services

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/zoom"
)

// fakeMinter mints "obf-<user>" for every user but those whose id starts
// with "bad", who are not found.
type fakeMinter struct{}

func (fakeMinter) Mint(_ context.Context, mr zoom.MintRequest) (zoom.Token, error) {
	if strings.HasPrefix(mr.UserID.String(), "bad") {
		return zoom.Token{}, &apperr.Error{Kind: apperr.ErrUserNotFound, Op: "mint", Message: "no such user"}
	}
	return zoom.Token{Type: mr.Type, UserID: mr.UserID, MeetingID: mr.MeetingID, Value: secret.New("obf-" + mr.UserID.String()), ExpiresIn: time.Hour}, nil
}
func (f fakeMinter) MintAs(ctx context.Context, _ zoom.TokenSource, _ string, mr zoom.MintRequest) (zoom.Token, error) {
	return f.Mint(ctx, mr)
}
func (fakeMinter) HasS2S() bool                { return true }
func (fakeMinter) Check(context.Context) error { return nil }
func (fakeMinter) QPS() float64                { return 10 }

type nobody struct{}

func (nobody) Publish(context.Context, Event) bool { return false }

func userIDs(t *testing.T, names ...string) []zoom.UserID {
	t.Helper()
	ids := make([]zoom.UserID, 0, len(names))
	for _, n := range names {
		id, msg := zoom.ParseUserID(n)
		if msg != "" {
			t.Fatalf("ParseUserID(%q): %s", n, msg)
		}
		ids = append(ids, id)
	}
	return ids
}

// A batch tells each user's outcome once, and its progress after each, the
// last with done == total and the failures counted.
func TestBatchHooks(t *testing.T) {
	m := NewMeetings(fakeMinter{}, nil, nil, nobody{}, 100, nil)
	var names []string
	for i := range 30 {
		names = append(names, fmt.Sprintf("user%d@example.com", i))
	}
	names = append(names, "bad1@example.com", "bad2@example.com", "user0@example.com") // a duplicate
	seen := map[string]int{}
	var updates []ProgressUpdate
	in := BatchInput{ParticipantUserIDs: userIDs(t, names...), Hooks: Hooks{
		OnResult: func(o Outcome) {
			switch {
			case o.Minted != nil:
				seen[o.Minted.UserID.String()]++
			case o.Failure != nil:
				seen[o.Failure.UserID.String()]++
			}
		},
		Progress: func(p ProgressUpdate) { updates = append(updates, p) },
	}}
	res, err := m.Batch(context.Background(), Identity{Subject: "admin", Role: RoleAdmin}, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 32 || res.Total != 32 {
		t.Fatalf("outcomes for %d users, total %d; want 32", len(seen), res.Total)
	}
	for u, n := range seen {
		if n != 1 {
			t.Errorf("%s told %d times", u, n)
		}
	}
	if len(updates) != 33 {
		t.Fatalf("%d progress updates, want 33 (one before, one per user)", len(updates))
	}
	for i, p := range updates {
		if p.Done != i || p.Total != 32 {
			t.Fatalf("update %d = %+v", i, p)
		}
	}
	if last := updates[len(updates)-1]; !last.Final() || last.Failed != 2 {
		t.Fatalf("last update %+v, want done 32 of 32 with 2 failed", last)
	}
}

// Throttle sends at most one update per interval, by the clock it is
// given, and always the final one.
func TestThrottle(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := start
	var got []ProgressUpdate
	send := Throttle(func() time.Time { return clock }, func(p ProgressUpdate) { got = append(got, p) })
	// 500 users over 20 s, one every 40 ms, then the final.
	const total, step = 500, 40 * time.Millisecond
	for done := 0; done <= total; done++ {
		send(ProgressUpdate{Done: done, Total: total, Failed: done / 100})
		clock = clock.Add(step)
	}
	elapsed := clock.Sub(start)
	if max := int(elapsed/time.Second)*10 + 1; len(got) > max {
		t.Fatalf("%d updates over %s; at most %d", len(got), elapsed, max)
	}
	if len(got) < 100 {
		t.Fatalf("%d updates over %s; the throttle should pass one each 100 ms", len(got), elapsed)
	}
	if got[0].Done != 0 {
		t.Fatalf("first update %+v, want the start", got[0])
	}
	for i := 1; i < len(got)-1; i++ {
		// Two consecutive updates are at least 100 ms apart: 3 users at 40 ms.
		if got[i].Done-got[i-1].Done < 3 {
			t.Fatalf("updates %+v and %+v closer than progressInterval", got[i-1], got[i])
		}
	}
	if last := got[len(got)-1]; last.Done != total || last.Failed != 5 {
		t.Fatalf("last update %+v, want done %d failed 5", last, total)
	}

	// A burst at one instant: the first and the final only.
	got = nil
	send = Throttle(func() time.Time { return start }, func(p ProgressUpdate) { got = append(got, p) })
	for done := 0; done <= 50; done++ {
		send(ProgressUpdate{Done: done, Total: 50})
	}
	if len(got) != 2 || got[1].Done != 50 {
		t.Fatalf("burst sent %+v, want the first and the final", got)
	}
}
