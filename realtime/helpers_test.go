package realtime_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/sdk"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/realtime"
	"github.com/zoomtoken/tokenserver/realtime/rawclient"
	"github.com/zoomtoken/tokenserver/services"
)

// fakeAuth accepts "good:<sub>:<role>" and refuses anything else.
type fakeAuth struct{}

func (fakeAuth) Authenticate(_ context.Context, cred string) (services.Identity, error) {
	parts := strings.Split(cred, ":")
	if len(parts) == 3 && parts[0] == "good" {
		return services.Identity{Subject: parts[1], Role: services.Role(parts[2]), Method: "jwt"}, nil
	}
	return services.Identity{}, &apperr.Error{Kind: apperr.ErrUnauthenticated, Op: "authenticate", Message: "The credential is not valid."}
}

func cred(sub, role string) string { return "good:" + sub + ":" + role }

// fakeMeetings is the domain: start and join run its functions when set
// (else they are refused), distribute is recorded, and every call counted.
type fakeMeetings struct {
	start func(services.Identity, services.StartInput) (services.Minted, error)
	join  func(services.Identity, services.JoinInput) (services.Minted, error)

	mu          sync.Mutex
	calls       int
	distributed []services.DistributeInput
}

func (m *fakeMeetings) called() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

func (m *fakeMeetings) count() {
	m.mu.Lock()
	m.calls++
	m.mu.Unlock()
}

func (m *fakeMeetings) Start(_ context.Context, caller services.Identity, in services.StartInput) (services.Minted, error) {
	m.count()
	if m.start != nil {
		return m.start(caller, in)
	}
	return services.Minted{}, &apperr.Error{Kind: apperr.ErrForbidden, Op: "start", Message: "not in these tests"}
}

func (m *fakeMeetings) Join(_ context.Context, caller services.Identity, in services.JoinInput) (services.Minted, error) {
	m.count()
	if m.join != nil {
		return m.join(caller, in)
	}
	return services.Minted{}, &apperr.Error{Kind: apperr.ErrForbidden, Op: "join", Message: "not in these tests"}
}

func (m *fakeMeetings) Batch(_ context.Context, _ services.Identity, in services.BatchInput) (services.BatchResult, error) {
	m.count()
	return services.BatchResult{Total: len(in.ParticipantUserIDs)}, nil
}

func (m *fakeMeetings) Setup(context.Context, services.Identity, services.SetupInput) (services.SetupResult, error) {
	m.count()
	return services.SetupResult{}, &apperr.Error{Kind: apperr.ErrForbidden, Op: "setup", Message: "not in these tests"}
}

func (*fakeMeetings) BatchMax() int { return 1000 }

func (m *fakeMeetings) Distribute(_ context.Context, _ services.Identity, in services.DistributeInput) (services.BatchResult, error) {
	m.mu.Lock()
	m.calls++
	m.distributed = append(m.distributed, in)
	m.mu.Unlock()
	return services.BatchResult{Total: len(in.ParticipantUserIDs)}, nil
}

// minted is the bus event of a token minted for userID.
func minted(typ zoom.TokenType, userID, value string) services.Event {
	return services.Event{Kind: services.TokenMinted, Token: zoom.Token{Type: typ, UserID: mustUser(userID), Value: secret.New(value)}}
}

func (*fakeMeetings) Signature(context.Context, services.Identity, sdk.MeetingRequest) (string, string, error) {
	return "", "", nil
}

func (*fakeMeetings) VideoSignature(context.Context, services.Identity, sdk.VideoRequest) (string, error) {
	return "", nil
}

// fakeLimiter records every key it is asked about; it refuses keys in deny.
type fakeLimiter struct {
	mu   sync.Mutex
	keys []string
	deny map[string]bool
}

func (l *fakeLimiter) Allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys = append(l.keys, key)
	return !l.deny[key], time.Second
}

func (l *fakeLimiter) count(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, k := range l.keys {
		if k == key {
			n++
		}
	}
	return n
}

// fakeGuard refuses an address after limit failures.
type fakeGuard struct {
	mu     sync.Mutex
	limit  int
	failed map[string]int
	asked  int
}

func (g *fakeGuard) Allow(addr string) (bool, time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.asked++
	return g.failed[addr] < g.limit, 30 * time.Second
}

func (g *fakeGuard) Failed(addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failed[addr]++
}

func (g *fakeGuard) failures(addr string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.failed[addr]
}

type harness struct {
	t   *testing.T
	rt  *realtime.Server
	URL string
}

// start serves a realtime.Server on an httptest server, as routes mounts it.
func start(t *testing.T, cfg realtime.Config) *harness {
	t.Helper()
	if cfg.Auth == nil {
		cfg.Auth = fakeAuth{}
	}
	if cfg.Domain == nil {
		cfg.Domain = &fakeMeetings{}
	}
	rt := realtime.New(cfg)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", rt.Handler())
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rt.Close(ctx)
		ts.Close()
	})
	return &harness{t: t, rt: rt, URL: ts.URL}
}

// connect opens a websocket and connects the default namespace with auth.
func (h *harness) connect(auth map[string]any) *rawclient.Client {
	h.t.Helper()
	c, ok, body, _, err := rawclient.Connect(h.URL, auth, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	if !ok {
		h.t.Fatalf("connect refused: %v", body)
	}
	h.t.Cleanup(c.Close)
	return c
}

// anonymous connects without credentials, then pauses: socket.io/v2 v2.5.0
// answers CONNECT before it files the socket under its connection, and an
// event that arrives in between finds no socket and closes the connection
// (about 1 in 50 here). A client that authenticated in its handshake waits
// for authenticated, which comes after.
func (h *harness) anonymous() *rawclient.Client {
	h.t.Helper()
	c := h.connect(nil)
	time.Sleep(50 * time.Millisecond)
	return c
}

// authed connects as sub with role and waits for authenticated.
func (h *harness) authed(sub, role string) *rawclient.Client {
	h.t.Helper()
	c := h.connect(map[string]any{"token": cred(sub, role)})
	if _, ok := c.WaitEvent("authenticated", 5*time.Second); !ok {
		h.t.Fatal("no authenticated event")
	}
	return c
}

func decode(raw []json.RawMessage) map[string]any {
	var m map[string]any
	if len(raw) > 0 {
		_ = json.Unmarshal(raw[0], &m)
	}
	return m
}

func ack(t *testing.T, c *rawclient.Client, event string, payload any) map[string]any {
	t.Helper()
	args, err := c.EmitAck(event, payload, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return decode(args)
}

// expectKicked checks that the server said why (an error event with code),
// sent a DISCONNECT and a close frame, and closed the connection.
func expectKicked(t *testing.T, c *rawclient.Client, code string) {
	t.Helper()
	if !c.Closed(5 * time.Second) {
		t.Fatal("the server did not close the connection")
	}
	e, ok := c.WaitEvent("error", 0)
	if !ok || decode(e.Args)["code"] != code {
		t.Errorf("error event before the disconnect = %v (found %v), want code %q", decode(e.Args), ok, code)
	}
	disconnected, closeCode := c.Ending()
	if !disconnected {
		t.Error("no DISCONNECT (41) before the close: socket.io-client would reconnect")
	}
	if closeCode != 1000 {
		t.Errorf("close frame status = %d, want 1000 (0: no close frame)", closeCode)
	}
}

func mustUser(s string) zoom.UserID {
	u, reason := zoom.ParseUserID(s)
	if reason != "" {
		panic(reason)
	}
	return u
}
