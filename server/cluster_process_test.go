package main

import (
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

// A cluster as it is deployed: three OS processes of the real binary
// (procs_helpers_test.go), each in zoom mode against one sandbox, sharing
// one redis-server (REDIS_URL, CLUSTER_SIZE=3) and one PostgreSQL database
// (DATABASE_URL=postgres://…). What crosses instances here crosses process
// boundaries: nothing is shared but Redis, PostgreSQL and Zoom.

// A token minted by REST on one process reaches its user's socket on
// another, and the answer says delivered true; a user with no socket
// anywhere is answered delivered false.
func TestProcsPushAcrossProcesses(t *testing.T) {
	cl := startProcCluster(t, procClusterConfig{})
	a, b, c := cl.abc()
	ann := authedSocket(t, b, "ann@example.com", "")
	host := authedSocket(t, a, "host@example.com", "host")

	r := joinFor(t, a, "ann@example.com")
	if r.Body["delivered"] != true {
		t.Fatalf("join on a for a user whose socket is on b: delivered = %v", r.Body["delivered"])
	}
	wantPushed(t, ann, r)

	s := c.do("POST", "/api/meetings/start", map[string]any{"meetingId": meeting, "hostUserId": "host@example.com"}, adminKey)
	if s.Status != 200 || s.Body["delivered"] != true {
		t.Fatalf("start on c for a host whose socket is on a = %d %s", s.Status, s.Raw)
	}
	if e, ok := host.waitEvent("meeting:started", 10*time.Second); !ok || e["zakToken"] != s.Body["zakToken"] {
		t.Fatalf("meeting:started on a = %v, want the ZAK minted on c", e)
	}
	a.collectTokens(s.Body)

	for _, ts := range cl.servers {
		if r := joinFor(t, ts, "nobody@example.com"); r.Body["delivered"] != false {
			t.Fatalf("join for a user with no socket anywhere: delivered = %v", r.Body["delivered"])
		}
	}
	cl.assertNoSecretsLogged()
}

// One batch of 1,000 users split over the three processes (three callers,
// 334/333/333, sent at once) against a sandbox that refuses more than the
// account's QPS: the processes share ZOOM_QPS through Redis, so the sandbox
// answers no 429 and every user is minted, in about N/QPS (pacing
// happened, and no process slowed the others beyond it). Alone, each
// process would spend the whole ZOOM_QPS: three times the account's.
func TestProcsBatchSharesTheZoomQuota(t *testing.T) {
	const n, qps = 1000, 100
	// The sandbox counts calls per wall-clock second; the instances pace
	// with Redis's GCRA at ZOOM_QPS. A call paced at the end of one second
	// may reach the sandbox in the next (scheduling on a shared machine):
	// the sandbox allows the account 5% more than the instances' budget.
	cl := startProcCluster(t, procClusterConfig{sandbox: sandbox.Options{QPS: qps * 105 / 100}, zoomQPS: fmt.Sprint(qps)})
	for _, ts := range cl.servers { // each process fetches its S2S token first
		joinFor(t, ts, "warm@example.com")
	}
	time.Sleep(1100 * time.Millisecond) // a fresh second at the sandbox, a rested pace in Redis

	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("b%04d@example.com", i)
	}
	parts := [][]string{ids[:334], ids[334:667], ids[667:]}
	before := cl.sb.Stats()
	replies := make([]reply, 3)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i, ts := range cl.servers {
		caller := bearer(t, fmt.Sprintf("host%d@example.com", i), "host")
		wg.Go(func() {
			<-gate
			replies[i], _ = ts.try("POST", "/api/meetings/batch-join", map[string]any{"meetingId": meeting, "participantUserIds": parts[i]}, caller)
		})
	}
	start := time.Now()
	close(gate)
	wg.Wait()
	took := time.Since(start)
	after := cl.sb.Stats()

	for i, r := range replies {
		if r.Status != 200 || field(r.Body, "summary", "successful") != float64(len(parts[i])) || field(r.Body, "summary", "failed") != float64(0) {
			t.Errorf("batch of %d on instance %d = %d %.500s", len(parts[i]), i, r.Status, r.Raw)
		}
	}
	ideal := time.Duration(n) * time.Second / qps
	t.Logf("%d users over 3 processes at ZOOM_QPS=%d: %v (ideal %v, ratio %.2f); %d minted, %d 429s at the sandbox",
		n, qps, took.Round(time.Millisecond), ideal, took.Seconds()/ideal.Seconds(), after.Minted-before.Minted, after.Throttled-before.Throttled)
	if got := after.Minted - before.Minted; got != n {
		t.Errorf("the sandbox minted %d tokens, want %d", got, n)
	}
	if got := after.Throttled - before.Throttled; got != 0 {
		t.Errorf("the sandbox answered %d 429s: the processes spent more than the account's quota together", got)
	}
	// Generous bounds, not a timing: below 0.7× ideal the calls were not
	// paced at ZOOM_QPS; above 3× something held the batch back.
	if took < ideal*7/10 || took > 3*ideal {
		t.Errorf("the batch took %v; ideal at ZOOM_QPS is %v (want between 0.7× and 3×)", took, ideal)
	}
	cl.assertNoSecretsLogged()
}

// A webhook posted to one process releases the awaits held by the others: a
// bot's meeting:await socket on b and a POST /api/meetings/await long poll
// on c, both waiting when a hears that their users joined.
func TestProcsWebhookReleasesAwaitsOnOtherProcesses(t *testing.T) {
	cl := startProcCluster(t, procClusterConfig{})
	a, b, c := cl.abc()
	cl.sb.SetWebhook(b.URL+hookPath, webhookSecret) // the meeting's start reaches b only
	cl.sb.SetWebhookRetryDelays(nil)
	if _, err := cl.sb.CreateMeeting("host@example.com", meeting); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.sb.AddParticipant(meeting, "host@example.com"); err != nil { // meeting.started, to b
		t.Fatal(err)
	}
	cl.sb.WebhooksIdle(10 * time.Second)
	for _, ts := range []*testServer{a, c} {
		waitUntil(t, "every process learns from b that the meeting started", func() bool {
			return ts.awaitNow(t, meeting, "pat@example.com").Body["presence"] == "waiting"
		})
	}

	bot := authedSocket(t, b, "pat@example.com", "")
	if ack := bot.emitAck("meeting:await", map[string]any{"meetingId": meeting, "onBehalfOf": "pat@example.com", "timeoutSeconds": 60}); ack["presence"] != "waiting" {
		t.Fatalf("meeting:await on b = %v", ack)
	}
	waiting := func() float64 {
		return metricValue(c.do("GET", "/metrics", nil, nil).Raw, "presence_awaits_total", `outcome="waiting"`)
	}
	held := waiting()
	poll := make(chan reply, 1)
	go func() {
		r, err := c.try("POST", "/api/meetings/await", map[string]any{"meetingId": meeting, "participantUserId": "kim@example.com", "timeoutSeconds": 60}, adminKey)
		if err != nil {
			r.Raw = err.Error()
		}
		poll <- r
	}()
	waitUntil(t, "c holds the long poll (presence waiting)", func() bool { return waiting() > held })

	now := time.Now()
	for i, user := range []string{"pat@example.com", "kim@example.com"} {
		if r := a.hook(joinedBody(meeting, user, 7+i, now), webhookSecret, now); r.Status != 200 || r.Body["status"] != "accepted" {
			t.Fatalf("webhook to a = %d %s", r.Status, r.Raw)
		}
	}
	e, ok := bot.waitEvent("meeting:credentials", 10*time.Second)
	if !ok || e["obfToken"] == nil || e["participantUserId"] != "pat@example.com" {
		t.Fatalf("the bot on b: meeting:credentials = %v", e)
	}
	b.collectTokens(e)
	select {
	case r := <-poll:
		if r.Status != 200 || r.Body["obfToken"] == nil || r.Body["participantUserId"] != "kim@example.com" {
			t.Fatalf("the long poll on c = %d %s", r.Status, r.Raw)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the long poll on c was not answered within 30 s of the webhook to a")
	}
	cl.assertNoSecretsLogged(webhookSecret)
}

// Two processes refresh one user's grant at once, round after round,
// against the sandbox's rotating refresh tokens: the lease in PostgreSQL
// lets one of them spend each refresh token, once.
func TestProcsRefreshOneGrantOnce(t *testing.T) {
	cl := startProcCluster(t, procClusterConfig{})
	a, b, c := cl.abc()
	const ann = "ann@partner.example" // outside the account: only her connection mints for her
	connectExpired(t, a, ann)
	wantJoin(t, b.join(t, ann), "connection") // b and c see a's connection
	wantJoin(t, c.join(t, ann), "connection")
	cl.sb.SetLatency(30 * time.Millisecond) // the processes' refreshes overlap
	raceRefreshes(t, cl.sb, a, b, ann, 2, 60)
	cl.assertNoSecretsLogged()
}

// Redis stopped under load and started again on its port, then frozen
// (SIGSTOP: connections stay open, nothing answers) and thawed: no request
// hangs (each is answered within 10 s, with a token or a clear error), each
// process's health says cluster.redis degraded, then ok; after each, pushes
// cross processes again.
func TestProcsRedisDownAndBackUnderLoad(t *testing.T) {
	cl := startProcCluster(t, procClusterConfig{zoomQPS: "150", redisPassword: redisPassword})
	a, b, _ := cl.abc()
	ann := authedSocket(t, b, "ann@example.com", "")
	wantPushed(t, ann, joinFor(t, a, "ann@example.com"))
	for _, ts := range cl.servers {
		ts.client.Timeout = 10 * time.Second // the bound on every answer under load
	}
	healthSays := func(state string) {
		t.Helper()
		for _, ts := range cl.servers {
			waitUntil(t, "health says redis "+state, func() bool {
				return field(ts.do("GET", "/api/health", nil, nil).Body, "cluster", "redis") == state
			})
		}
	}
	pushCrosses := func() { t.Helper(); waitPushCrosses(t, a, "ann@example.com", ann) }

	underLoad(t, "Redis stopped and restarted", cl.servers, func(more func(string)) {
		cl.redis.Stop()
		healthSays("degraded")
		more("with Redis down")
		cl.redis.Restart()
		healthSays("ok")
		more("with Redis back")
	})
	pushCrosses()

	pid := childPID(t, "redis-server "+cl.redis.Addr())
	underLoad(t, "Redis frozen and thawed", cl.servers, func(more func(string)) {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		thawed := false
		defer func() {
			if !thawed {
				_ = syscall.Kill(pid, syscall.SIGCONT)
			}
		}()
		healthSays("degraded")
		more("with Redis frozen")
		thawed = syscall.Kill(pid, syscall.SIGCONT) == nil
		healthSays("ok")
		more("with Redis thawed")
	})
	pushCrosses()
	cl.assertNoSecretsLogged(redisPassword)
}

// underLoad runs joins from six callers, two per process, while phase runs
// (and before it, until load is running): phase calls more to let 50 more
// requests through. Every request must be answered within the servers'
// client timeout, with a token or an error with a code and a sentence.
func underLoad(t *testing.T, what string, servers []*testServer, phase func(more func(string))) {
	t.Helper()
	type outcome struct {
		status int
		code   string
		err    error
		took   time.Duration
	}
	var mu sync.Mutex
	var outcomes []outcome
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		ts := servers[w%len(servers)]
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				r, err := ts.try("POST", "/api/meetings/join", map[string]any{"meetingId": meeting,
					"participantUserId": fmt.Sprintf("load%d-%d@example.com", w, i)}, adminKey)
				o := outcome{status: r.Status, err: err, took: time.Since(start)}
				o.code, _ = r.Body["code"].(string)
				if err == nil && r.Status != 200 && (o.code == "" || str(r.Body["error"]) == "") {
					o.code = "unclear: " + r.Raw
				}
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
			}
		})
	}
	var halted sync.Once
	halt := func() { halted.Do(func() { close(stop); wg.Wait() }) }
	defer halt() // also when phase fails the test
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(outcomes) }
	more := func(while string) {
		t.Helper()
		from := count()
		waitUntil(t, "50 more requests answered "+while, func() bool { return count() >= from+50 })
	}
	more("before")
	phase(more)
	halt()

	byKind := map[string]int{}
	var slowest time.Duration
	for _, o := range outcomes {
		slowest = max(slowest, o.took)
		switch {
		case o.err != nil:
			t.Errorf("%s: a request under load was not answered within the bound (or failed): %v", what, o.err)
		case strings.HasPrefix(o.code, "unclear"):
			t.Errorf("%s: a request under load was answered %d without a clear error: %s", what, o.status, o.code)
		default:
			byKind[strings.TrimSpace(fmt.Sprintf("%d %s", o.status, o.code))]++
		}
	}
	t.Logf("%s: %d requests under load: %v; slowest %v", what, len(outcomes), byKind, slowest.Round(time.Millisecond))
	if byKind["200"] == 0 {
		t.Errorf("%s: no request under load minted a token", what)
	}
}
