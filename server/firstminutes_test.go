package main

// The first ten minutes of a new user (issue 24): the binary's arguments,
// the URLs it names, and set-up mistakes said at start.

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

// --help, --version and their words print and exit; an unknown argument
// prints the usage to stderr and exits 2. None of them starts the server.
func TestBinaryArguments(t *testing.T) {
	bin := serverBinary(t)
	for _, tc := range []struct {
		args        []string
		code        int
		out, errOut []string // what stdout and stderr must hold
	}{
		{[]string{"--help"}, 0, []string{"make run", "docs/CONFIGURATION.md", "healthcheck", "/console/"}, nil},
		{[]string{"-h"}, 0, []string{"make run", "docs/CONFIGURATION.md"}, nil},
		{[]string{"help"}, 0, []string{"make run", "docs/CONFIGURATION.md"}, nil},
		{[]string{"--version"}, 0, []string{"tokenserver dev"}, nil},
		{[]string{"version"}, 0, []string{"tokenserver dev"}, nil},
		{[]string{"--port=3000"}, 2, nil, []string{`unknown flag "--port=3000"`, "docs/CONFIGURATION.md"}},
		{[]string{"serve"}, 2, nil, []string{`unknown argument "serve"`, "Usage:"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, tc.args...)
			cmd.Dir = t.TempDir()
			cmd.Env = []string{"PORT=0", "HOST=127.0.0.1"} // had it started, on a free port
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("it did not exit: it served\nstdout: %.500s", stdout.String())
			}
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %.300s", code, tc.code, stderr.String())
			}
			for _, want := range tc.out {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
			for _, want := range tc.errOut {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
				}
			}
			if tc.code != 0 && stdout.Len() > 0 {
				t.Errorf("a mistake printed to stdout: %.300s", stdout.String())
			}
			if strings.Contains(stdout.String()+stderr.String(), `"msg":"listening"`) {
				t.Error("the server started")
			}
		})
	}
}

// waitLog waits until the server's log holds every one of want.
func waitLog(t *testing.T, ts *testServer, within time.Duration, want ...string) bool {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		logs, all := ts.Logs.String(), true
		for _, w := range want {
			all = all && strings.Contains(logs, w)
		}
		if all {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A wrong S2S secret is said at start, at error level with the hint a
// request would get, before anyone asks; the server still starts, serves,
// and reports unhealthy with the same hint.
func TestStartSaysZoomRefusesTheCredentials(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	env := zoomEnv(sb)
	const wrong = "not-the-right-secret-42"
	env["ZOOM_CLIENT_SECRET"] = wrong
	ts := startServer(t, sb, env)
	const hint = "Check ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET"
	if !waitLog(t, ts, 10*time.Second, `"level":"ERROR","msg":"zoom: Zoom refuses the credentials of the Server-to-Server app`, hint) {
		t.Fatalf("no error line with the hint within 10 s of start:\n%s", ts.Logs)
	}
	h := ts.do("GET", "/api/health", nil, nil)
	if h.Status != 503 || !strings.Contains(str(h.Body["error"]), hint) || h.Body["code"] != "zoom_auth_failed" {
		t.Errorf("health = %d %s", h.Status, h.Raw)
	}
	if r := ts.do("GET", "/", nil, nil); r.Status != 200 {
		t.Errorf("GET / = %d: the server does not serve", r.Status)
	}
	if strings.Contains(ts.Logs.String(), wrong) {
		t.Error("the secret is in the log")
	}
}

// Right credentials are said to be accepted, the General app's too: its
// check (a made-up code) tells a wrong secret from a right one without a user.
func TestStartChecksTheGeneralApp(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	dir := t.TempDir()
	env := connEnv(t, sb, filepath.Join(dir, "c.db"), newKey(t, "k1"))
	ts := startServer(t, sb, env)
	if !waitLog(t, ts, 10*time.Second, "Zoom accepts the credentials of the Server-to-Server app",
		"Zoom accepts the credentials of the General app") {
		t.Fatalf("right credentials not said to be accepted:\n%s", ts.Logs)
	}
	if strings.Contains(ts.Logs.String(), `"level":"WARN","msg":"zoom: user OAuth grant refused"`) {
		t.Error("the check's made-up code shows as a refused user grant")
	}

	sb2 := newSandbox(t, sandbox.Options{})
	env = connEnv(t, sb2, filepath.Join(dir, "d.db"), newKey(t, "k1"))
	const wrong = "wrong-general-secret-42"
	env["ZOOM_OAUTH_CLIENT_SECRET"] = wrong
	ts = startServer(t, sb2, env)
	if !waitLog(t, ts, 10*time.Second, `"level":"ERROR","msg":"zoom: Zoom refuses the credentials of the General app`,
		"Check ZOOM_OAUTH_CLIENT_ID and ZOOM_OAUTH_CLIENT_SECRET") {
		t.Fatalf("a wrong General app secret is not said at start:\n%s", ts.Logs)
	}
	if strings.Contains(ts.Logs.String(), wrong) {
		t.Error("the secret is in the log")
	}
}

// A credential with white space is refused at start, naming its variable,
// never showing its value.
func TestConfigRefusesCredentialsWithSpace(t *testing.T) {
	base := map[string]string{"ZOOM_ACCOUNT_ID": "acct", "ZOOM_CLIENT_ID": "id", "ZOOM_CLIENT_SECRET": "secret",
		"API_KEYS": "key-0123456789abcdef"}
	for _, tc := range []struct{ name, value string }{
		{"ZOOM_CLIENT_ID", "abc def"},
		{"ZOOM_CLIENT_ID", " abcdef"},
		{"ZOOM_CLIENT_SECRET", "abcdef\n"},
		{"ZOOM_ACCOUNT_ID", "abc\tdef"},
		{"ZOOM_SDK_KEY", "sdk key"},
		{"ZOOM_VIDEOSDK_SECRET", "video\u00a0secret"},
	} {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		env[tc.name] = tc.value
		_, err := loadConfig(func(k string) string { return env[k] })
		if err == nil || !strings.Contains(err.Error(), tc.name+": contains white space") {
			t.Errorf("%s=%q: %v", tc.name, tc.value, err)
			continue
		}
		if strings.Contains(err.Error(), strings.TrimSpace(tc.value)) {
			t.Errorf("%s: the error shows the value: %v", tc.name, err)
		}
	}
	if _, err := loadConfig(func(k string) string { return base[k] }); err != nil {
		t.Errorf("clean credentials refused: %v", err)
	}
}

// The same, from the binary: the start stops, naming ZOOM_CLIENT_ID.
func TestProcessRefusesAClientIDWithSpace(t *testing.T) {
	bin := serverBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Dir = t.TempDir()
	const id = "Abc123 XyZ789"
	cmd.Env = []string{"PORT=0", "HOST=127.0.0.1", "ZOOM_ACCOUNT_ID=acct", "ZOOM_CLIENT_ID=" + id,
		"ZOOM_CLIENT_SECRET=s3cret-value", "API_KEYS=key-0123456789abcdef", "DATABASE_URL=memory"}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "ZOOM_CLIENT_ID: contains white space") {
		t.Errorf("the refusal does not name ZOOM_CLIENT_ID:\n%s", out)
	}
	if strings.Contains(string(out), "Abc123") || strings.Contains(string(out), "XyZ789") {
		t.Errorf("the refusal shows the value:\n%s", out)
	}
}

// The first log line names the pages to open, at an address a browser on
// this machine reaches; in sandbox mode the browser example too.
func TestFirstLogLineNamesTheURLs(t *testing.T) {
	ts := startServer(t, nil, sandboxEnv())
	first, _, _ := strings.Cut(ts.Logs.String(), "\n")
	for _, path := range []string{"/", "/console/", "/docs/api/", "/examples/browser/"} {
		if !strings.Contains(first, `"`+ts.URL+path+`"`) {
			t.Errorf("the first log line lacks %s%s:\n%s", ts.URL, path, first)
		}
	}
	sb := newSandbox(t, sandbox.Options{})
	zs := startServer(t, sb, zoomEnv(sb))
	first, _, _ = strings.Cut(zs.Logs.String(), "\n")
	if !strings.Contains(first, `"`+zs.URL+`/console/"`) || strings.Contains(first, "/examples/browser/") {
		t.Errorf("zoom mode's first log line:\n%s", first)
	}
}

// Error bodies say <jwt> as it is, not \u003cjwt\u003e.
func TestErrorBodiesAreNotHTMLEscaped(t *testing.T) {
	ts := startServer(t, nil, sandboxEnv())
	r := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com"}, nil)
	if r.Status != 401 || !strings.Contains(r.Raw, "Bearer <jwt>") || strings.Contains(r.Raw, `\u003c`) {
		t.Errorf("401 body = %s", r.Raw)
	}
}
