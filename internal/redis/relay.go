package redis

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Relay hands messages from each instance to every other over one Redis
// PUBLISH/SUBSCRIBE channel (for the presence events of webhooks, which
// reach one instance and wake awaits on any). Delivery is at most once:
// an instance that is not subscribed when a message is published (Redis
// down, or restarting) does not get it. Redis down: Publish does nothing.
type Relay struct {
	r       *Redis
	log     *slog.Logger
	channel string
	id      string
	ps      *redis.PubSub
	handle  atomic.Pointer[func([]byte)]
	ctx     context.Context
	stop    context.CancelFunc
	done    chan struct{}
}

// maxRelayed caps a relayed message; a larger one is neither sent nor taken.
const maxRelayed = 64 << 10

type relayed struct {
	From string          `json:"from"`
	Body json.RawMessage `json:"body"`
}

// NewRelay subscribes to the channel named name (prefixed tokenserver:relay:).
func NewRelay(r *Redis, name string, log *slog.Logger) *Relay {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, stop := context.WithCancel(context.Background())
	rl := &Relay{r: r, log: log, channel: "tokenserver:relay:" + name, id: randomID(), ctx: ctx, stop: stop,
		done: make(chan struct{})}
	rl.ps = r.Client().Subscribe(ctx, rl.channel)
	go rl.serve()
	return rl
}

// Handle sets what receives the other instances' messages (a JSON value each).
func (rl *Relay) Handle(h func(body []byte)) { rl.handle.Store(&h) }

// Publish sends body (JSON) to the other instances.
func (rl *Relay) Publish(ctx context.Context, body []byte) {
	if !rl.r.Up() || len(body) > maxRelayed || !json.Valid(body) {
		return
	}
	msg, err := json.Marshal(relayed{From: rl.id, Body: body})
	if err != nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, IOTimeout)
	defer cancel()
	if err := rl.r.Client().Publish(cctx, rl.channel, msg).Err(); err != nil {
		rl.r.Failed(ctx, err) // ctx, not cctx: Redis's own timeout is Redis failing
		rl.log.Warn("cluster: a message was not relayed to the other instances", "channel", rl.channel, "err", err)
	}
}

func (rl *Relay) serve() {
	defer close(rl.done)
	for rl.ctx.Err() == nil {
		msg, err := rl.ps.ReceiveMessage(rl.ctx)
		if err != nil {
			if errors.Is(err, redis.ErrClosed) || rl.ctx.Err() != nil {
				return
			}
			rl.r.Failed(rl.ctx, err)
			sleep(rl.ctx, retryReceive)
			continue
		}
		if len(msg.Payload) > maxRelayed+1024 {
			continue
		}
		var m relayed
		if json.Unmarshal([]byte(msg.Payload), &m) != nil || m.From == rl.id || len(m.Body) == 0 {
			continue
		}
		if h := rl.handle.Load(); h != nil {
			(*h)(m.Body)
		}
	}
}

// Close stops receiving.
func (rl *Relay) Close() {
	rl.stop()
	_ = rl.ps.Close()
	<-rl.done
}

// FirstSeen reports whether key is seen for the first time across the
// instances (SET NX with expiry ttl). Redis down or failing: true, and ok
// false (the caller decides alone).
func (r *Redis) FirstSeen(ctx context.Context, key string, ttl time.Duration) (first, ok bool) {
	if !r.Up() {
		return true, false
	}
	cctx, cancel := context.WithTimeout(ctx, IOTimeout)
	defer cancel()
	set, err := r.client.SetNX(cctx, key, 1, ttl).Result()
	if err != nil {
		r.Failed(ctx, err)
		return true, false
	}
	return set, true
}

// Forget deletes key, so that it is first seen again.
func (r *Redis) Forget(ctx context.Context, key string) {
	if !r.Up() {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, IOTimeout)
	defer cancel()
	if err := r.client.Del(cctx, key).Err(); err != nil {
		r.Failed(ctx, err)
	}
}
