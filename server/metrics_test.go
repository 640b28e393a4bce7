package main

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

// metricValue sums the samples of name whose labels contain every part of labels.
func metricValue(body, name string, labels ...string) float64 {
	var sum float64
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? ([0-9.e+-]+)$`)
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(m[1], l)
		}
		if ok {
			v, _ := strconv.ParseFloat(m[2], 64)
			sum += v
		}
	}
	return sum
}

func TestMetrics(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{QPS: 5})
	env := zoomEnv(sb)
	ts := startServer(t, sb, env)
	pat := authedSocket(t, ts, "pat@example.com", "")
	ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com"}, adminKey)
	pat.waitEvent("meeting:credentials", 5*time.Second)
	ts.do("POST", "/api/meetings/batch-join", map[string]any{"meetingId": meeting,
		"participantUserIds": []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com", "f@example.com", "g@example.com", "ghost"}}, adminKey)
	ts.do("POST", "/api/meetings/start", map[string]any{"meetingId": meeting, "hostUserId": "x@example.com"}, nil)
	bad := authedSocket(t, ts, "evil@example.com", "")
	bad.raw("42")
	bad.isClosed(2 * time.Second)

	r := ts.do("GET", "/metrics", nil, nil)
	if r.Status != 200 {
		t.Fatalf("/metrics = %d", r.Status)
	}
	body := r.Raw
	checks := []struct {
		name   string
		labels []string
		min    float64
	}{
		{"zoom_calls_total", []string{`endpoint="oauth_token"`, `outcome="ok"`}, 1},
		{"zoom_calls_total", []string{`endpoint="token_onbehalf"`, `outcome="ok"`}, 8},
		{"zoom_calls_total", []string{`endpoint="token_onbehalf"`, `outcome="zoom_1001"`}, 1},
		{"zoom_call_duration_seconds_count", []string{`endpoint="token_onbehalf"`}, 9},
		{"token_mint_duration_seconds_count", []string{`type="onbehalf"`, `outcome="ok"`}, 8},
		{"token_mint_duration_seconds_count", []string{`outcome="zoom_user_not_found"`}, 1},
		{"zoom_s2s_token_cache_total", []string{`event="miss"`}, 1},
		{"zoom_s2s_token_cache_total", []string{`event="hit"`}, 8},
		{"zoom_rate_limited_total", []string{`kind="qps"`}, 1},
		{"socketio_connected_sockets", nil, 1},
		{"socketio_token_pushes_total", []string{`event="meeting:credentials"`, `result="delivered"`}, 1},
		{"socketio_token_pushes_total", []string{`result="offline"`}, 7},
		{"socketio_malformed_packets_total", nil, 1},
		{"http_requests_total", []string{`route="/api/meetings/join"`, `status="200"`}, 1},
		{"http_requests_total", []string{`route="/api/meetings/start"`, `status="401"`}, 1},
		{"http_request_duration_seconds_count", []string{`route="/api/meetings/batch-join"`}, 1},
		{"go_goroutines", nil, 1},
	}
	for _, c := range checks {
		if v := metricValue(body, c.name, c.labels...); v < c.min {
			t.Errorf("%s%v = %v, want at least %v", c.name, c.labels, v, c.min)
		}
	}
	if metricValue(body, "zoom_limiter_wait_seconds_count") < 0 {
		t.Error("no limiter histogram")
	}
	// No token, secret or user id in any label.
	for _, s := range append(sb.IssuedSecrets(), testAPIKey, testJWTSecret, "example.com", "ghost") {
		if strings.Contains(body, s) {
			t.Fatalf("/metrics contains %.12q…", s)
		}
	}
}

func TestRequestLogs(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := startServer(t, sb, zoomEnv(sb))
	r := ts.do("POST", "/api/meetings/join?token=secret-in-query", map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com"},
		map[string]string{"X-API-Key": testAPIKey, "X-Request-ID": "trace-abc.123"})
	if r.Header.Get("X-Request-ID") != "trace-abc.123" {
		t.Fatalf("request id not echoed: %q", r.Header.Get("X-Request-ID"))
	}
	r2 := ts.do("GET", "/api/live", nil, map[string]string{"X-Request-ID": "bad id with spaces;and=more"})
	gen := r2.Header.Get("X-Request-ID")
	if gen == "" || strings.Contains(gen, " ") {
		t.Fatalf("insane request id kept or none generated: %q", gen)
	}
	time.Sleep(50 * time.Millisecond)
	var found bool
	for _, line := range strings.Split(ts.Logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "request" || m["request_id"] != "trace-abc.123" {
			continue
		}
		found = true
		if m["route"] != "/api/meetings/join" || m["status"] != float64(200) || m["duration_ms"] == nil || m["method"] != "POST" ||
			!strings.HasPrefix(str(m["caller"]), "api-key:") || m["role"] != "admin" {
			t.Errorf("request log = %v", m)
		}
	}
	if !found {
		t.Fatal("no request log line with the request id")
	}
	if strings.Contains(ts.Logs.String(), "secret-in-query") {
		t.Fatal("the query string reached the logs")
	}
	ts.assertNoSecretsLogged()
}
