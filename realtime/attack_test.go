package realtime_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/realtime"
	"github.com/zoomtoken/tokenserver/realtime/rawclient"
)

// A BINARY_EVENT header announcing a million attachments, then binary
// frames: the library kept every frame. Now the header is refused at once.
func TestBinaryPacketsRefused(t *testing.T) {
	h := start(t, realtime.Config{MaxPayload: 64 << 10})
	for _, tc := range []struct {
		name string
		send func(c *rawclient.Client)
	}{
		{"binary event header", func(c *rawclient.Client) { c.Raw(`451000000-["ping"]`) }},
		{"binary ack header", func(c *rawclient.Client) { c.Raw(`461-[{"_placeholder":true,"num":0}]`) }},
		{"bare binary frame", func(c *rawclient.Client) { _ = c.Binary([]byte{1, 2, 3}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := h.authed("pat@example.com", "participant")
			tc.send(c)
			chunk := bytes.Repeat([]byte{7}, 32<<10)
			for range 64 { // 2 MB of attachments, were they kept
				if c.Binary(chunk) != nil {
					break
				}
			}
			expectKicked(t, c, apperr.CodeInvalidRequest)
		})
	}
	t.Run("unauthenticated", func(t *testing.T) {
		c := h.connect(nil)
		c.Raw(`451000000-["ping"]`)
		_ = c.Binary([]byte("x"))
		expectKicked(t, c, apperr.CodeInvalidRequest)
	})
}

// The memory a binary flood can take stays flat: without the refusal, 32 MB
// of attachments sent after one header stay in the server.
func TestBinaryFloodDoesNotAccumulate(t *testing.T) {
	h := start(t, realtime.Config{MaxPayload: 1 << 20})
	before := heapInUse()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := h.connect(nil)
			c.Raw(`451000000-["ping"]`)
			chunk := bytes.Repeat([]byte{7}, 256<<10)
			for range 32 {
				if c.Binary(chunk) != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if grew := heapInUse() - before; grew > 16<<20 {
		t.Fatalf("the heap grew by %d MB after 32 MB of binary frames", grew>>20)
	}
}

func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

// pollingSession opens an engine.io long-polling session and connects the
// default namespace. It returns the session id.
func pollingSession(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	s := string(b)
	i := strings.Index(s, `"sid":"`)
	if i < 0 {
		t.Fatalf("no sid in the open packet %q", s)
	}
	sid := s[i+7:]
	sid = sid[:strings.IndexByte(sid, '"')]
	post(t, base, sid, strings.NewReader("40"), 2)
	return sid
}

// post sends a polling POST; chunked when n < 0 (length unknown).
func post(t *testing.T, base, sid string, body io.Reader, n int64) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/socket.io/?EIO=4&transport=polling&sid="+sid, body)
	req.ContentLength = n
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// endless is a body that never ends (the chunked POST of the attack).
type endless struct{ sent int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	e.sent += int64(len(p))
	if e.sent > 64<<20 {
		return 0, io.EOF // a bound for the test, far past the cap
	}
	return len(p), nil
}

// A chunked polling POST was read whole whatever its size: engine.io checks
// only Content-Length. Now it is cut at MaxPayload, answered 413, and its
// session ends.
func TestChunkedPollingPostCapped(t *testing.T) {
	h := start(t, realtime.Config{MaxPayload: 64 << 10})
	sid := pollingSession(t, h.URL)
	resp := post(t, h.URL, sid, &endless{}, -1)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked POST of 64 MB = %d, want 413", resp.StatusCode)
	}
	// The session ends: after kickGrace at most, its id is unknown.
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := http.Get(h.URL + "/socket.io/?EIO=4&transport=polling&sid=" + sid)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode == http.StatusBadRequest {
			break
		}
		if strings.Contains(string(b), "payload_too_large") && strings.Contains(string(b), "\x1e41") {
			continue // told why, then DISCONNECT: the session is going
		}
		if time.Now().After(deadline) {
			t.Fatalf("the session is still open: %d %q", r.StatusCode, b)
		}
	}
	// A body within the limit still works, chunked or not.
	sid = pollingSession(t, h.URL)
	if r := post(t, h.URL, sid, io.MultiReader(strings.NewReader(`42["ping"]`)), -1); r.StatusCode != http.StatusOK {
		t.Fatalf("small chunked POST = %d", r.StatusCode)
	}
}

// A user with two sockets who closes one must keep getting pushes on the
// other. The library can report one disconnect twice ("41"s racing one
// another and the end of the transport); a counter kept by hand went wrong.
func TestPushesSurviveADoubleDisconnect(t *testing.T) {
	h := start(t, realtime.Config{})
	keep := h.authed("pat@example.com", "participant")
	lost := 0
	for i := range 150 {
		other := h.authed("pat@example.com", "participant")
		// Several "41"s in a row: each is handled on a goroutine of its
		// own, so they race one another and the end of the transport.
		for range 4 {
			other.Raw("41")
		}
		other.Close()
		if !keep.Closed(0) && h.rt.Deliver(context.Background(), minted(zoom.TokenOnBehalf, "pat@example.com", fmt.Sprint(i))) {
			continue
		}
		lost++
	}
	if lost > 0 {
		t.Fatalf("%d of 150 pushes to a connected user were reported undelivered", lost)
	}
	// And the socket did receive them.
	if _, ok := keep.WaitEvent("meeting:credentials", 5*time.Second); !ok {
		t.Fatal("no push arrived")
	}
}

// "40" then "41" used to cancel the authentication deadline, which was kept
// per namespace socket: the bare connection then stayed open for good.
func TestAuthDeadlineBelongsToTheConnection(t *testing.T) {
	h := start(t, realtime.Config{AuthTimeout: 1500 * time.Millisecond})
	c := h.connect(nil)
	c.Raw("41")
	if !c.Closed(5 * time.Second) {
		t.Fatal("an unauthenticated connection that left its namespace is still open")
	}
	// Leaving and joining again does not restart the clock either.
	c2 := h.connect(nil)
	stop := time.After(15 * time.Second) // ten times the deadline: a loaded machine is slow, not wrong
	closed := false
	for !closed {
		select {
		case <-stop:
			t.Fatal("an unauthenticated connection cycling 40/41 is still open")
		default:
		}
		c2.Raw("41")
		c2.Raw("40")
		closed = c2.Closed(50 * time.Millisecond)
	}
}

// The server used to close without a close frame and mostly without "41":
// socket.io-client took that for a network failure and reconnected forever.
func TestServerDisconnectSaysWhyThen41ThenCloseFrame(t *testing.T) {
	h := start(t, realtime.Config{AuthTimeout: 1500 * time.Millisecond})
	c := h.connect(nil)
	expectKicked(t, c, apperr.CodeUnauthorized)
}

// A client's close frame was answered, but the TCP connection was left
// open: the client waited (30 s in socket.io-client) and the server held the
// descriptor in CLOSE-WAIT.
func TestClientCloseHandshakeCompletes(t *testing.T) {
	h := start(t, realtime.Config{})
	for _, auth := range []map[string]any{nil, {"token": cred("pat@example.com", "participant")}} {
		c := h.connect(auth)
		if _, err := c.CloseHandshake(3 * time.Second); err != nil {
			t.Fatalf("auth %v: %v", auth, err)
		}
	}
}
