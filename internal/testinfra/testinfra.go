// Package testinfra starts real servers for tests: a redis-server and a
// PostgreSQL, each on a free loopback port in a temporary directory, and
// stops them when the test ends. It is imported by tests only.
//
// The servers come from the machine's packages (Debian's redis-server and
// postgresql; .ci/run installs them). When a binary is missing the test is
// skipped with the command that installs it, except in CI (CI set), where a
// missing binary fails the test: CI must run these tests.
//
// PostgreSQL refuses to run as root, which CI is: as root, the database
// runs as the unprivileged user nobody (uid and gid 65534), in a directory
// made for it and handed to that user.
package testinfra

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long a server may take to accept connections.
const startTimeout = 60 * time.Second

// missing skips t (or fails it in CI) because what is not installed.
func missing(t testing.TB, what, install string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; CI must install it (.ci/run: %s)", what, install)
	}
	t.Skipf("%s is not installed (%s); CI runs this test", what, install)
}

// freePort asks the kernel for a free loopback TCP port. Another process
// may take it before the server binds it; starters retry on that.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logBuffer keeps the last part of a server's output, for a failure message.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	if l.b.Len() > 64<<10 {
		rest := l.b.Bytes()[l.b.Len()-32<<10:]
		l.b = *bytes.NewBuffer(append([]byte(nil), rest...))
	}
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// proc is a server process this package started.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done closes
	out  *logBuffer
}

func startProc(cmd *exec.Cmd) (*proc, error) {
	p := &proc{cmd: cmd, done: make(chan struct{}), out: &logBuffer{}}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// Should the test binary die without its cleanups, take the server along.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the server to shut down with sig, and kills it if it has not
// within a while.
func (p *proc) stop(sig syscall.Signal) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// waitReady polls ready until it succeeds, the process exits, or time runs out.
func waitReady(p *proc, ready func(context.Context) error) error {
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("exited (%v)", p.err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		last = ready(ctx)
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %v", startTimeout, last)
}

// pingTCP sends an inline command and reads one line of answer.
func pingTCP(ctx context.Context, addr, cmd, want string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 256)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if got := string(buf[:n]); !strings.HasPrefix(got, want) {
		return fmt.Errorf("answered %q", strings.TrimSpace(got))
	}
	return nil
}

// Redis is a redis-server started for a test.
type Redis struct {
	t        testing.TB
	password string // requirepass; "" for none
	bin      string
	dir      string
	port     int
	mu       sync.Mutex
	p        *proc
}

// StartRedis starts a redis-server (version 7 or later: sharded pub/sub)
// on a free loopback port, with no persistence, in a temporary directory;
// it is stopped when t ends.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	return StartRedisWithPassword(t, "")
}

// StartRedisWithPassword is StartRedis with a server that requires
// password (requirepass); URL carries it.
func StartRedisWithPassword(t testing.TB, password string) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		missing(t, "redis-server", "apt-get install redis-server")
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("redis-server --version: %v", err)
	}
	if major := redisMajor(string(out)); major < 7 {
		t.Fatalf("redis-server is version %d; the sharded adapter needs 7 or later: %s", major, out)
	}
	r := &Redis{t: t, password: password, bin: bin, dir: t.TempDir()}
	t.Cleanup(r.Stop)
	for attempt := 0; ; attempt++ {
		if r.port, err = freePort(); err != nil {
			t.Fatal(err)
		}
		err = r.start()
		if err == nil {
			return r
		}
		if attempt == 2 {
			t.Fatalf("redis-server did not start: %v", err)
		}
	}
}

// redisMajor reads the major version out of redis-server --version
// ("Redis server v=7.0.15 sha=…").
func redisMajor(s string) int {
	_, v, ok := strings.Cut(s, "v=")
	if !ok {
		return 0
	}
	major, _, _ := strings.Cut(v, ".")
	n, _ := strconv.Atoi(major)
	return n
}

func (r *Redis) start() error {
	cmd := exec.Command(r.bin,
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "yes", "--loglevel", "warning")
	if r.password != "" {
		cmd.Args = append(cmd.Args, "--requirepass", r.password)
	}
	p, err := startProc(cmd)
	if err != nil {
		return err
	}
	// Without the password a server that wants one answers -NOAUTH: up.
	want := "+PONG"
	if r.password != "" {
		want = "-NOAUTH"
	}
	if err := waitReady(p, func(ctx context.Context) error { return pingTCP(ctx, r.Addr(), "PING", want) }); err != nil {
		p.stop(syscall.SIGKILL)
		return fmt.Errorf("%w\n%s", err, p.out.String())
	}
	r.mu.Lock()
	r.p = p
	r.mu.Unlock()
	return nil
}

// Addr is host:port.
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// URL is the redis:// URL of the server.
func (r *Redis) URL() string {
	if r.password != "" {
		return "redis://:" + r.password + "@" + r.Addr() + "/0"
	}
	return "redis://" + r.Addr() + "/0"
}

// Stop shuts the server down (its data is lost); Restart brings it back on
// the same port. Stopping a stopped server does nothing.
func (r *Redis) Stop() {
	r.mu.Lock()
	p := r.p
	r.p = nil
	r.mu.Unlock()
	if p != nil {
		p.stop(syscall.SIGTERM)
	}
}

// Freeze stops the server's process where it is (SIGSTOP): its
// connections stay open and nothing answers, as a Redis that hangs. Thaw
// lets it go on (SIGCONT).
func (r *Redis) Freeze() { r.signal(syscall.SIGSTOP) }

// Thaw undoes Freeze.
func (r *Redis) Thaw() { r.signal(syscall.SIGCONT) }

func (r *Redis) signal(sig syscall.Signal) {
	r.t.Helper()
	r.mu.Lock()
	p := r.p
	r.mu.Unlock()
	if p == nil || p.exited() {
		r.t.Fatalf("redis-server on port %d is not running", r.port)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		r.t.Fatalf("signal redis-server: %v", err)
	}
}

// Restart starts a stopped server again on its port.
func (r *Redis) Restart() {
	r.t.Helper()
	r.Stop()
	if err := r.start(); err != nil {
		r.t.Fatalf("redis-server did not restart on port %d: %v", r.port, err)
	}
}

// Postgres is a PostgreSQL server started for a test.
type Postgres struct {
	t    testing.TB
	bin  string // the directory of initdb and postgres
	dir  string // owns data/; removed at the end
	port int
	cred *syscall.Credential // nil: run as this process's user
	mu   sync.Mutex
	p    *proc
	dbs  int
}

// PostgresBinDir finds the directory holding initdb and postgres: Debian
// keeps them in /usr/lib/postgresql/VERSION/bin (the newest is taken), other
// systems on PATH. Empty when none is installed.
func PostgresBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if isExec(filepath.Join(d, "postgres")) {
			return d
		}
	}
	return ""
}

func pgVersion(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// SharedPostgres is one PostgreSQL server for a whole test binary, started
// by the first test that asks for a database; each test gets a database of
// its own. The package's TestMain calls Close once its tests have run.
type SharedPostgres struct {
	once sync.Once
	pg   *Postgres
	err  error
}

// NewDatabase answers the URL of a new, empty database on the shared
// server, starting it first if no test has yet. Without PostgreSQL
// installed t is skipped (failed in CI).
func (s *SharedPostgres) NewDatabase(t testing.TB) string {
	t.Helper()
	s.once.Do(func() { s.pg, s.err = NewPostgres() })
	if errors.Is(s.err, ErrNotInstalled) {
		missing(t, "PostgreSQL (initdb, postgres)", "apt-get install postgresql")
	}
	if s.err != nil {
		t.Fatalf("start PostgreSQL: %v", s.err)
	}
	return s.pg.NewDatabase(t)
}

// Close stops the shared server and removes its files, if it was started.
func (s *SharedPostgres) Close() {
	if s.pg != nil {
		s.pg.Close()
	}
}

// nobody is the unprivileged user PostgreSQL runs as when the tests run as root.
const nobody = 65534

// StartPostgres initialises a database cluster in a temporary directory and
// starts PostgreSQL on a free loopback port (TCP only, trust authentication
// for the superuser postgres, durability off: it is a test database); it is
// stopped and removed when t ends. As root it runs as nobody.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	pg, err := NewPostgres()
	if errors.Is(err, ErrNotInstalled) {
		missing(t, "PostgreSQL (initdb, postgres)", "apt-get install postgresql")
	}
	if err != nil {
		t.Fatal(err)
	}
	pg.t = t
	t.Cleanup(pg.Close)
	return pg
}

// ErrNotInstalled: the server's binaries are not on this machine.
var ErrNotInstalled = errors.New("not installed")

// NewPostgres is StartPostgres for a TestMain, where there is no t: the
// caller must Close it.
func NewPostgres() (*Postgres, error) {
	bin := PostgresBinDir()
	if bin == "" {
		return nil, fmt.Errorf("PostgreSQL: %w", ErrNotInstalled)
	}
	dir, err := os.MkdirTemp("", "testinfra-pg-")
	if err != nil {
		return nil, err
	}
	pg := &Postgres{bin: bin, dir: dir}
	if os.Geteuid() == 0 {
		// The directory must belong to the user the server runs as, and
		// its parent (the temporary directory) must let that user through.
		if err := os.Chown(dir, nobody, nobody); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		pg.cred = &syscall.Credential{Uid: nobody, Gid: nobody, NoSetGroups: true}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", pg.dataDir(), "-U", "postgres",
		"--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C", "--no-instructions")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	for attempt := 0; ; attempt++ {
		if pg.port, err = freePort(); err != nil {
			pg.Close()
			return nil, err
		}
		if err = pg.start(); err == nil {
			return pg, nil
		}
		if attempt == 2 {
			pg.Close()
			return nil, fmt.Errorf("postgres did not start: %w", err)
		}
	}
}

func (pg *Postgres) dataDir() string { return filepath.Join(pg.dir, "data") }

func (pg *Postgres) start() error {
	cmd := exec.Command(filepath.Join(pg.bin, "postgres"), "-D", pg.dataDir(),
		"-p", strconv.Itoa(pg.port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "shared_buffers=32MB")
	cmd.Dir = pg.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	p, err := startProc(cmd)
	if err != nil {
		return err
	}
	// The startup packet of the protocol: a server that answers it with
	// anything is accepting connections; while starting it says so in an
	// error (SQLSTATE 57P03), which the check treats as not ready.
	if err := waitReady(p, func(ctx context.Context) error { return pgReady(ctx, pg.Addr()) }); err != nil {
		p.stop(syscall.SIGKILL)
		return fmt.Errorf("%w\n%s", err, p.out.String())
	}
	pg.mu.Lock()
	pg.p = p
	pg.mu.Unlock()
	return nil
}

// Addr is host:port.
func (pg *Postgres) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(pg.port)) }

// URL is the postgres:// URL of database db on the server.
func (pg *Postgres) URL(db string) string {
	return "postgres://postgres@" + pg.Addr() + "/" + db + "?sslmode=disable"
}

// NewDatabase creates an empty database of its own for one test and
// answers its URL.
func (pg *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	pg.mu.Lock()
	pg.dbs++
	name := fmt.Sprintf("test_%d", pg.dbs)
	pg.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pgExec(ctx, pg.Addr(), "postgres", "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	return pg.URL(name)
}

// Stop shuts the server down (fast shutdown: sessions are ended), keeping
// its data; Restart brings it back on the same port.
func (pg *Postgres) Stop() {
	pg.mu.Lock()
	p := pg.p
	pg.p = nil
	pg.mu.Unlock()
	if p != nil {
		p.stop(syscall.SIGINT)
	}
}

// Restart starts a stopped server again on its port, with its data.
func (pg *Postgres) Restart() error {
	pg.Stop()
	return pg.start()
}

// Close stops the server and removes its directory.
func (pg *Postgres) Close() {
	pg.Stop()
	os.RemoveAll(pg.dir)
}
