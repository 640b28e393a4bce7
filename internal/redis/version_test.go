package redis

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/testinfra"
)

func TestCheckRedisVersion(t *testing.T) {
	for _, v := range []string{"7.0.0", "7.0.15", "7.2.4", "7.4.1", "8.0.0", "10.1.2", "7.0"} {
		if err := checkRedisVersion(v); err != nil {
			t.Errorf("%s refused: %v", v, err)
		}
	}
	for _, c := range []struct{ v, want string }{
		{"6.2.14", "version 6.2.14; this server needs Redis 7.0 or later"},
		{"6.0.0", "version 6.0.0"},
		{"5.0.7", "version 5.0.7"},
		{"", `redis_version "", not a version number`},
		{"seven", `redis_version "seven", not a version number`},
		{"7", `redis_version "7", not a version number`},
		{"7.x.1", `redis_version "7.x.1"`},
		{"-1.0.0", "not a version number"},
		{strings.Repeat("9", 100), "not a version number"},
	} {
		err := checkRedisVersion(c.v)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "REDIS_URL") {
			t.Errorf("%q: %v, want an error naming REDIS_URL with %q", c.v, err, c.want)
		}
		if err != nil && len(err.Error()) > 300 {
			t.Errorf("%q: a %d-byte error", c.v, len(err.Error()))
		}
	}
}

func TestRedisVersionFromInfo(t *testing.T) {
	info := "# Server\r\nredis_build_id:abc\r\nredis_version:7.0.15\r\nredis_git_sha1:0\r\n"
	if v := redisVersion(info); v != "7.0.15" {
		t.Fatalf("redisVersion = %q", v)
	}
	if v := redisVersion("# Server\r\nos:Linux\r\n"); v != "" {
		t.Fatalf("no redis_version: %q", v)
	}
}

// The redis-server the tests start (7 or later) is accepted.
func TestOpenAcceptsTheTestRedis(t *testing.T) {
	srv := testinfra.StartRedis(t)
	r, _, logs := open(t, srv.URL())
	if r.State() != "ok" || strings.Contains(logs.String(), "needs Redis") {
		t.Fatalf("state %s; logs:\n%s", r.State(), logs)
	}
}

// oldRedis is a Redis 6.2 over TCP as far as go-redis can tell: it knows
// no HELLO, takes AUTH and SELECT, answers PING (with LOADING for the first loading pings) and
// INFO server.
type oldRedis struct {
	ln      net.Listener
	mu      sync.Mutex
	loading int // PINGs still answered LOADING
	infos   int
}

func startOldRedis(t *testing.T, loading int) *oldRedis {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &oldRedis{ln: ln, loading: loading}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go o.serve(c)
		}
	}()
	return o
}

func (o *oldRedis) infoCalls() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.infos
}

func (o *oldRedis) serve(c net.Conn) {
	defer c.Close()
	rd := bufio.NewReader(c)
	for {
		args, err := readCommand(rd)
		if err != nil {
			return
		}
		var reply string
		switch strings.ToUpper(args[0]) {
		case "PING":
			o.mu.Lock()
			if o.loading > 0 {
				o.loading--
				reply = "-LOADING Redis is loading the dataset in memory\r\n"
			} else {
				reply = "+PONG\r\n"
			}
			o.mu.Unlock()
		case "INFO":
			o.mu.Lock()
			o.infos++
			o.mu.Unlock()
			body := "# Server\r\nredis_version:6.2.14\r\nredis_mode:standalone\r\n"
			reply = fmt.Sprintf("$%d\r\n%s\r\n", len(body), body)
		case "AUTH", "SELECT":
			reply = "+OK\r\n"
		default:
			reply = fmt.Sprintf("-ERR unknown command '%s'\r\n", args[0])
		}
		if _, err := io.WriteString(c, reply); err != nil {
			return
		}
	}
}

// readCommand reads one RESP array of bulk strings.
func readCommand(rd *bufio.Reader) ([]string, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "*")))
	if err != nil || n < 1 || n > 64 {
		return nil, fmt.Errorf("bad command header %q", line)
	}
	args := make([]string, n)
	for i := range args {
		hdr, err := rd.ReadString('\n')
		if err != nil {
			return nil, err
		}
		size, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(hdr, "$")))
		if err != nil || size < 0 || size > 1<<16 {
			return nil, fmt.Errorf("bad bulk header %q", hdr)
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return nil, err
		}
		args[i] = string(buf[:size])
	}
	return args, nil
}

// A Redis older than 7.0 that answers at start stops the start, with an
// error that names REDIS_URL and both versions, and never the password.
func TestOpenRefusesRedisOlderThanSeven(t *testing.T) {
	o := startOldRedis(t, 0)
	r, err := Open(context.Background(), secret.New("redis://:hunter22-pass@"+o.ln.Addr().String()+"/0"), nil, nil)
	if err == nil {
		r.Close()
		t.Fatal("Redis 6.2.14 accepted")
	}
	for _, w := range []string{"REDIS_URL", "6.2.14", "7.0 or later"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "hunter22") {
		t.Fatalf("the password is in the error: %v", err)
	}
}

// A Redis that does not answer at start and turns out too old when it
// does: the instance stays degraded and says why, once.
func TestRedisTooOldAfterADegradedStart(t *testing.T) {
	o := startOldRedis(t, 1)
	st, logs := &testinfra.Backends{}, &logBuf{}
	r, err := Open(context.Background(), secret.New("redis://"+o.ln.Addr().String()), slog.New(slog.NewTextHandler(logs, nil)), st)
	if err != nil {
		t.Fatalf("a Redis loading at start stopped the start: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	testinfra.WaitFor(t, "the version checked at three probes", func() bool { return o.infoCalls() >= 3 })
	if r.State() != "degraded" {
		t.Fatalf("state with Redis 6.2.14: %s", r.State())
	}
	if up, _ := st.Last(); up {
		t.Fatal("the observer was told Redis is up")
	}
	if n := strings.Count(logs.String(), "6.2.14; this server needs Redis 7.0 or later"); n != 1 {
		t.Fatalf("the version refused logged %d times, want once:\n%s", n, logs)
	}
}
