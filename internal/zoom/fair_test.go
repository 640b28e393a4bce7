package zoom

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// queued waits until n waiters are queued for the turn.
func queued(t *testing.T, tr *turns, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tr.mu.Lock()
		got := 0
		for _, q := range tr.queues {
			got += len(q)
		}
		tr.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// The turn goes to the callers with items waiting in turn, whatever the
// number of items each queued: a caller with five waiting and one with two
// alternate, then the first goes on alone; a key that joins later is
// served in the next round, not after every item queued before it.
func TestTurnsAreRoundRobinPerCaller(t *testing.T) {
	var tr turns
	ctx := context.Background()
	first, _, err := tr.take(ctx, "x", -1, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 16)
	enqueue := func(key string, n int) {
		for range n {
			before := 0
			tr.mu.Lock()
			for _, q := range tr.queues {
				before += len(q)
			}
			tr.mu.Unlock()
			go func() {
				release, _, err := tr.take(ctx, key, -1, time.Millisecond)
				if err != nil {
					t.Error(err)
					return
				}
				order <- key
				release()
			}()
			queued(t, &tr, before+1) // one at a time: the queue's order is known
		}
	}
	enqueue("a", 5)
	enqueue("b", 2)
	enqueue("c", 1)
	first()
	var got []string
	for range 8 {
		select {
		case k := <-order:
			got = append(got, k)
		case <-time.After(10 * time.Second):
			t.Fatalf("stalled after %v", got)
		}
	}
	if want := "a b c a b a a a"; strings.Join(got, " ") != want {
		t.Fatalf("turns went %v, want %s", got, want)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		tr.mu.Lock()
		free := !tr.busy && len(tr.ring) == 0 && len(tr.queues) == 0
		tr.mu.Unlock()
		if free {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the turn is not free after the last item released it")
		}
		time.Sleep(time.Millisecond)
	}
}

// A turn that cannot come in time is refused at once (the estimate: the
// holder and the items ahead, round robin); one whose bound passes while it
// waits leaves the queue; a cancelled waiter too; neither stalls the others.
func TestTurnsKeepDeadlines(t *testing.T) {
	var tr turns
	ctx := context.Background()
	hold, _, err := tr.take(ctx, "a", -1, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The holder alone is ahead: 1 s > 500 ms.
	if _, late, err := tr.take(ctx, "b", 500*time.Millisecond, time.Second); !errors.Is(err, errTurnLate) || late != 500*time.Millisecond {
		t.Fatalf("refused at once: %v %v", late, err)
	}
	if len(tr.queues) != 0 {
		t.Fatal("a refused item was queued")
	}
	// Waits, then gives up when its bound passes.
	if _, _, err := tr.take(ctx, "b", 20*time.Millisecond, time.Millisecond); !errors.Is(err, errTurnLate) {
		t.Fatalf("bound passed: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, _, err := tr.take(cctx, "c", -1, time.Millisecond); done <- err }()
	queued(t, &tr, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	tr.mu.Lock()
	left := len(tr.queues) + len(tr.ring)
	tr.mu.Unlock()
	if left != 0 {
		t.Fatalf("left behind: %v", tr.ring)
	}
	hold()
	if tr.busy {
		t.Fatal("the turn is still held")
	}
	if _, _, err := tr.take(ctx, "d", 0, time.Second); err != nil {
		t.Fatalf("a free turn: %v", err)
	}
}
