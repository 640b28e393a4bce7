package zoom_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/zoom"
)

// The meeting calls go through the mints' loop: a refused access token is
// replaced once, 5xx are retried; and Zoom's answers are read as documented
// (3001, expire_in, bypass_waiting_room).
func TestMeetingCalls(t *testing.T) {
	ctx := context.Background()
	z, sb, _ := newZoom(t, sandbox.Options{Scopes: sandbox.ServerScopes}, nil)
	if _, err := sb.CreateMeeting("host@example.com", "111111111"); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.CreateMeeting("host@partner.example", "222222222"); err != nil {
		t.Fatal(err)
	}
	own, _ := zoom.MeetingIDFromString("111111111")
	outside, _ := zoom.MeetingIDFromString("222222222")
	m, err := z.GetMeeting(ctx, own)
	if err != nil || m.HostEmail != "host@example.com" || m.HostID == "" {
		t.Fatalf("GetMeeting: %+v %v", m, err)
	}
	if _, err := z.GetMeeting(ctx, outside); !errors.Is(err, apperr.ErrMeetingNotFound) {
		t.Fatalf("outside meeting: %v", err)
	}
	sb.RevokeAll()
	tok, err := z.LocalRecordingToken(ctx, own, true)
	if err != nil || tok.Value.Empty() || tok.ExpiresIn != 120*time.Second {
		t.Fatalf("recording token after a revocation: %+v %v", tok, err)
	}
	if _, err := z.LocalRecordingToken(ctx, outside, false); !errors.Is(err, apperr.ErrMeetingNotFound) {
		t.Fatalf("outside meeting's recording token: %v", err)
	}
	sb.SetScopes(sandbox.ScopeUserToken)
	sb.RevokeAll()
	_, err = z.GetMeeting(ctx, own)
	if e, ok := apperr.As(err); !ok || !errors.Is(err, apperr.ErrZoomRejected) || !strings.Contains(e.Public(), zoom.ScopeMeetingReadAdmin) {
		t.Fatalf("missing scope: %v", err)
	}
}

// A daily 429 of the meeting API spends the meeting API's quota only: mints
// go on, and the meeting calls fail fast without asking Zoom.
func TestMeetingDailyQuotaIsItsOwn(t *testing.T) {
	var meetingCalls, tokenCalls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/oauth/token":
			_, _ = w.Write([]byte(`{"access_token":"at","token_type":"bearer","expires_in":3600}`))
		case strings.HasPrefix(r.URL.Path, "/v2/meetings/"):
			meetingCalls.Add(1)
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"code":429,"message":"You have reached the maximum daily rate limit for this API."}`))
		default:
			tokenCalls.Add(1)
			_, _ = w.Write([]byte(`{"token":"t"}`))
		}
	}))
	defer srv.Close()
	z, err := zoom.New(zoom.Config{OAuthURL: srv.URL + "/oauth/token", APIURL: srv.URL + "/v2", AccountID: "a", ClientID: "c",
		ClientSecret: secret.New("s"), QPS: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, _ := zoom.MeetingIDFromString("111111111")
	_, err = z.GetMeeting(ctx, id)
	if e, ok := apperr.As(err); !ok || !errors.Is(err, apperr.ErrZoomRateLimited) || !strings.Contains(e.Message, "meeting API") {
		t.Fatalf("daily 429: %v", err)
	}
	if _, err := z.LocalRecordingToken(ctx, id, false); !errors.Is(err, apperr.ErrZoomRateLimited) || meetingCalls.Load() != 1 {
		t.Fatalf("while the quota is spent: %v, %d calls", err, meetingCalls.Load())
	}
	if _, err := z.Mint(ctx, zak("a@example.com")); err != nil || tokenCalls.Load() != 1 {
		t.Fatalf("a mint while the meeting quota is spent: %v", err)
	}
}
