package main

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/internal/testinfra"
)

// Server processes for the cluster tests (cluster_process_test.go): the
// real binary, built once per test run and removed by TestMain, started
// with an environment only (PORT fixed or 0, the address read from its
// log), stopped with SIGTERM at the test's end. Every instance of a
// procCluster is configured as a deployment would be: zoom mode against
// one sandbox (in the test process, on loopback), one redis-server,
// one PostgreSQL database for users' connections, webhooks accepted.

// built is the server binary of this test run, and the PostgreSQL server
// the process tests share (each test has a database of its own).
var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error

	pg testinfra.SharedPostgres
}

func TestMain(m *testing.M) {
	code := m.Run()
	built.pg.Close()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// serverBinary builds the server once per test run and answers its path.
func serverBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "tokenserver-test-bin-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "server")
		out, err := exec.Command("go", "build", "-o", built.bin, ".").CombinedOutput()
		if err != nil {
			built.err = errors.New(err.Error() + "\n" + string(out))
		}
	})
	if built.err != nil {
		t.Fatalf("build the server: %v", built.err)
	}
	return built.bin
}

// sharedPostgresDB answers a new database on the PostgreSQL server the
// process tests share, started by the first test that asks.
func sharedPostgresDB(t *testing.T) string {
	t.Helper()
	return built.pg.NewDatabase(t)
}

var listeningRe = regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)

// startProcess runs the server binary with env as its whole environment (and
// PATH), in an empty directory, and waits until it serves. Its output (both
// streams) is the testServer's Logs. At the test's end it is sent SIGTERM and
// must exit 0.
func startProcess(t *testing.T, sb *sandbox.Sandbox, env map[string]string) *testServer {
	t.Helper()
	bin := serverBinary(t)
	dir := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + dir}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// Should the test binary die without its cleanups, take the server along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logs := &syncBuffer{}
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	exited := make(chan struct{})
	done := make(chan error, 1) // for ts.stop, which stops the process before the test's end
	var waitErr error
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		found := false
		for sc.Scan() {
			line := sc.Bytes()
			_, _ = logs.Write(append(line, '\n'))
			if !found {
				if m := listeningRe.FindSubmatch(line); m != nil {
					found = true
					addr <- string(m[1])
				}
			}
		}
		waitErr = cmd.Wait()
		done <- waitErr
		close(exited)
	}()
	ts := &testServer{t: t, SB: sb, Logs: logs, done: done,
		cancel: func() { _ = cmd.Process.Signal(syscall.SIGTERM) },
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}}
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Signal(syscall.SIGTERM)
		}
		select {
		case <-exited:
			if waitErr != nil {
				t.Errorf("server process %d exited with %v; its last output:\n%s", cmd.Process.Pid, waitErr, tail(logs.String(), 3000))
			}
		case <-time.After(40 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("server process %d did not stop within 40 s of SIGTERM", cmd.Process.Pid)
		}
	})
	select {
	case a := <-addr:
		ts.URL = "http://" + a
	case <-exited:
		t.Fatalf("server process exited before listening (%v):\n%s", waitErr, logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("server process did not listen within 30 s:\n%s", logs)
	}
	waitUntil(t, "the server process answers /api/live", func() bool {
		resp, err := ts.client.Get(ts.URL + "/api/live")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return ts
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// procCluster is three server processes sharing a sandbox, a redis-server
// and a PostgreSQL database.
type procCluster struct {
	sb      *sandbox.Sandbox
	redis   *testinfra.Redis
	servers []*testServer
}

// procClusterConfig says what differs between the tests' clusters.
type procClusterConfig struct {
	sandbox       sandbox.Options
	zoomQPS       string // ZOOM_QPS, the account's budget shared by the three; "" = 10000
	redisPassword string // "" = none
}

// startProcCluster starts a sandbox, a redis-server, a database and three
// server processes in zoom mode, each with REDIS_URL, CLUSTER_SIZE=3, the
// database in DATABASE_URL (users' connections, through the sandbox's
// General app), webhooks signed with webhookSecret and SDK signing.
func startProcCluster(t *testing.T, cfg procClusterConfig) *procCluster {
	t.Helper()
	rs := testinfra.StartRedisWithPassword(t, cfg.redisPassword)
	db := sharedPostgresDB(t)
	sb := newSandbox(t, cfg.sandbox)
	qps := cfg.zoomQPS
	if qps == "" {
		qps = "10000"
	}
	key := newKey(t, "k1")
	sdkKey, sdkSecret := sb.SDKApp()
	cl := &procCluster{sb: sb, redis: rs}
	for range 3 {
		env := pgConnEnv(t, sb, db, key) // zoom mode, the General app, a fixed PORT for its redirect URL
		env["REDIS_URL"], env["CLUSTER_SIZE"], env["ZOOM_QPS"] = rs.URL(), "3", qps
		env["ZOOM_SDK_KEY"], env["ZOOM_SDK_SECRET"] = sdkKey, sdkSecret
		env["ZOOM_WEBHOOK_SECRETS"] = webhookSecret
		cl.servers = append(cl.servers, startProcess(t, sb, env))
	}
	return cl
}

// abc names the three instances.
func (cl *procCluster) abc() (a, b, c *testServer) {
	return cl.servers[0], cl.servers[1], cl.servers[2]
}

// assertNoSecretsLogged checks every instance's output.
func (cl *procCluster) assertNoSecretsLogged(extra ...string) {
	for _, ts := range cl.servers {
		ts.assertNoSecretsLogged(append([]string{pgPassword}, extra...)...)
	}
}

// childPID finds the process this test binary started (its parent is this
// process) whose command line holds needle (redis-server rewrites its own
// to "redis-server HOST:PORT"); the test fails when there is none.
func childPID(t *testing.T, needle string) int {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		stat, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so read after its ')'.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		if cmdline, _ := os.ReadFile(d + "/cmdline"); bytes.Contains(cmdline, []byte(needle)) {
			pid, _ := strconv.Atoi(filepath.Base(d))
			return pid
		}
	}
	t.Fatalf("no child process of this test with %q in its command line", needle)
	return 0
}
