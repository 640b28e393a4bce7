package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// The import rules of docs/ARCHITECTURE.md: the leaves import nothing of
// ours, the Zoom client knows no caller or transport, the domain knows no
// transport, and the two transports do not know each other.
func TestImportRules(t *testing.T) {
	const mod = "github.com/zoomtoken/tokenserver/"
	out, err := exec.Command("go", "list", "-json", "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := map[string][]string{
		"apperr":        {},
		"jsonbody":      {"apperr"},
		"secret":        {},
		"bus":           {},
		"connections":   {},
		"sandbox":       {},
		"zoom":          {"apperr", "secret"},
		"zoom/zoomtest": {"zoom"},
		"sdk":           {"apperr", "secret", "jsonbody"},
		"webhooks":      {"apperr", "secret"},
		"presence":      {"zoom"},
		"services":      {"zoom", "connections", "sdk", "apperr", "secret", "webhooks", "presence"},
		"wire":          {"services", "zoom", "connections", "sdk", "jsonbody", "apperr", "secret", "presence"},
		"routes":        {"wire", "services", "zoom", "connections", "apperr", "secret", "webhooks", "presence", "callbacks", "openapi"},
		"openapi":       {"webfiles"},
		"callbacks":     {"services", "zoom", "jsonbody", "apperr", "secret"},
		"realtime":      {"wire", "services", "zoom", "apperr", "secret", "presence"},
		// What the instances of a cluster share through Redis.
		"cluster": {"secret"},
		// Test-only: starts real redis-server and PostgreSQL for tests.
		"internal/testinfra": {},
		// The console's page, embedded: routes takes it as an http.Handler.
		"console": {"webfiles"},
		// Embedded page files served with their headers.
		"webfiles": {},
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(p.ImportPath, mod)
		rules, ok := allowed[name]
		if !ok {
			continue
		}
		seen++
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			dep := strings.TrimPrefix(imp, mod)
			if !contains(rules, dep) {
				t.Errorf("%s imports %s, which docs/ARCHITECTURE.md does not allow", name, dep)
			}
		}
	}
	if seen != len(allowed) {
		t.Fatalf("found %d of the %d packages the rules name", seen, len(allowed))
	}
}
