package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The browser example works in a real browser against a sandbox-mode server:
// headless Chromium, driven by playwright-core, runs examples/browser.
func TestBrowserExample(t *testing.T) {
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must install chromium (.ci/run does): %v", err)
		}
		t.Skipf("no Chromium at %s (apt-get install chromium); CI runs this test", chromium)
	}
	if _, err := os.Stat(nodeExamples + "/node_modules/playwright-core"); err != nil {
		t.Fatal("playwright-core is not installed: run `make node-deps` (make test does it)")
	}
	// The server serves the page from the repository root, as `make run` does.
	env := sandboxEnv()
	wd, _ := os.Getwd()
	if err := os.Chdir(".."); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, nil, env)
	_ = os.Chdir(wd)

	cmd := exec.Command("node", "browser-check.js")
	cmd.Dir = nodeExamples
	cmd.Env = append(os.Environ(), "SERVER_URL="+ts.URL, "CHROMIUM="+chromium)
	out, err := cmd.Output()
	var r struct {
		OK                bool           `json:"ok"`
		Error             string         `json:"error"`
		Distributed       map[string]any `json:"distributed"`
		ParticipantTokens []string       `json:"participantTokens"`
		Errors            []string       `json:"errors"`
	}
	if jerr := json.Unmarshal(out, &r); jerr != nil || err != nil || !r.OK {
		t.Fatalf("browser check failed: %v %v\n%s", err, r.Error, out)
	}
	if str(r.Distributed["delivered"]) != "[participant@example.com]" || str(r.Distributed["offline"]) != "[offline@example.com]" {
		t.Fatalf("host page showed %v", r.Distributed)
	}
	if len(r.ParticipantTokens) != 1 || !strings.Contains(r.ParticipantTokens[0], "OBF for meeting 85746065432") {
		t.Fatalf("participant page showed %v", r.ParticipantTokens)
	}
	if len(r.Errors) > 0 {
		t.Fatalf("page errors: %v", r.Errors)
	}
}
