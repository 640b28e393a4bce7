package bus_test

import (
	"context"
	"sync"
	"testing"

	"github.com/zoomtoken/tokenserver/internal/bus"
)

func TestLocal(t *testing.T) {
	b := bus.NewLocal[string]()
	ctx := context.Background()
	if b.Publish(ctx, "nobody") {
		t.Fatal("delivered with no subscriber")
	}
	var mu sync.Mutex
	var got []string
	off := b.Subscribe(func(_ context.Context, m string) bool {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, m)
		return m == "online"
	})
	b.Subscribe(func(context.Context, string) bool { return false })
	if !b.Publish(ctx, "online") || b.Publish(ctx, "offline") {
		t.Fatal("delivery not reported as the subscribers said")
	}
	off()
	if b.Publish(ctx, "online") {
		t.Fatal("delivered after unsubscribing")
	}
	if len(got) != 2 || got[0] != "online" || got[1] != "offline" {
		t.Fatalf("got %v", got)
	}
	// Concurrent publishers and subscribers are safe.
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(2)
		go func() { defer wg.Done(); b.Publish(ctx, "x") }()
		go func() { defer wg.Done(); b.Subscribe(func(context.Context, string) bool { return true })() }()
	}
	wg.Wait()
}
