package callbacks

import (
	"context"
	"testing"
	"time"
)

// stateContract is what every State answers, alone: a revoked URL is
// refused, once or not; a single-use URL is answered once, again after an
// Unspend, never after a revocation; a URL used many times is never spent.
func stateContract(t *testing.T, s State) {
	t.Helper()
	ctx := context.Background()
	until := time.Now().Add(time.Hour)
	use := func(id string, once bool, want Use) {
		t.Helper()
		if u, err := s.Use(ctx, id, once, until); err != nil || u != want {
			t.Fatalf("Use(%s, once %v) = %v, %v; want %v", id, once, u, err, want)
		}
	}
	use("many", false, UseOK)
	use("many", false, UseOK)
	if err := s.Revoke(ctx, "many", until); err != nil {
		t.Fatal(err)
	}
	use("many", false, UseRevoked)
	use("many", true, UseRevoked)

	use("once", true, UseOK)
	use("once", true, UseSpent)
	if err := s.Unspend(ctx, "once"); err != nil {
		t.Fatal(err)
	}
	use("once", true, UseOK)
	use("once", true, UseSpent)
	if err := s.Revoke(ctx, "once", until); err != nil {
		t.Fatal(err)
	}
	if err := s.Unspend(ctx, "once"); err != nil {
		t.Fatal(err)
	}
	use("once", true, UseRevoked)
	use("other", true, UseOK)
}

func TestMemoryStateContract(t *testing.T) {
	stateContract(t, NewMemory(0, nil))
}
