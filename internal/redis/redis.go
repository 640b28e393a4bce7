// Package redis is this instance's connection to the Redis that several
// instances behind one load balancer share (REDIS_URL): how the instance
// sees Redis's health (Try, for every Redis twin in gate, store and
// callbacks), the Zoom quota of each account (Quota), Socket.IO across
// instances (Sockets) and the webhook relay. When Redis cannot be reached each
// instance falls back to state of its own (a limiter at ZOOM_QPS /
// CLUSTER_SIZE) and says so in /api/health and the metrics; it watches
// Redis and goes back to it by itself.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomtoken/tokenserver/internal/secret"
)

// Redis timeouts (IOTimeout also bounds each call of the Redis twins in
// gate, store and callbacks): short, so that a Redis that stops answering costs a call
// a fraction of a second once, after which the instance works alone until
// the probe sees Redis back.
const (
	dialTimeout = time.Second
	IOTimeout   = 500 * time.Millisecond
	probeEvery  = time.Second
)

// Observer is told of Redis's state, for metrics.
type Observer interface {
	// Backend: up is whether the backend ("redis") is in use now.
	Backend(name string, up bool)
}

// Redis is this instance's connection to the cluster's Redis and its view
// of Redis's health: up, or degraded (not used until a probe answers).
type Redis struct {
	client *redis.Client
	log    *slog.Logger
	obs    Observer
	up     atomic.Bool
	kick   chan struct{} // a caller saw Redis fail: probe at once
	stop   context.CancelFunc
	done   chan struct{}
	once   sync.Once

	// Only Open, then watch's goroutine, touch these (version.go).
	verified bool   // Redis's version was found recent enough
	refused  string // the too old version last logged
}

// Open connects to the Redis that url names (redis:// or rediss://) and
// starts watching it. A Redis that does not answer now is no error: the
// instance starts degraded and uses Redis once it answers. Errors never
// quote url, which may hold a password.
func Open(ctx context.Context, url secret.Value, log *slog.Logger, obs Observer) (*Redis, error) {
	opts, err := redis.ParseURL(url.Reveal())
	if err != nil {
		return nil, errors.New("REDIS_URL is not a Redis URL go-redis can read (redis://[:PASSWORD@]HOST:PORT[/DB] or rediss://…)")
	}
	opts.DialTimeout = dialTimeout
	opts.ReadTimeout, opts.WriteTimeout = IOTimeout, IOTimeout
	opts.PoolTimeout = dialTimeout
	opts.MaxRetries = -1 // a failure falls back at once; the probe decides when to come back
	opts.ContextTimeoutEnabled = true
	opts.DisableIdentity = true
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if obs == nil {
		obs = nopObserver{}
	}
	r := &Redis{client: redis.NewClient(opts), log: log, obs: obs, kick: make(chan struct{}, 1), done: make(chan struct{})}
	err = r.ping(ctx)
	if err == nil {
		err = r.verify(ctx)
	}
	if err == nil {
		err = r.writable(ctx)
	}
	if errors.Is(err, errRedisTooOld) {
		r.client.Close()
		return nil, err
	}
	if err != nil {
		r.log.Warn("cluster: Redis does not answer; working alone (local push, ZOOM_QPS / CLUSTER_SIZE) until it does",
			"addr", opts.Addr, "err", err)
	} else {
		r.up.Store(true)
		r.log.Info("cluster: Redis connected", "addr", opts.Addr)
	}
	r.obs.Backend("redis", r.up.Load())
	var lctx context.Context
	lctx, r.stop = context.WithCancel(context.Background())
	go r.watch(lctx)
	return r, nil
}

type nopObserver struct{}

func (nopObserver) Backend(string, bool) {}

// Client is the go-redis client, for what else the instances share.
func (r *Redis) Client() *redis.Client { return r.client }

// Up reports whether Redis is in use now.
func (r *Redis) Up() bool { return r.up.Load() }

// State is "ok" or "degraded", as /api/health shows it.
func (r *Redis) State() string {
	if r.Up() {
		return "ok"
	}
	return "degraded"
}

// Failed records that a call to Redis failed with err: unless the caller's
// own context ended, Redis is not used until a probe answers again.
func (r *Redis) Failed(ctx context.Context, err error) {
	if err == nil || errors.Is(err, redis.Nil) || ctx.Err() != nil {
		return
	}
	r.setUp(false, err)
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *Redis) setUp(up bool, cause error) {
	if r.up.Swap(up) == up {
		return
	}
	r.obs.Backend("redis", up)
	if up {
		r.log.Info("cluster: Redis answers again; shared state back in use")
	} else {
		r.log.Error("cluster: Redis failed; working alone (local push, ZOOM_QPS / CLUSTER_SIZE) until it answers",
			"err", cause)
	}
}

// healthKey is the key the probe writes: a Redis that answers PING but
// refuses writes (maxmemory reached with noeviction, a read-only replica
// after a failover, an ACL) cannot hold the shared state, and must not be
// seen as up, used, failed and probed again every second.
const healthKey = keyPrefix + "health"

func (r *Redis) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout+IOTimeout)
	defer cancel()
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping redis: %w", err)
	}
	return nil
}

// writable is the probe's second half: a write that expires by itself.
func (r *Redis) writable(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, IOTimeout)
	defer cancel()
	if err := r.client.Set(ctx, healthKey, "1", 10*time.Second).Err(); err != nil {
		return fmt.Errorf("redis refuses a write (SET %s): %w", healthKey, err)
	}
	return nil
}

// LibraryLogs sends go-redis's own log lines (a pool that cannot dial, a
// subscription that reconnects: raw lines on stderr by default) to log at
// debug level: what an operator needs of them, the cluster's own state
// changes already say. go-redis keeps one logger for the process.
func LibraryLogs(log *slog.Logger) { redis.SetLogger(libraryLog{log}) }

type libraryLog struct{ log *slog.Logger }

func (l libraryLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

// watch probes Redis every probeEvery (and at once after a failure a
// caller saw), so that the state follows Redis both ways.
func (r *Redis) watch(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.kick:
			// Let a dying server finish dying before the first probe.
			select {
			case <-ctx.Done():
				return
			case <-time.After(probeEvery / 4):
			}
		}
		err := r.ping(ctx)
		if err == nil {
			err = r.verify(ctx) // once, when Redis first answers after a degraded start
		}
		if err == nil {
			err = r.writable(ctx)
		}
		if ctx.Err() != nil {
			return
		}
		r.setUp(err == nil, err)
	}
}

// Close stops the probe and closes the connections.
func (r *Redis) Close() error {
	var err error
	r.once.Do(func() {
		r.stop()
		<-r.done
		err = r.client.Close()
	})
	return err
}

// Try runs f against Redis within IOTimeout when Redis is in use, and says
// whether it did. When f fails, Redis is not used until a probe answers
// (unless ctx, the caller's, ended): the caller answers from its own state
// at once, so that a Redis that is down or slow costs one call at most
// IOTimeout once.
func (r *Redis) Try(ctx context.Context, f func(ctx context.Context) error) bool {
	if !r.Up() {
		return false
	}
	cctx, cancel := context.WithTimeout(ctx, IOTimeout)
	defer cancel()
	if err := f(cctx); err != nil {
		r.Failed(ctx, err)
		return false
	}
	return true
}
