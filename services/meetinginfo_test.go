package services

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/zoom"
)

// fakeMeetingAPI answers GetMeeting from a set of the account's meetings
// and counts the calls.
type fakeMeetingAPI struct {
	own   map[string]bool
	calls map[string]int
	err   error // when set, every GetMeeting fails with it
}

func (f *fakeMeetingAPI) HasS2S() bool { return true }
func (f *fakeMeetingAPI) GetMeeting(_ context.Context, id zoom.MeetingID) (zoom.Meeting, error) {
	f.calls[id.String()]++
	switch {
	case f.err != nil:
		return zoom.Meeting{}, f.err
	case f.own[id.String()]:
		return zoom.Meeting{ID: id, HostID: "hostid"}, nil
	}
	return zoom.Meeting{}, &apperr.Error{Kind: apperr.ErrMeetingNotFound, Message: "no such meeting"}
}
func (f *fakeMeetingAPI) LocalRecordingToken(context.Context, zoom.MeetingID, bool) (zoom.JoinToken, error) {
	return zoom.JoinToken{}, nil
}
func (f *fakeMeetingAPI) LocalRecordingTokenAs(context.Context, zoom.TokenSource, string, zoom.MeetingID, bool) (zoom.JoinToken, error) {
	return zoom.JoinToken{}, nil
}

type trackerFunc func(zoom.MeetingID) bool

func (f trackerFunc) Tracks(id zoom.MeetingID) bool { return f(id) }

func mid(t *testing.T, s string) zoom.MeetingID {
	t.Helper()
	id, reason := zoom.MeetingIDFromString(s)
	if reason != "" {
		t.Fatal(reason)
	}
	return id
}

// The cache keeps Zoom's 200 and 3001 for its life on the injected clock,
// keeps no other failure, and never holds more than its bound.
func TestMeetingAccessCache(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	api := &fakeMeetingAPI{own: map[string]bool{"111111111": true}, calls: map[string]int{}}
	mi := NewMeetingInfo(MeetingInfoConfig{Zoom: api, CacheTTL: time.Minute, CacheMax: 3, Now: func() time.Time { return now }})
	ctx := context.Background()
	ask := func(s string) Access {
		t.Helper()
		a, err := mi.Access(ctx, Identity{}, mid(t, s))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	if a := ask("111111111"); !a.Internal || a.OBFRequired {
		t.Fatalf("own meeting: %+v", a)
	}
	if a := ask("222222222"); a.Internal || !a.OBFRequired {
		t.Fatalf("outside meeting: %+v", a)
	}
	now = now.Add(59 * time.Second)
	ask("111111111")
	ask("222222222")
	if api.calls["111111111"] != 1 || api.calls["222222222"] != 1 {
		t.Fatalf("within the window: calls %v", api.calls)
	}
	now = now.Add(time.Second)
	ask("111111111")
	if api.calls["111111111"] != 2 {
		t.Fatalf("after the window: calls %v", api.calls)
	}

	api.err = &apperr.Error{Kind: apperr.ErrZoomUnavailable, Message: "down"}
	if _, err := mi.Access(ctx, Identity{}, mid(t, "333333333")); err == nil {
		t.Fatal("a failure was not reported")
	}
	api.err = nil
	ask("333333333")
	if api.calls["333333333"] != 2 {
		t.Fatalf("a failure was kept: calls %v", api.calls)
	}

	for i := range 10 {
		ask(fmt.Sprintf("44444444%d", i))
	}
	mi.mu.Lock()
	n := len(mi.cache)
	mi.mu.Unlock()
	if n > 3 {
		t.Fatalf("the cache holds %d meetings, over its bound of 3", n)
	}
}

// presenceKnown: a tracker that has seen the meeting's events, or
// webhooks configured and a meeting of the account.
func TestMeetingPresenceKnown(t *testing.T) {
	api := &fakeMeetingAPI{own: map[string]bool{"111111111": true}, calls: map[string]int{}}
	seen := mid(t, "222222222")
	for _, c := range []struct {
		webhooks bool
		tracker  PresenceTracker
		id       string
		want     bool
	}{
		{false, nil, "111111111", false},
		{true, nil, "111111111", true},
		{true, nil, "222222222", false},
		{false, trackerFunc(func(id zoom.MeetingID) bool { return id == seen }), "222222222", true},
		{false, trackerFunc(func(id zoom.MeetingID) bool { return id == seen }), "111111111", false},
	} {
		mi := NewMeetingInfo(MeetingInfoConfig{Zoom: api, WebhooksConfigured: c.webhooks, Presence: c.tracker})
		a, err := mi.Access(context.Background(), Identity{}, mid(t, c.id))
		if err != nil || a.PresenceKnown != c.want {
			t.Errorf("webhooks %v tracker %v meeting %s: presenceKnown %v (%v), want %v", c.webhooks, c.tracker != nil, c.id, a.PresenceKnown, err, c.want)
		}
	}
}
