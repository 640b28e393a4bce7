package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

// Attacks that once worked against the running server, kept as tests.

// expectServerDisconnect checks the ending socket.io-client needs to stop:
// an error event with code, a DISCONNECT ("41") and a websocket close frame.
func expectServerDisconnect(t *testing.T, c *wsClient, code string) {
	t.Helper()
	if !c.isClosed(10 * time.Second) {
		t.Fatal("the server did not close the connection")
	}
	if e, ok := c.waitEvent("error", 0); !ok || e["code"] != code {
		t.Errorf("error event = %v, want code %q", e, code)
	}
	if disconnected, closeCode := c.Ending(); !disconnected || closeCode != 1000 {
		t.Errorf("ending: DISCONNECT %v, close frame %d; want true, 1000", disconnected, closeCode)
	}
}

// `451000000-["ping"]` and then binary frames: the server's memory grew by
// gigabytes, from an unauthenticated connection as from a participant.
func TestAttackBinaryAttachmentFlood(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, zoomEnv(sb))
	for _, c := range []*wsClient{authedSocket(t, ts, "pat@example.com", ""), dialSocket(t, ts.URL, nil, nil)} {
		c.raw(`451000000-["ping"]`)
		chunk := bytes.Repeat([]byte{0xff}, 64<<10)
		for range 32 {
			if c.Binary(chunk) != nil {
				break
			}
		}
		expectServerDisconnect(t, c, "invalid_request")
	}
}

// A chunked long-polling POST skipped the body limit: 1.5 GB went into memory.
func TestAttackChunkedPollingPost(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, zoomEnv(sb))
	resp, err := http.Get(ts.URL + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	open, _ := io.ReadAll(checkedResponse(t, resp).Body)
	resp.Body.Close()
	_, rest, _ := strings.Cut(string(open), `"sid":"`)
	sid, _, _ := strings.Cut(rest, `"`)
	body := io.LimitReader(neverEnding('a'), 256<<20) // far past the limit; the server stops reading long before
	req, _ := http.NewRequest("POST", ts.URL+"/socket.io/?EIO=4&transport=polling&sid="+sid, body)
	req.ContentLength = -1 // chunked
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	checkedResponse(t, r).Body.Close()
	if r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked POST of 256 MB = %d, want 413", r.StatusCode)
	}
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// Ten thousand wrong authenticate events on one socket, then a right one:
// it authenticated. Now the connection ends after five refused credentials,
// and what comes after is not tried.
func TestAttackAuthenticateGuessing(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, zoomEnv(sb))
	c, ok, _ := connectSocket(t, ts.URL, nil, nil)
	if !ok {
		t.Fatal("refused")
	}
	for i := range 5 {
		if r := c.emitAck("authenticate", map[string]any{"token": fmt.Sprintf("guess-%d", i)}); r["code"] != "unauthorized" {
			t.Fatalf("guess %d = %v", i, r)
		}
	}
	tok := strings.TrimPrefix(bearer(t, "pat@example.com", "")["Authorization"], "Bearer ")
	// The sixth is not tried: the connection is closed first, or, when the
	// attempt comes in before that, it is answered rate_limited.
	if args, err := c.tryEmitAck("authenticate", map[string]any{"token": tok}, 5*time.Second); err == nil {
		var r map[string]any
		_ = json.Unmarshal(args[0], &r)
		if r["code"] != "rate_limited" {
			t.Fatalf("the sixth credential was tried after five refused: %s", args)
		}
	}
	expectServerDisconnect(t, c, "rate_limited")
}

// A participant's meeting:distribute of 195,000 integers was answered with
// megabytes of details; it is refused before its body is read.
func TestAttackDistributeAmplification(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, zoomEnv(sb))
	c := authedSocket(t, ts, "pat@example.com", "")
	ids := make([]int, 195000)
	args, err := c.tryEmitAck("meeting:distribute", map[string]any{"meetingId": meeting, "hostUserId": "pat@example.com", "participantUserIds": ids}, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(args) == 0 || len(args[0]) > 1024 || !strings.Contains(string(args[0]), `"code":"forbidden"`) {
		t.Fatalf("answer of %d bytes: %.200s", len(args[0]), args[0])
	}
}

// meeting:distribute checked hostUserId's form and ignored it: a host could
// name another host. It is authorized as setup's now.
func TestAttackDistributeForAnotherHost(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, zoomEnv(sb))
	c := authedSocket(t, ts, "host@example.com", "host")
	r := c.emitAck("meeting:distribute", map[string]any{"meetingId": meeting, "hostUserId": "other-host@example.com",
		"participantUserIds": []string{"alice@example.com"}})
	if r["code"] != "forbidden" {
		t.Fatalf("distribute as another host = %v", r)
	}
}
