package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/zoomtoken/tokenserver/internal/testinfra"
)

// One PostgreSQL serves the package's tests, started by the first test that
// needs it; each test gets a database of its own.
var sharedPG testinfra.SharedPostgres

func TestMain(m *testing.M) {
	code := m.Run()
	sharedPG.Close()
	os.Exit(code)
}

// newPostgresDB answers the URL of a new, empty database.
func newPostgresDB(t *testing.T) string {
	t.Helper()
	return sharedPG.NewDatabase(t)
}

func openPostgres(t *testing.T, url string, now func() time.Time) *PostgresStore {
	t.Helper()
	s, err := OpenPostgres(context.Background(), url, now)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Opening an up-to-date database changes nothing: instances restart, and
// start together, against one database.
func TestPostgresMigrationsIdempotent(t *testing.T) {
	ctx := context.Background()
	k := GenerateKeyring()
	url := newPostgresDB(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			s, err := OpenPostgres(ctx, url, fixedClock())
			if err != nil {
				t.Errorf("open %d: %v", i, err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	a := openPostgres(t, url, fixedClock())
	v, err := a.Put(ctx, connected(t, k, "alice", "rt-1"))
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	for range 2 {
		s := openPostgres(t, url, fixedClock())
		if n, err := s.SchemaVersion(ctx); err != nil || n != len(pgMigrations) {
			t.Fatalf("schema version %d, %v", n, err)
		}
		got, err := s.Get(ctx, "alice")
		if err != nil || got.Version != v {
			t.Fatalf("row after reopening: %v, %v", got, err)
		}
		if v2, err := s.Put(ctx, connected(t, k, "bob", "rt-b")); err != nil || v2 <= v {
			t.Fatalf("the version sequence restarted: v%d after v%d, %v", v2, v, err)
		}
		s.Close()
	}
}

func TestPostgresRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	url := newPostgresDB(t)
	s := openPostgres(t, url, fixedClock())
	if _, err := s.pool.Exec(ctx, `UPDATE connections_schema SET version = 99`); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPostgres(ctx, url, fixedClock()); err == nil || !strings.Contains(err.Error(), "schema version 99") {
		t.Fatalf("opened a newer schema: %v", err)
	}
}

// The database holds the refresh token sealed only.
func TestPostgresHoldsNoPlaintext(t *testing.T) {
	ctx := context.Background()
	k := GenerateKeyring()
	s := openPostgres(t, newPostgresDB(t), fixedClock())
	const tok = "rt-plaintext-must-not-be-stored-0123456789"
	if _, err := s.Put(ctx, connected(t, k, "alice", tok)); err != nil {
		t.Fatal(err)
	}
	var row string
	if err := s.pool.QueryRow(ctx, `SELECT c::text FROM connections c`).Scan(&row); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(row, tok) || strings.Contains(row, fmt.Sprintf("%x", tok)) {
		t.Fatalf("the row holds the token in the clear: %s", row)
	}
	if !strings.Contains(row, "alice") {
		t.Fatalf("read the wrong row: %s", row)
	}
}

// Two stores on one database stand for two instances: of many claims at
// once, one wins; the rest learn it (conflict or leased).
func TestPostgresTwoStoresClaimRaceOneWinner(t *testing.T) {
	ctx := context.Background()
	k := GenerateKeyring()
	url := newPostgresDB(t)
	a, b := openPostgres(t, url, fixedClock()), openPostgres(t, url, fixedClock())
	v, err := a.Put(ctx, connected(t, k, "alice", "rt-0"))
	if err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		wins, errs := raceClaim([]Store{a, b}, "alice", v, t0.Add(time.Minute), 40)
		if wins != 1 {
			t.Fatalf("round %d: %d claims won, want 1", round, wins)
		}
		for _, err := range errs {
			if !errors.Is(err, ErrConflict) && !errors.Is(err, ErrLeased) {
				t.Fatalf("round %d: a loser got %v", round, err)
			}
		}
		got, _ := b.Get(ctx, "alice")
		v, err = b.SwapRefresh(ctx, "alice", got.Version, sealFor(t, k, "alice", fmt.Sprintf("rt-%d", round+1)), t0)
		if err != nil {
			t.Fatalf("round %d: swap by the winner: %v", round, err)
		}
	}
}

func TestPostgresTwoStoresSwapRaceOneWinner(t *testing.T) {
	k := GenerateKeyring()
	url := newPostgresDB(t)
	a, b := openPostgres(t, url, fixedClock()), openPostgres(t, url, fixedClock())
	v, err := a.Put(context.Background(), connected(t, k, "alice", "rt-0"))
	if err != nil {
		t.Fatal(err)
	}
	wins, errs := raceSwap(t, []Store{a, b}, k, "alice", v, 50)
	checkOneWinner(t, wins, errs, 50)
}

const pgWorkerEnv = "CONNECTIONS_TEST_PG_WORKER"

// TestPostgresTwoProcessesSpendEachTokenOnce starts two processes (this test
// binary again, running TestPostgresRefreshWorker) that refresh one
// connection in a shared database at once, as two instances do: each claims
// the token, "spends" it, and stores the next. No token may be spent twice,
// and the chain must be unbroken.
func TestPostgresTwoProcessesSpendEachTokenOnce(t *testing.T) {
	if os.Getenv(pgWorkerEnv) != "" {
		t.Skip("in a worker")
	}
	ctx := context.Background()
	url := newPostgresDB(t)
	k := mustKeyring(t, "k1:"+keyB64(1))
	s := openPostgres(t, url, time.Now)
	if _, err := s.Put(ctx, connected(t, k, "alice", "rt-initial")); err != nil {
		t.Fatal(err)
	}
	const procs, refreshes = 2, 30
	outs := make([]bytes.Buffer, procs)
	cmds := make([]*exec.Cmd, procs)
	for i := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPostgresRefreshWorker$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%d|p%d", pgWorkerEnv, url, refreshes, i))
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	spent := map[string]string{}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("worker %d: %v\n%s", i, err, outs[i].String())
		}
		n := 0
		for line := range strings.Lines(outs[i].String()) {
			if strings.HasPrefix(line, "WAITS ") {
				t.Logf("worker %d: %s", i, strings.TrimSpace(line))
			}
			tok, ok := strings.CutPrefix(strings.TrimSpace(line), "SPENT ")
			if !ok {
				continue
			}
			if other, dup := spent[tok]; dup {
				t.Fatalf("token %s spent by worker %s and worker p%d", tok, other, i)
			}
			spent[tok] = fmt.Sprintf("p%d", i)
			n++
		}
		if n != refreshes {
			t.Fatalf("worker %d reported %d refreshes, want %d\n%s", i, n, refreshes, outs[i].String())
		}
	}
	c, err := s.Get(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	last, err := k.Open("alice", c.Refresh)
	if err != nil {
		t.Fatal(err)
	}
	if _, dup := spent[last.Reveal()]; dup {
		t.Fatal("the stored token was already spent")
	}
	if _, ok := spent["rt-initial"]; !ok {
		t.Fatal("the initial token was never spent")
	}
}

// TestPostgresRefreshWorker is the child of the test above; it does
// nothing unless started by it.
func TestPostgresRefreshWorker(t *testing.T) {
	arg := os.Getenv(pgWorkerEnv)
	if arg == "" {
		t.Skip("started only by TestPostgresTwoProcessesSpendEachTokenOnce")
	}
	parts := strings.Split(arg, "|")
	url, name := parts[0], parts[2]
	var refreshes int
	fmt.Sscan(parts[1], &refreshes)
	ctx := context.Background()
	k := mustKeyring(t, "k1:"+keyB64(1))
	s := openPostgres(t, url, time.Now)
	waits := 0
	defer func() { fmt.Printf("WAITS %d\n", waits) }()
	for i := 0; i < refreshes; {
		c, err := s.Get(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		claimed, err := s.Claim(ctx, "alice", c.Version, time.Now().Add(time.Minute))
		if errors.Is(err, ErrConflict) || errors.Is(err, ErrLeased) {
			waits++
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		old, err := k.Open("alice", c.Refresh)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("SPENT %s\n", old.Reveal())
		fresh := sealFor(t, k, "alice", fmt.Sprintf("rt-%s-%d", name, i))
		if _, err := s.SwapRefresh(ctx, "alice", claimed, fresh, time.Now()); err != nil {
			t.Fatalf("swap after a claim: %v", err)
		}
		i++
	}
}

// A database that stops answering fails each operation at once with
// ErrUnavailable (no hang), and the store works again when it is back.
func TestPostgresDownIsUnavailable(t *testing.T) {
	ctx := context.Background()
	k := GenerateKeyring()
	pg := testinfra.StartPostgres(t)
	s := openPostgres(t, pg.NewDatabase(t), fixedClock())
	v, err := s.Put(ctx, connected(t, k, "alice", "rt-1"))
	if err != nil {
		t.Fatal(err)
	}
	pg.Stop()
	ops := map[string]func() error{
		"get":   func() error { _, err := s.Get(ctx, "alice"); return err },
		"list":  func() error { _, err := s.List(ctx); return err },
		"find":  func() error { _, err := s.FindByUser(ctx, "alice"); return err },
		"claim": func() error { _, err := s.Claim(ctx, "alice", v, t0.Add(time.Minute)); return err },
		"put":   func() error { _, err := s.Put(ctx, connected(t, k, "bob", "rt-b")); return err },
		"ping":  func() error { return s.Ping(ctx) },
	}
	for name, op := range ops {
		if err := op(); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s with the database down: %v, want ErrUnavailable", name, err)
		}
	}
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	// The pool drops the dead connections and dials again.
	var got Connection
	for range 3 {
		if got, err = s.Get(ctx, "alice"); err == nil {
			break
		}
	}
	if err != nil || got.Version != v {
		t.Fatalf("after the database came back: %v, %v", got, err)
	}
}

// A password in DATABASE_URL never reaches an error.
func TestPostgresErrorsHideThePassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A port nothing listens on (testinfra's servers bind random ones).
	url := "postgres://tokenserver:hunter22secret@127.0.0.1:1/connections?sslmode=disable&connect_timeout=2"
	_, err := OpenPostgres(ctx, url, fixedClock())
	if err == nil {
		t.Fatal("opened a database that is not there")
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("unreachable database: %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "hunter22secret") {
		t.Fatalf("the error shows the password: %v", err)
	}
	_, err = Open(ctx, "postgres://u:hunter22secret@db:port/x", fixedClock())
	if err == nil || strings.Contains(err.Error(), "hunter22secret") {
		t.Fatalf("malformed URL: %v", err)
	}
}

// Two stores' claims are served one after the other by the row lock: the
// loser of a claim race never observes the token unleased while the winner
// holds it. Checked by counting holders at every moment.
func TestPostgresClaimChainAcrossStores(t *testing.T) {
	ctx := context.Background()
	k := GenerateKeyring()
	url := newPostgresDB(t)
	stores := []Store{openPostgres(t, url, fixedClock()), openPostgres(t, url, fixedClock())}
	if _, err := stores[0].Put(ctx, connected(t, k, "alice", "rt-0")); err != nil {
		t.Fatal(err)
	}
	const workers, each = 6, 6
	var (
		holders, maxHolders atomic.Int64
		next                atomic.Int64
		wg                  sync.WaitGroup
	)
	for w := range workers {
		s := stores[w%2]
		wg.Go(func() {
			for done := 0; done < each; {
				c, err := s.Get(ctx, "alice")
				if err != nil {
					t.Error(err)
					return
				}
				claimed, err := s.Claim(ctx, "alice", c.Version, t0.Add(time.Hour))
				if errors.Is(err, ErrConflict) || errors.Is(err, ErrLeased) {
					time.Sleep(time.Millisecond)
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				h := holders.Add(1)
				for m := maxHolders.Load(); h > m && !maxHolders.CompareAndSwap(m, h); m = maxHolders.Load() {
				}
				fresh := sealFor(t, k, "alice", fmt.Sprintf("rt-%d", next.Add(1)))
				holders.Add(-1)
				if _, err := s.SwapRefresh(ctx, "alice", claimed, fresh, t0); err != nil {
					t.Errorf("swap after a claim: %v", err)
					return
				}
				done++
			}
		})
	}
	wg.Wait()
	if maxHolders.Load() != 1 {
		t.Fatalf("%d refreshers held the token at once", maxHolders.Load())
	}
}

// A row locked by a session that never finishes (an instance frozen between
// BEGIN and COMMIT) does not turn a claim into "database unavailable": the
// claim gives up on the lock after pgClaimLockTimeout and answers leased, so
// the refresher waits and reads again.
func TestPostgresClaimOnALockedRowIsLeased(t *testing.T) {
	ctx := context.Background()
	k := GenerateKeyring()
	url := newPostgresDB(t)
	s := openPostgres(t, url, fixedClock())
	v, err := s.Put(ctx, connected(t, k, "alice", "rt-1"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM connections WHERE sub = 'alice' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	_, err = s.Claim(ctx, "alice", v, t0.Add(time.Minute))
	if !errors.Is(err, ErrLeased) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("claim on a row another session holds locked: %v, want ErrLeased", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, "alice", v, t0.Add(time.Minute)); err != nil {
		t.Fatalf("claim once the lock is released: %v", err)
	}
}

// The store's sessions carry idle_in_transaction_session_timeout: the server
// ends one left idle inside a transaction holding a row lock, and the lock
// goes with it, so a claim on that row succeeds again by itself.
func TestPostgresIdleTransactionIsEnded(t *testing.T) {
	ctx := context.Background()
	k := GenerateKeyring()
	s := openPostgres(t, newPostgresDB(t), fixedClock())
	var setting string
	if err := s.pool.QueryRow(ctx, `SHOW idle_in_transaction_session_timeout`).Scan(&setting); err != nil {
		t.Fatal(err)
	}
	if setting != "5s" {
		t.Fatalf("idle_in_transaction_session_timeout = %q, want 5s", setting)
	}
	v, err := s.Put(ctx, connected(t, k, "alice", "rt-1"))
	if err != nil {
		t.Fatal(err)
	}
	// A session of the store's pool that locks the row and then goes quiet,
	// as an instance that froze mid-transaction.
	frozen, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := frozen.Exec(ctx, `SELECT 1 FROM connections WHERE sub = 'alice' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := s.Claim(ctx, "alice", v, t0.Add(time.Minute))
		if err == nil {
			break
		}
		if !errors.Is(err, ErrLeased) {
			t.Fatalf("claim while the frozen session holds the row: %v, want ErrLeased", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the server never ended the session idle in its transaction")
		}
	}
	if _, err := frozen.Exec(ctx, `SELECT 1`); err == nil {
		t.Fatal("the frozen session's transaction still works after its lock was taken")
	}
	_ = frozen.Rollback(ctx)
}
