package main

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sandboxEnv is a server in sandbox mode on a free loopback port.
func sandboxEnv() map[string]string {
	return map[string]string{"PORT": "0", "HOST": "127.0.0.1"}
}

// The Go example client works against a server in sandbox mode, as the README says.
func TestGoExampleClient(t *testing.T) {
	ts := startServer(t, nil, sandboxEnv())
	out, err := exec.Command("go", "run", "../examples/goclient", "-url", ts.URL).CombinedOutput()
	if err != nil {
		t.Fatalf("example failed: %v\n%s", err, out)
	}
	for _, want := range []string{"health: healthy (zoom: sandbox)", "start ok: ZAK for host@example.com", "join ok: OBF for participant@example.com", "batch-join ok: 3 of 3 minted, 0 failed"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("example output lacks %q:\n%s", want, out)
		}
	}
	ts.assertNoSecretsLogged()
}

// The server writes nothing to disk while serving, and no token reaches its
// output even with every debug switch on: run the real binary in empty
// directories, drive it over REST and a socket, then look.
func TestServerProcessWritesNoFilesAndLeaksNoTokens(t *testing.T) {
	if _, err := os.Stat("/proc/self/fdinfo"); err != nil {
		t.Skip("needs /proc")
	}
	bin := serverBinary(t) // built once per test run (procs_helpers_test.go)
	work, home, tmp := t.TempDir(), t.TempDir(), t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Dir = work
	cmd.Env = []string{"PORT=0", "HOST=127.0.0.1", "HOME=" + home, "TMPDIR=" + tmp, "PATH=" + os.Getenv("PATH"),
		"LOG_LEVEL=debug", "DEBUG=*"}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addrRe := regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)
	sc := bufio.NewScanner(stdout)
	var url string
	for sc.Scan() {
		if m := addrRe.FindStringSubmatch(sc.Text()); m != nil {
			url = "http://" + m[1]
			break
		}
	}
	if url == "" {
		t.Fatal("the server never logged its address")
	}
	output := &syncBuffer{}
	go func() {
		for sc.Scan() {
			output.Write(append(sc.Bytes(), '\n'))
		}
	}()
	for i := 0; i < 3; i++ {
		if out, err := exec.Command("go", "run", "../examples/goclient", "-url", url).CombinedOutput(); err != nil {
			t.Fatalf("example client: %v\n%s", err, out)
		}
	}
	// A token over REST and one pushed over a socket, both recorded.
	ts := &testServer{t: t, URL: url, client: http.DefaultClient}
	caller := ts.do("POST", "/sandbox/tokens", map[string]any{"sub": "pat@example.com"}, nil)
	jwt := str(caller.Body["token"])
	sock, ok, _ := connectSocket(t, url, map[string]any{"token": jwt}, nil)
	if !ok {
		t.Fatal("socket refused")
	}
	sock.waitEvent("authenticated", 5*time.Second)
	j := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "pat@example.com"},
		map[string]string{"Authorization": "Bearer " + jwt})
	pushed, got := sock.waitEvent("meeting:credentials", 5*time.Second)
	if j.Status != 200 || !got {
		t.Fatalf("join %d, push %v", j.Status, got)
	}
	time.Sleep(200 * time.Millisecond)
	for _, secret := range []string{jwt, str(j.Body["obfToken"]), str(pushed["obfToken"])} {
		if len(secret) < 20 || strings.Contains(output.String(), secret) || strings.Contains(stderr.String(), secret) {
			t.Fatalf("a token (%d chars) is in the server's output, or no token was had", len(secret))
		}
	}

	pid := strconv.Itoa(cmd.Process.Pid)
	// No file is open for writing.
	fds, err := os.ReadDir("/proc/" + pid + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		target, err := os.Readlink("/proc/" + pid + "/fd/" + fd.Name())
		if err != nil || !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "/dev/") || strings.HasPrefix(target, "/proc/") {
			continue // sockets, pipes, devices
		}
		info, _ := os.ReadFile("/proc/" + pid + "/fdinfo/" + fd.Name())
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				flags, _ := strconv.ParseInt(strings.TrimSpace(v), 8, 64)
				if flags&3 != 0 {
					t.Errorf("file %s is open for writing", target)
				}
			}
		}
	}
	// Nothing appeared in its working, home or temporary directory.
	for _, dir := range []string{work, home, tmp} {
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			t.Errorf("the server wrote %d entries into %s", len(entries), dir)
		}
	}
	// The kernel saw no write to storage from it.
	if io, err := os.ReadFile("/proc/" + pid + "/io"); err == nil {
		for _, line := range strings.Split(string(io), "\n") {
			if v, ok := strings.CutPrefix(line, "write_bytes: "); ok && strings.TrimSpace(v) != "0" {
				t.Errorf("the server caused %s bytes of storage writes", v)
			}
		}
	}
}
