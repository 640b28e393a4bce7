package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/internal/testinfra"
)

// zoomLog is a proxy in front of the sandbox's API that writes down, in the
// order Zoom would see them, the user of every token call: the order of the
// calls, not their timing, is what fairness is about.
type zoomLog struct {
	mu    sync.Mutex
	users []string
}

func (l *zoomLog) add(u string) {
	l.mu.Lock()
	l.users = append(l.users, u)
	l.mu.Unlock()
}

func (l *zoomLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.users...)
}

// loggedEnv is the environment of a server in zoom mode whose Zoom API is
// a new sandbox behind a zoomLog, at qps.
func loggedEnv(t *testing.T, qps string) (*sandbox.Sandbox, map[string]string, *zoomLog) {
	t.Helper()
	sb := newSandbox(t, sandbox.Options{})
	api, err := url.Parse(sb.APIURL())
	if err != nil {
		t.Fatal(err)
	}
	log := &zoomLog{}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: api.Scheme, Host: api.Host})
	front := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; strings.HasSuffix(p, "/token") {
			parts := strings.Split(p, "/")
			log.add(parts[len(parts)-2])
		}
		proxy.ServeHTTP(w, r)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = front.Serve(ln) }()
	t.Cleanup(func() { _ = front.Close() })
	env := zoomEnv(sb)
	env["ZOOM_API_URL"] = "http://" + ln.Addr().String() + api.Path
	env["ZOOM_QPS"] = qps
	return sb, env, log
}

// startLogged starts a server whose Zoom API is a sandbox behind a zoomLog.
func startLogged(t *testing.T, qps string) (*testServer, *zoomLog) {
	t.Helper()
	sb, env, log := loggedEnv(t, qps)
	return startServer(t, sb, env), log
}

// batchOf starts a batch-join of ids for the caller of headers; its answer
// (or error) comes on the channel.
func batchOf(ts *testServer, ids []string, headers map[string]string) <-chan error {
	done := make(chan error, 1)
	go func() {
		r, err := ts.try("POST", "/api/meetings/batch-join", map[string]any{"meetingId": meeting, "participantUserIds": ids}, headers)
		if err == nil && r.Status != 200 {
			err = fmt.Errorf("batch = %d %.300s", r.Status, r.Raw)
		}
		if err == nil {
			if n := len(field(r.Body, "results", "successful").([]any)); n != len(ids) {
				err = fmt.Errorf("batch: %d of %d tokens", n, len(ids))
			}
		}
		done <- err
	}()
	return done
}

func usersPrefixed(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%03d@example.com", prefix, i)
	}
	return ids
}

func waitCalls(t *testing.T, log *zoomLog, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for len(log.snapshot()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("Zoom got %d calls, waiting for %d", len(log.snapshot()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Two callers' batches keep the Zoom budget (ZOOM_QPS) busy; a third
// caller's single join is served after a few of Zoom's calls, not behind
// the batches' queue (which held 80 calls when every call waited in one
// line).
func TestSingleJoinGoesAheadOfOtherCallersBatches(t *testing.T) {
	ts, log := startLogged(t, "40")
	joinAmidBatches(t, ts, ts, log)
}

// The same across a cluster's instances: the batches run on one, the join
// comes to the other; the Zoom budget is one schedule in Redis. Each
// instance books one batch moment at a time, so the join's moment is
// behind a few others, not behind the batches' queue.
func TestSingleJoinGoesAheadOfBatchesOnAnotherInstance(t *testing.T) {
	rs := testinfra.StartRedis(t)
	sb, env, log := loggedEnv(t, "40")
	env["REDIS_URL"], env["CLUSTER_SIZE"] = rs.URL(), "2"
	a := startServer(t, sb, env)
	b := startServer(t, sb, env)
	joinAmidBatches(t, a, b, log)
}

// joinAmidBatches runs two callers' batches of 120 on batches and, once
// they keep Zoom busy, a third caller's single join on joins: between the
// join's arrival and its own call, Zoom gets a few calls at most (when
// every call waited in one line, the 80 the batches' workers had queued).
func joinAmidBatches(t *testing.T, batches, joins *testServer, log *zoomLog) {
	t.Helper()
	a := batchOf(batches, usersPrefixed("fa", 120), bearer(t, "hosta@example.com", "host"))
	b := batchOf(batches, usersPrefixed("fb", 120), bearer(t, "hostb@example.com", "host"))
	waitCalls(t, log, 30)
	sent := len(log.snapshot())
	r := joins.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "solo@example.com"},
		bearer(t, "solo@example.com", "participant"))
	if r.Status != 200 {
		t.Fatalf("join = %d %.300s", r.Status, r.Raw)
	}
	calls := log.snapshot()
	at := -1
	for i, u := range calls {
		if u == "solo@example.com" {
			at = i
		}
	}
	if at < sent {
		t.Fatalf("the join's call is not in Zoom's log after its arrival (%d): %d", sent, at)
	}
	t.Logf("batch calls between the join's arrival and its own call: %d", at-sent)
	if ahead := at - sent; ahead > 6 {
		t.Fatalf("%d batch calls went to Zoom between the join's arrival and its own call; want a few at most", ahead)
	}
	if len(calls) >= 240 {
		t.Fatal("the batches had finished when the join was answered")
	}
	for _, ch := range []<-chan error{a, b} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
}

// One caller with two batches and another with one: they take Zoom's
// calls in turn, one item each, so the second caller's batch gets half the
// budget while both run (not a third, as when every worker waited in one
// line), and it finishes while the first caller's are still going.
func TestBatchesOfTwoCallersShareZoomInTurn(t *testing.T) {
	ts, log := startLogged(t, "40")
	hostA, hostB := bearer(t, "hosta@example.com", "host"), bearer(t, "hostb@example.com", "host")
	a1 := batchOf(ts, usersPrefixed("fa", 60), hostA)
	a2 := batchOf(ts, usersPrefixed("fc", 60), hostA)
	b := batchOf(ts, usersPrefixed("fb", 60), hostB)
	for _, ch := range []<-chan error{a1, a2, b} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	calls := log.snapshot()
	firstB, lastB, lastA := -1, -1, -1
	for i, u := range calls {
		switch {
		case strings.HasPrefix(u, "fb"):
			if firstB < 0 {
				firstB = i
			}
			lastB = i
		default:
			lastA = i
		}
	}
	ofA := 0
	for _, u := range calls[firstB : lastB+1] {
		if !strings.HasPrefix(u, "fb") {
			ofA++
		}
	}
	t.Logf("calls: %d; the second caller's from %d to %d; the first caller's meanwhile: %d", len(calls), firstB, lastB, ofA)
	if firstB > 20 {
		t.Fatalf("the second caller's batch began after %d of the first's calls", firstB)
	}
	if lastB >= lastA {
		t.Fatal("the first caller's two batches finished before the second caller's one")
	}
	// In turn: about 60 of the first caller's calls while the second's 60
	// went; in one line, about 120 (or none, when the second's workers
	// happened to queue first).
	if ofA < 40 {
		t.Fatalf("the first caller made %d calls while the second made 60: not interleaved", ofA)
	}
	if ofA > 84 {
		t.Fatalf("the first caller made %d calls while the second made 60: not in turn", ofA)
	}
}
