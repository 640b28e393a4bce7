package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	redisadapter "github.com/zishang520/socket.io-go-redis/adapter"
	redistypes "github.com/zishang520/socket.io-go-redis/types"
	"github.com/zishang520/socket.io/v2/adapter"
	"github.com/zishang520/socket.io/v2/socket"
)

// Sockets is Socket.IO across the instances: the sharded Redis adapter of
// socket.io-go-redis (SPUBLISH/SSUBSCRIBE, Redis ≥ 7) carries every
// broadcast to every instance, and a question of our own ("has anyone a
// socket in this room?", over plain PUBLISH/SUBSCRIBE) tells a push whether
// it reached anyone.
//
// Why our own question: the adapter's FetchSockets and ServerSideEmit with
// an ack count the other instances with the base adapter's ServerCount,
// which is always 1 in socket.io/v2 v2.5.0, so they never wait for another
// instance; and FetchSockets would carry each socket's handshake, whose
// auth holds the client's credential, through Redis.
//
// The question: the asking instance PUBLISHes {id, from, room} on
// askChannel; PUBLISH answers how many instances are subscribed, itself
// included, and each of them (itself too) answers {id, yes} on the asker's
// reply channel. The asker stops at the first yes, after every answer, or
// after askTimeout (then: no).
//
// Redis down: broadcasts reach this instance's sockets alone (a publish
// that fails never stops the local broadcast), questions are not asked,
// and the state shows in /api/health as for the quota.
type Sockets struct {
	r     *Redis
	log   *slog.Logger
	id    string
	rc    *redistypes.RedisClient
	ctx   context.Context
	stop  context.CancelFunc
	done  chan struct{}
	local atomic.Pointer[func(room string) bool]
	ps    *redis.PubSub // questions to this instance, answers to its questions

	mu      sync.Mutex
	pending map[string]*asked

	now       func() time.Time
	slowUntil atomic.Int64 // unix nanoseconds: until then an instance was silent, ask briefly
}

const (
	askChannel  = "tokenserver:sockets:ask"
	replyPrefix = "tokenserver:sockets:reply:"
	askTimeout  = 500 * time.Millisecond
	// After a question some instance left unanswered (hung, or cut off
	// from Redis on one side), questions wait only askTimeoutSlow for
	// slowFor: a silent instance does not cost every push half a second.
	askTimeoutSlow = 50 * time.Millisecond
	slowFor        = 10 * time.Second
	maxMessage     = 4 << 10                // a question or an answer is a few hundred bytes
	retryReceive   = 250 * time.Millisecond // a subscription that fails tries again after this
)

type question struct {
	ID   string `json:"id"`
	From string `json:"from"`
	Room string `json:"room"`
}

type answer struct {
	ID  string `json:"id"`
	Yes bool   `json:"yes"`
}

// NewSockets builds the cluster's side of Socket.IO on r and starts
// answering the other instances' questions (no until Answer is called).
func NewSockets(r *Redis, log *slog.Logger) *Sockets {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Sockets{r: r, log: log, id: randomID(), ctx: ctx, stop: stop, done: make(chan struct{}),
		pending: map[string]*asked{}, now: time.Now}
	s.rc = redistypes.NewRedisClient(ctx, r.Client())
	// The adapter's receiving loop reports each failure here and tries
	// again at once: record it, and slow the loop down while Redis is away.
	_ = s.rc.On("error", func(args ...any) {
		err, _ := firstError(args)
		if err == nil || errors.Is(err, redis.ErrClosed) || ctx.Err() != nil {
			return
		}
		s.r.Failed(ctx, err)
		sleep(ctx, retryReceive)
	})
	s.ps = r.Client().Subscribe(ctx, askChannel, replyPrefix+s.id)
	go s.serve()
	return s
}

func firstError(args []any) (error, bool) {
	if len(args) == 0 {
		return nil, false
	}
	err, ok := args[0].(error)
	return err, ok
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Adapter is the Socket.IO adapter to give socket.ServerOptions.SetAdapter.
func (s *Sockets) Adapter() socket.AdapterConstructor { return adapterBuilder{s} }

// Shared reports whether broadcasts reach the other instances now.
func (s *Sockets) Shared() bool { return s.r.Up() }

// Answer sets how this instance answers whether it has a socket in a room.
func (s *Sockets) Answer(local func(room string) bool) { s.local.Store(&local) }

// Elsewhere asks every instance whether it has a socket in room and reports
// whether one said yes within askTimeout. Redis down: false, at once.
func (s *Sockets) Elsewhere(ctx context.Context, room string) bool {
	if !s.r.Up() {
		return false
	}
	timeout := askTimeout
	if s.now().UnixNano() < s.slowUntil.Load() {
		timeout = askTimeoutSlow
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	q := question{ID: randomID(), From: s.id, Room: room}
	body, err := json.Marshal(q)
	if err != nil {
		return false
	}
	a := &asked{yes: make(chan struct{}), answer: make(chan struct{}, 1)}
	s.mu.Lock()
	s.pending[q.ID] = a
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, q.ID)
		s.mu.Unlock()
	}()
	n, err := s.r.Client().Publish(cctx, askChannel, body).Result()
	if err != nil {
		s.r.Failed(ctx, err) // ctx, not cctx: Redis's own timeout is Redis failing
		return false
	}
	for {
		select {
		case <-a.yes:
			return true
		case <-a.answer:
			if a.nos.Load() >= n { // every listener said no (the asker counts itself: it answers too)
				return false
			}
		case <-cctx.Done():
			s.slowUntil.Store(s.now().Add(slowFor).UnixNano())
			return false
		}
	}
}

// asked is one question's answers as they come: the first yes closes yes;
// each no is counted, and answer is nudged at each.
type asked struct {
	yes    chan struct{}
	once   sync.Once
	nos    atomic.Int64
	answer chan struct{}
}

// serve answers questions and hands answers to the questions asked.
func (s *Sockets) serve() {
	defer close(s.done)
	for s.ctx.Err() == nil {
		msg, err := s.ps.ReceiveMessage(s.ctx)
		if err != nil {
			if errors.Is(err, redis.ErrClosed) || s.ctx.Err() != nil {
				return
			}
			s.r.Failed(s.ctx, err)
			sleep(s.ctx, retryReceive)
			continue
		}
		if len(msg.Payload) > maxMessage {
			continue
		}
		if msg.Channel == askChannel {
			s.answer(msg.Payload)
		} else {
			s.received(msg.Payload)
		}
	}
}

func (s *Sockets) answer(payload string) {
	var q question
	if json.Unmarshal([]byte(payload), &q) != nil || q.ID == "" || len(q.From) != 24 || q.Room == "" {
		return
	}
	yes := false
	if local := s.local.Load(); local != nil {
		yes = (*local)(q.Room)
	}
	body, err := json.Marshal(answer{ID: q.ID, Yes: yes})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, askTimeout)
	defer cancel()
	if err := s.r.Client().Publish(ctx, replyPrefix+q.From, body).Err(); err != nil {
		s.r.Failed(s.ctx, err)
	}
}

func (s *Sockets) received(payload string) {
	var a answer
	if json.Unmarshal([]byte(payload), &a) != nil {
		return
	}
	s.mu.Lock()
	q := s.pending[a.ID]
	s.mu.Unlock()
	if q == nil {
		return
	}
	if a.Yes {
		q.once.Do(func() { close(q.yes) })
		return
	}
	q.nos.Add(1)
	select {
	case q.answer <- struct{}{}:
	default: // a nudge is waiting already: the asker reads the count
	}
}

// Close stops answering and receiving. Call it after the Socket.IO server
// is closed and before Redis is.
func (s *Sockets) Close() {
	s.stop()
	_ = s.ps.Close() // a receive does not watch its context: closing ends it
	<-s.done
}

// adapterBuilder builds, per namespace, the sharded Redis adapter in
// static mode (one channel per namespace: a push to a user's room does not
// cost a SSUBSCRIBE per connecting user) behind failSafe.
type adapterBuilder struct{ s *Sockets }

func (b adapterBuilder) New(nsp socket.Namespace) socket.Adapter {
	a := redisadapter.MakeShardedRedisAdapter()
	w := &failSafe{ShardedRedisAdapter: a, s: b.s}
	a.Prototype(w) // the adapter publishes through w.DoPublish
	opts := redisadapter.DefaultShardedRedisAdapterOptions()
	opts.SetChannelPrefix("tokenserver:socket.io")
	opts.SetSubscriptionMode(redisadapter.StaticSubscriptionMode)
	a.SetRedis(b.s.rc)
	a.SetOpts(opts)
	a.Construct(nsp)
	return w
}

// failSafe publishes only while Redis is up, and turns a failed publish
// into a local one: the cluster adapter drops the local broadcast too when
// its publish fails.
type failSafe struct {
	redisadapter.ShardedRedisAdapter
	s *Sockets
}

func (f *failSafe) DoPublish(m *adapter.ClusterMessage) (adapter.Offset, error) {
	if !f.s.r.Up() {
		return "", nil
	}
	off, err := f.ShardedRedisAdapter.DoPublish(m)
	if err != nil {
		f.s.r.Failed(f.s.ctx, err)
		return "", nil
	}
	return off, nil
}
