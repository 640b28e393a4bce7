package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

const (
	testJWTSecret = "test-secret-0123456789abcdef0123456789abcdef"
	testAPIKey    = "test-api-key-0123456789abcdef"
	meeting       = "85746065432"
)

// syncBuffer collects the server's log lines from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testServer struct {
	t      *testing.T
	URL    string
	SB     *sandbox.Sandbox
	Logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
	client *http.Client
	// tokens every response handed out, to check none reaches the logs
	mu     sync.Mutex
	tokens []string
}

func newSandbox(t *testing.T, opts sandbox.Options) *sandbox.Sandbox {
	t.Helper()
	sb := sandbox.New(opts)
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	return sb
}

// zoomEnv is the environment of a server in zoom mode pointed at sb.
func zoomEnv(sb *sandbox.Sandbox) map[string]string {
	acct, id, secret := sb.Credentials()
	return map[string]string{
		"PORT": "0", "HOST": "127.0.0.1",
		"ZOOM_ACCOUNT_ID": acct, "ZOOM_CLIENT_ID": id, "ZOOM_CLIENT_SECRET": secret,
		"ZOOM_OAUTH_URL": sb.OAuthURL(), "ZOOM_API_URL": sb.APIURL(),
		"AUTH_JWT_SECRET": testJWTSecret, "API_KEYS": testAPIKey,
		"ZOOM_QPS": "10000", "CALLER_RPS": "100000", "CALLER_BURST": "100000",
		"LOG_LEVEL": "debug",
		// In memory, not zoom mode's sqlite:data/connections.db: the
		// in-process tests run in the source tree.
		"DATABASE_URL": "memory",
	}
}

// startServer runs the server as main does, with env as its environment,
// and waits until it serves.
func startServer(t *testing.T, sb *sandbox.Sandbox, env map[string]string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{t: t, SB: sb, Logs: &syncBuffer{}, cancel: cancel, done: make(chan error, 1),
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}}
	getenv := func(k string) string { return env[k] }
	addr := make(chan string, 1)
	go func() { ts.done <- serve(ctx, getenv, ts.Logs, func(a string) { addr <- a }) }()
	deadline := time.Now().Add(15 * time.Second)
	select {
	case a := <-addr:
		ts.URL = "http://" + a
	case err := <-ts.done:
		t.Fatalf("server did not start: %v\nlogs:\n%s", err, ts.Logs)
	case <-time.After(15 * time.Second):
		t.Fatalf("server did not listen within 15 s; logs:\n%s", ts.Logs)
	}
	for {
		resp, err := ts.client.Get(ts.URL + "/api/live")
		if err == nil {
			checkedResponse(t, resp).Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never answered /api/live: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) stop() {
	if ts.cancel == nil {
		return
	}
	ts.cancel()
	ts.cancel = nil
	if ts.t.Failed() { // what the server said, for the failure's reader (its last 16 KB)
		logs := ts.Logs.String()
		ts.t.Logf("server log (last 16 KB):\n%s", logs[max(0, len(logs)-16<<10):])
	}
	select {
	case err := <-ts.done:
		if err != nil {
			ts.t.Errorf("run returned %v", err)
		}
	case <-time.After(40 * time.Second):
		ts.t.Error("run did not return after its context ended")
	}
}

func signJWT(t testing.TB, secret string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// bearer is an Authorization header for a caller JWT.
func bearer(t testing.TB, sub, role string) map[string]string {
	c := jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()}
	if role != "" {
		c["role"] = role
	}
	return map[string]string{"Authorization": "Bearer " + signJWT(t, testJWTSecret, c)}
}

var adminKey = map[string]string{"X-API-Key": testAPIKey}

type reply struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
	// Problems: how the response strays from the OpenAPI document, when the
	// check is reported later (openapi_test.go).
	Problems []string
}

func (ts *testServer) do(method, path string, body any, headers map[string]string) reply {
	ts.t.Helper()
	r, err := ts.try(method, path, body, headers)
	if err != nil {
		ts.t.Fatal(err)
	}
	return r
}

func (ts *testServer) try(method, path string, body any, headers map[string]string) (reply, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		return reply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	checkContract(ts.t, req, resp.StatusCode, resp.Header, raw) // openapi_test.go
	r := reply{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	ts.collectTokens(r.Body)
	return r, nil
}

// collectTokens remembers every token field of a response.
func (ts *testServer) collectTokens(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && (k == "zakToken" || k == "obfToken" || k == "token") {
				ts.mu.Lock()
				ts.tokens = append(ts.tokens, s)
				ts.mu.Unlock()
			}
			ts.collectTokens(val)
		}
	case []any:
		for _, e := range x {
			ts.collectTokens(e)
		}
	}
}

// assertNoSecretsLogged fails if any token, key or secret is in the logs.
func (ts *testServer) assertNoSecretsLogged(extra ...string) {
	ts.t.Helper()
	logs := ts.Logs.String()
	ts.mu.Lock()
	secrets := append(append([]string{testJWTSecret, testAPIKey}, ts.tokens...), extra...)
	ts.mu.Unlock()
	if ts.SB != nil {
		secrets = append(secrets, ts.SB.IssuedSecrets()...)
	}
	for _, s := range secrets {
		if len(s) >= 8 && strings.Contains(logs, s) {
			ts.t.Errorf("a secret or token (%d chars, starting %q) appears in the logs", len(s), s[:4])
		}
	}
}

func str(v any) string { return fmt.Sprint(v) }

func field(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
