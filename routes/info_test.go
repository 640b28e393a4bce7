package routes

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/zoomtoken/tokenserver/internal/apperr"
)

// switchable is a readiness check whose answer the test changes.
type switchable struct{ err error }

func (s *switchable) Check(context.Context) error { return s.err }

// HEAD / answers as GET / does, without a body.
func TestHeadIndex(t *testing.T) {
	h := New(Deps{Domain: fakeMeetings{}, Auth: fakeAuth{}, Zoom: fakeChecker{}, Info: Info{Mode: "zoom"}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("HEAD", "/", nil))
	if rec.Code != 200 {
		t.Fatalf("HEAD / = %d, want 200", rec.Code)
	}
}

// Readiness probes are not logged one by one; a change of readiness is,
// once, with its cause.
func TestHealthLogsChangesWithTheirCause(t *testing.T) {
	var logs bytes.Buffer
	var err error
	z := &switchable{}
	h := New(Deps{Domain: fakeMeetings{}, Auth: fakeAuth{}, Zoom: z, Info: Info{Mode: "zoom"},
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	probe := func() {
		z.err = err
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/health", nil))
	}
	probe()
	probe()
	if logs.Len() != 0 {
		t.Fatalf("healthy probes were logged:\n%s", &logs)
	}
	err = &apperr.Error{Kind: apperr.ErrZoomAuth, Message: "Zoom refused the S2S credentials."}
	for range 3 {
		probe()
	}
	if n := strings.Count(logs.String(), "readiness: unhealthy"); n != 1 {
		t.Fatalf("unhealthy logged %d times over 3 probes, want once:\n%s", n, &logs)
	}
	if !strings.Contains(logs.String(), `"code":"zoom_auth_failed"`) || !strings.Contains(logs.String(), "refused the S2S credentials") {
		t.Fatalf("the unhealthy line lacks its cause:\n%s", &logs)
	}
	err = nil
	probe()
	probe()
	if n := strings.Count(logs.String(), "healthy again"); n != 1 {
		t.Fatalf("recovery logged %d times, want once:\n%s", n, &logs)
	}
}
