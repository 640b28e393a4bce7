package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/realtime/rawclient"
)

// clusterBench: three server processes share one redis-server (7 or
// later, from PATH); n sockets are spread over them, user i on instance
// i mod 3. Each user's OBF is then minted by REST on the next instance, so
// every push crosses instances through Redis; the time is from sending the
// request to the socket holding its meeting:credentials. The same is
// measured for a sample minted on the socket's own instance, and the REST
// answer (joinDelivered, attack.go) for a user with no socket anywhere (delivered:false: every
// instance is asked and says no).
func clusterBench(bin string, n int, add func(result)) error {
	redisURL, stopRedis, err := startRedisServer()
	if err != nil {
		return err
	}
	defer stopRedis()
	sb := sandbox.New(sandbox.Options{})
	if err := sb.Start(); err != nil {
		return err
	}
	defer func() { _ = sb.Close() }()
	c, stop, err := startCluster(bin, sb, redisURL, n)
	defer stop()
	if err != nil {
		return err
	}
	if err := c.reportPushes(n, add); err != nil {
		return err
	}
	return c.reportNoSocket(add)
}

// cluster is the cluster bench's three instances and n sockets, user i's
// (ids[i]) on instance i mod 3.
type cluster struct {
	srvs    []*server
	clients []*rawclient.Client
	ids     []string
}

// startCluster starts the three instances on one Redis, warms each, and
// connects the n sockets, 64 dialling at once; stop (never nil) closes the
// sockets, then the instances.
func startCluster(bin string, sb *sandbox.Sandbox, redisURL string, n int) (*cluster, func(), error) {
	c := &cluster{clients: make([]*rawclient.Client, n), ids: make([]string, n)}
	stop := func() {
		for _, cl := range c.clients {
			if cl != nil {
				cl.Close()
			}
		}
		for _, s := range slices.Backward(c.srvs) {
			s.stop()
		}
	}
	for range 3 {
		s, err := startServer(bin, sb, "REDIS_URL="+redisURL, "CLUSTER_SIZE=3",
			"AUTH_JWT_SECRET=bench-secret-0123456789abcdef0123456789")
		if err != nil {
			return nil, stop, err
		}
		c.srvs = append(c.srvs, s)
	}
	for _, s := range c.srvs {
		_ = post(s.url+"/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": "warm@example.com"})
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	var dialErr atomic.Value
	for i := range n {
		c.ids[i] = fmt.Sprintf("c%05d@example.com", i)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cl, _, err := participant(c.srvs[i%3].url, jwtFor(c.ids[i]))
			if err != nil {
				dialErr.Store(err)
				return
			}
			c.clients[i] = cl
		})
	}
	wg.Wait()
	if err, _ := dialErr.Load().(error); err != nil {
		return nil, stop, err
	}
	time.Sleep(time.Second)
	return c, stop, nil
}

// push mints user i's OBF on instance at and waits for its socket.
func (c *cluster) push(i, at int) (time.Duration, bool, error) {
	start := time.Now()
	delivered, err := joinDelivered(c.srvs[at].url, c.ids[i])
	if err != nil {
		return 0, false, err
	}
	e, ok := c.clients[i].WaitEvent("meeting:credentials", 30*time.Second)
	if !ok {
		return 0, delivered, fmt.Errorf("socket %d never received its OBF", i)
	}
	return e.At.Sub(start), delivered, nil
}

// measure pushes to the first count users from callers goroutines, user i's
// minted on instance(i); it answers the sorted times and how many answers
// said delivered:false.
func (c *cluster) measure(count, callers int, instance func(i int) int) ([]time.Duration, int, error) {
	lat := make([]time.Duration, count)
	var notDelivered atomic.Int64
	var firstErr atomic.Value
	var next atomic.Int64
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= count {
					return
				}
				d, delivered, err := c.push(i, instance(i))
				if err != nil {
					firstErr.Store(err)
					return
				}
				if !delivered {
					notDelivered.Add(1)
				}
				lat[i] = d
			}
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, 0, err
	}
	slices.Sort(lat)
	return lat, int(notDelivered.Load()), nil
}

// reportPushes measures and reports pushes minted on another instance (8
// callers, then 1) and on the socket's own.
func (c *cluster) reportPushes(n int, add func(result)) error {
	cross, missed, err := c.measure(n, 8, func(i int) int { return (i + 1) % 3 })
	if err != nil {
		return err
	}
	add(result{name: fmt.Sprintf("cluster push: %d sockets over 3 instances, minted on another instance, 8 callers", n),
		value: fmt.Sprintf("p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d of %d delivered:true)",
			ms(pct(cross, 0.50)), ms(pct(cross, 0.99)), ms(cross[len(cross)-1]), n-missed, n),
		target: "every one delivered"})
	local, _, err := c.measure(min(n, 600), 8, func(i int) int { return i % 3 })
	if err != nil {
		return err
	}
	add(result{name: "cluster push: same, minted on the socket's own instance",
		value: fmt.Sprintf("p50 %.2f ms, p99 %.2f ms", ms(pct(local, 0.50)), ms(pct(local, 0.99)))})
	one, missed, err := c.measure(min(n, 600), 1, func(i int) int { return (i + 2) % 3 })
	if err != nil {
		return err
	}
	add(result{name: "cluster push: minted on another instance, 1 caller (machine not saturated)",
		value: fmt.Sprintf("p50 %.2f ms, p99 %.2f ms (%d of %d delivered:true)", ms(pct(one, 0.50)), ms(pct(one, 0.99)), len(one)-missed, len(one))})
	return nil
}

// reportNoSocket measures and reports REST joins for users with no socket
// anywhere: every instance is asked and says no.
func (c *cluster) reportNoSocket(add func(result)) error {
	var none []time.Duration
	for i := range 300 {
		start := time.Now()
		delivered, err := joinDelivered(c.srvs[i%3].url, fmt.Sprintf("nobody%d@example.com", i))
		if err != nil {
			return err
		}
		if delivered {
			return errors.New("delivered:true for a user with no socket")
		}
		none = append(none, time.Since(start))
	}
	slices.Sort(none)
	add(result{name: "cluster: REST join for a user with no socket anywhere (every instance asked)",
		value: fmt.Sprintf("p50 %.2f ms, p99 %.2f ms (delivered:false)", ms(pct(none, 0.50)), ms(pct(none, 0.99)))})
	return nil
}

// startRedisServer runs redis-server from PATH on a free port, without
// persistence, and answers its URL.
func startRedisServer() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir, err := os.MkdirTemp("", "benchredis")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start redis-server (7 or later, on PATH): %w", err)
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for range 200 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "redis://" + addr, stop, nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	stop()
	return "", nil, errors.New("redis-server did not listen")
}
