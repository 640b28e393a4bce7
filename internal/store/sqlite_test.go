package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestSQLiteMigrationsIdempotent(t *testing.T) {
	ctx := context.Background()
	k := GenerateKeyring()
	path := filepath.Join(t.TempDir(), "m.db")
	s1 := openSQLite(t, path)
	v, err := s1.Put(ctx, connected(t, k, "alice", "rt-1"))
	if err != nil {
		t.Fatal(err)
	}
	s1.Close()

	// Opening again (and several at once, as processes starting together
	// would) finds the schema current, keeps the data and the counter.
	var wg sync.WaitGroup
	stores := make([]*SQLiteStore, 4)
	for i := range stores {
		wg.Go(func() {
			s, err := OpenSQLite(ctx, path, fixedClock())
			if err != nil {
				t.Errorf("reopen %d: %v", i, err)
				return
			}
			stores[i] = s
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, s := range stores {
		defer s.Close()
		n, err := s.SchemaVersion(ctx)
		if err != nil || n != len(migrations) {
			t.Fatalf("schema version %d, %v; want %d", n, err, len(migrations))
		}
	}
	got, err := stores[0].Get(ctx, "alice")
	if err != nil || got.Version != v {
		t.Fatalf("after reopen: %v, %v", got, err)
	}
	v2, _ := stores[1].Put(ctx, connected(t, k, "bob", "rt-b"))
	if v2 <= v {
		t.Fatalf("version counter restarted: %d after %d", v2, v)
	}
	var rows int
	if err := stores[0].db.QueryRowContext(ctx, `SELECT count(*) FROM schema_version`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("schema_version has %d rows, %v", rows, err)
	}
	if err := stores[0].db.QueryRowContext(ctx, `SELECT count(*) FROM version_seq`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("version_seq has %d rows, %v", rows, err)
	}
}

func TestSQLiteRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	s := openSQLite(t, path)
	if _, err := s.db.ExecContext(ctx, `UPDATE schema_version SET version = 99`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := OpenSQLite(ctx, path, fixedClock())
	if err == nil || !strings.Contains(err.Error(), "schema version 99") {
		t.Fatalf("newer schema: %v", err)
	}
}

func TestSQLiteFileSettings(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x", "y", "conn.db")
	s := openSQLite(t, path)
	if _, err := s.Put(ctx, connected(t, GenerateKeyring(), "alice", "rt")); err != nil {
		t.Fatal(err)
	}
	var mode string
	var busy int
	if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v", mode, err)
	}
	if err := s.db.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy); err != nil || busy < 1000 {
		t.Fatalf("busy_timeout = %d, %v", busy, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s is readable by others: %v", filepath.Base(p), perm)
		}
	}
}

// TestSQLiteFileHoldsNoPlaintext writes tokens through every write path and
// searches the database file, its WAL and its shared-memory file for them,
// while the store is open (the WAL holds recent pages) and after it closes.
func TestSQLiteFileHoldsNoPlaintext(t *testing.T) {
	ctx := context.Background()
	k := mustKeyring(t, "k1:"+keyB64(1))
	path := filepath.Join(t.TempDir(), "conn.db")
	s := openSQLite(t, path)
	var tokens []string
	newTok := func() string {
		tok := fmt.Sprintf("rt-plaintext-marker-%03d-zoom-refresh", len(tokens))
		tokens = append(tokens, tok)
		return tok
	}
	for _, sub := range []string{"alice", "bob", "carol"} {
		v, err := s.Put(ctx, connected(t, k, sub, newTok()))
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			if v, err = s.SwapRefresh(ctx, sub, v, sealFor(t, k, sub, newTok()), t0); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := s.MarkDisconnected(ctx, "carol", AnyVersion, "invalid_grant", t0); err != nil {
		t.Fatal(err)
	}

	// The tokens are there, sealed: the file is not simply empty.
	c, _ := s.Get(ctx, "bob")
	if tok, err := k.Open("bob", c.Refresh); err != nil || tok.Reveal() != tokens[11] {
		t.Fatalf("bob's last token does not open: %v", err)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Fatalf("no WAL file while open: %v", err)
	}
	grepFiles(t, path, tokens, c.Refresh.Ciphertext)
	s.Close()
	grepFiles(t, path, tokens, nil)
}

// grepFiles fails if any token, in any plain encoding, is in the database
// files. mustHave, when set, must be found: it proves the search sees the
// stored rows.
func grepFiles(t *testing.T, path string, tokens []string, mustHave []byte) {
	t.Helper()
	var all []byte
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if mustHave != nil && !bytes.Contains(all, mustHave) {
		t.Fatal("the search does not find the stored ciphertext: it proves nothing")
	}
	for _, tok := range tokens {
		for _, enc := range []string{tok, base64.StdEncoding.EncodeToString([]byte(tok)), hex.EncodeToString([]byte(tok))} {
			if bytes.Contains(all, []byte(enc)) {
				t.Fatalf("the database files hold a token in the clear (%d bytes searched)", len(all))
			}
		}
		// A distinctive middle part, in case of any framing.
		if bytes.Contains(all, []byte(tok[3:24])) {
			t.Fatal("the database files hold part of a token in the clear")
		}
	}
}

// TestSQLiteNullTimesAndEmptyScopes reads a row inserted with plain SQL,
// with the NULLs and empty values a disconnected row has, and checks the
// schema refuses an unknown status.
func TestSQLiteNullTimesAndEmptyScopes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "conn.db")
	s := openSQLite(t, path)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO connections VALUES
		('dan', 'zu', 'd@example.com', 'acc', 'disconnected', 'invalid_grant', '2026-03-01T12:00:00Z', NULL, NULL, '', '', X'', 7, '2026-03-01T12:00:00Z', 0)`); err != nil {
		t.Fatal(err)
	}
	c, err := s.Get(ctx, "dan")
	if err != nil {
		t.Fatal(err)
	}
	if c.Scopes != nil || !c.RefreshedAt.IsZero() || !c.DisconnectedAt.IsZero() || !c.Refresh.IsZero() || c.Version != 7 {
		t.Fatalf("%v scopes %v refreshed %v", c, c.Scopes, c.RefreshedAt)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO connections VALUES
		('eve', 'zu', 'e@example.com', 'acc', 'maybe', '', '2026-03-01T12:00:00Z', NULL, NULL, '', '', X'', 8, '2026-03-01T12:00:00Z', 0)`)
	if err == nil {
		t.Fatal("the schema accepted an unknown status")
	}
}

const workerEnv = "CONNECTIONS_TEST_REFRESH_WORKER"

// TestSQLiteTwoProcessesSpendEachTokenOnce starts two processes (this test
// binary again, running TestSQLiteRefreshWorker) that refresh one
// connection in a shared SQLite file concurrently. Each prints the tokens it
// spent; no token may be spent twice.
func TestSQLiteTwoProcessesSpendEachTokenOnce(t *testing.T) {
	if os.Getenv(workerEnv) != "" {
		t.Skip("in a worker")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	k := mustKeyring(t, "k1:"+keyB64(1))
	s := openSQLite(t, path)
	if _, err := s.Put(ctx, connected(t, k, "alice", "rt-initial")); err != nil {
		t.Fatal(err)
	}

	const procs, refreshes = 2, 40
	outs := make([]bytes.Buffer, procs)
	cmds := make([]*exec.Cmd, procs)
	for i := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSQLiteRefreshWorker$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%d|p%d", workerEnv, path, refreshes, i))
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
			if strings.HasPrefix(line, "CONFLICTS ") {
				t.Logf("worker %d: %s", i, strings.TrimSpace(line)) // how much the two overlapped
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
	// The chain is unbroken: the token now stored is the one nobody spent,
	// and every spent token but the first was stored by someone's swap.
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

// TestSQLiteRefreshWorker is the child of the test above; it does nothing
// unless started by it.
func TestSQLiteRefreshWorker(t *testing.T) {
	arg := os.Getenv(workerEnv)
	if arg == "" {
		t.Skip("started only by TestSQLiteTwoProcessesSpendEachTokenOnce")
	}
	parts := strings.Split(arg, "|")
	path, name := parts[0], parts[2]
	var refreshes int
	fmt.Sscan(parts[1], &refreshes)
	ctx := context.Background()
	k := mustKeyring(t, "k1:"+keyB64(1))
	s := openSQLite(t, path)
	conflicts := 0
	defer func() { fmt.Printf("CONFLICTS %d\n", conflicts) }()
	for i := 0; i < refreshes; {
		c, err := s.Get(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		old, err := k.Open("alice", c.Refresh)
		if err != nil {
			t.Fatal(err)
		}
		fresh := sealFor(t, k, "alice", fmt.Sprintf("rt-%s-%d", name, i))
		if _, err := s.SwapRefresh(ctx, "alice", c.Version, fresh, t0); errors.Is(err, ErrConflict) {
			conflicts++
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("SPENT %s\n", old.Reveal())
		i++
	}
}

// Processes starting together on a file that does not exist yet all open
// it; one creates the schema and the others find it made.
func TestSQLiteConcurrentFirstOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "new", "conn.db")
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			s, err := OpenSQLite(ctx, path, fixedClock())
			if err != nil {
				t.Errorf("open %d: %v", i, err)
				return
			}
			defer s.Close()
			if n, err := s.SchemaVersion(ctx); err != nil || n != len(migrations) {
				t.Errorf("open %d: schema version %d, %v", i, n, err)
			}
		})
	}
	wg.Wait()
}
