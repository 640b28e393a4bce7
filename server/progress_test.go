package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

// progressUsers are ten users, the last unknown to Zoom.
func progressUsers() []string {
	var users []string
	for i := range 9 {
		users = append(users, fmt.Sprintf("p%d@example.com", i))
	}
	return append(users, "nobody-here")
}

// A batch asked over Socket.IO tells the socket that asked how far it has
// got, throttled, the last update done == total with the failures counted;
// other sockets, even the same user's, hear nothing of it.
func TestSocketProgress(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	env := zoomEnv(sb)
	env["ZOOM_QPS"] = "4" // the batch lasts seconds, so updates come while it runs
	ts := startServer(t, sb, env)
	host := authedSocket(t, ts, "host@example.com", "host")
	hostTab := authedSocket(t, ts, "host@example.com", "host")
	p0 := authedSocket(t, ts, "p0@example.com", "")

	users := progressUsers()
	started := time.Now()
	r := host.emitAck("meeting:distribute", map[string]any{"meetingId": meeting, "hostUserId": "host@example.com", "participantUserIds": users})
	elapsed := time.Since(started)
	if r["success"] != true || r["successful"] != float64(9) || r["failed"] != float64(1) {
		t.Fatalf("ack = %v", r)
	}
	var updates []map[string]any
	for _, e := range host.received() {
		if e.Name != "meeting:progress" {
			continue
		}
		var body map[string]any
		if err := json.Unmarshal(e.Args[0], &body); err != nil {
			t.Fatal(err)
		}
		updates = append(updates, body)
	}
	if len(updates) < 2 {
		t.Fatalf("%d meeting:progress events for a batch of %s; want updates while it ran", len(updates), elapsed)
	}
	// The throttle's bound: one per 100 ms of the batch, plus the first and the final.
	if most := int(elapsed/(100*time.Millisecond)) + 2; len(updates) > most {
		t.Fatalf("%d meeting:progress events over %s; at most %d", len(updates), elapsed, most)
	}
	prev := -1.0
	for _, u := range updates {
		done, _ := u["done"].(float64)
		if u["meetingId"] != meeting || u["total"] != float64(len(users)) || done < prev || done > float64(len(users)) {
			t.Fatalf("meeting:progress %v after done %v", u, prev)
		}
		if _, ok := u["obfToken"]; ok {
			t.Fatal("meeting:progress carries a token")
		}
		prev = done
	}
	if last := updates[len(updates)-1]; last["done"] != float64(len(users)) || last["failed"] != float64(1) {
		t.Fatalf("last meeting:progress = %v, want done %d with 1 failed", last, len(users))
	}
	// The participant got its token and no progress; the host's other tab no progress.
	if _, ok := p0.waitEvent("meeting:credentials", 5*time.Second); !ok {
		t.Fatal("p0 did not get its token")
	}
	for _, c := range []*wsClient{hostTab, p0} {
		for _, e := range c.received() {
			if e.Name == "meeting:progress" {
				t.Fatalf("a socket that did not ask got meeting:progress: %s", e.Args)
			}
		}
	}
	ts.assertNoSecretsLogged()
}

// POST /api/meetings/batch-join with Accept: application/x-ndjson streams
// one line per distinct user as it is minted, then {done, summary}.
func TestBatchJoinNDJSON(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	env := zoomEnv(sb)
	env["ZOOM_QPS"] = "4"
	ts := startServer(t, sb, env)
	users := append(progressUsers(), "P1@Example.com", "p2@example.com") // duplicates, told once

	post := func(accept string, body any) *http.Response {
		t.Helper()
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", ts.URL+"/api/meetings/batch-join", bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", testAPIKey)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := ts.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	t.Run("stream", func(t *testing.T) {
		before := sb.Stats().Minted
		resp := post("application/json;q=0.5, application/x-ndjson", map[string]any{"meetingId": meeting, "participantUserIds": users})
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("answer %d %v", resp.StatusCode, resp.Header)
		}
		sc := bufio.NewScanner(resp.Body)
		seen := map[string]bool{}
		var end map[string]any
		mintedAtFirst := int64(-1)
		for sc.Scan() {
			var line map[string]any
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			if mintedAtFirst < 0 {
				mintedAtFirst = sb.Stats().Minted - before
			}
			ts.collectTokens(line)
			if end != nil {
				t.Fatalf("a line after the last: %s", sc.Text())
			}
			if line["done"] == true {
				end = line
				continue
			}
			id := strings.ToLower(str(line["userId"]))
			if seen[id] {
				t.Fatalf("%s told twice", id)
			}
			seen[id] = true
			switch {
			case id == "nobody-here":
				if line["code"] == nil || line["error"] == nil || line["obfToken"] != nil {
					t.Fatalf("failed line %v", line)
				}
			case line["obfToken"] == nil || line["expiresAt"] == nil:
				t.Fatalf("line %v has no token", line)
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		if len(seen) != 10 || end == nil {
			t.Fatalf("%d user lines, end %v; want 10 and an end", len(seen), end)
		}
		if s := field(end, "summary"); field(end, "summary", "total") != float64(10) || field(end, "summary", "successful") != float64(9) || field(end, "summary", "failed") != float64(1) || end["meetingId"] != meeting {
			t.Fatalf("end = %v (summary %v)", end, s)
		}
		// Flushed as minted: the first line came before the batch was done
		// (at ZOOM_QPS=4 the 10 calls take seconds).
		if mintedAtFirst >= 9 {
			t.Errorf("the first line came after all %d tokens were minted: not streamed", mintedAtFirst)
		}
	})

	t.Run("errors before the first line are the usual JSON", func(t *testing.T) {
		resp := post("application/x-ndjson", map[string]any{"meetingId": meeting, "participantUserIds": "x"})
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		if resp.StatusCode != 400 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || body["code"] != "invalid_request" {
			t.Fatalf("answer %d %v %v", resp.StatusCode, resp.Header, body)
		}
	})

	t.Run("without the Accept the answer is as before", func(t *testing.T) {
		for _, accept := range []string{"", "application/json", "application/x-ndjson;q=0"} {
			resp := post(accept, map[string]any{"meetingId": meeting, "participantUserIds": []string{"p1@example.com"}})
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			ts.collectTokens(body)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || field(body, "summary", "successful") != float64(1) {
				t.Fatalf("Accept %q: %d %v %v", accept, resp.StatusCode, resp.Header, body)
			}
		}
	})
	ts.assertNoSecretsLogged()
}
