package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

// The README's receiver (examples/eventreceiver), run as its own process:
// it accepts the server's signed events and refuses a forged one.
func TestEventsExampleReceiver(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example receiver")
	}
	bin := filepath.Join(t.TempDir(), "eventreceiver")
	if out, err := exec.Command("go", "build", "-o", bin, "../examples/eventreceiver").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "EVENTS_SECRET="+eventsSecret)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var mu sync.Mutex
	var lines []string
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				addr <- a
			}
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
		}
	}()
	url := "http://" + <-addr + "/events"

	// A forged event is refused.
	resp, err := noRedirect.Post(url, "application/json", strings.NewReader(`{"id":"evt_x","type":"connection.connected","data":{"sub":"x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("unsigned event = %d, want 401", resp.StatusCode)
	}

	sb := newSandbox(t, sandbox.Options{})
	ts := appServer(t, sb, filepath.Join(t.TempDir(), "c.db"), map[string]string{"EVENTS_URL": url, "EVENTS_SECRET": eventsSecret})
	const ann = "ann@partner.example"
	v := newVerifier(t)
	code := appCode(t, sb, appRedirect, v, ann)
	if r := ts.do("POST", "/api/connections", map[string]any{"authorizationCode": code, "redirectUri": appRedirect, "codeVerifier": v},
		bearer(t, ann, "")); r.Status != 201 {
		t.Fatalf("connect = %d %s", r.Status, r.Raw)
	}
	waitUntil(t, "the example receiver prints the event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range lines {
			if strings.Contains(l, "connection.connected sub="+ann+" status=connected") {
				return true
			}
		}
		return false
	})
	if strings.Contains(ts.Logs.String(), "delivery failed") {
		t.Errorf("a delivery to the example receiver failed:\n%s", ts.Logs)
	}
}
