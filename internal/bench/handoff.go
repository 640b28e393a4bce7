package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/realtime/rawclient"
)

// handoffBench measures the hand-off of a following await (issue 25, "Keep
// the bot in"): n bots each follow a meeting of their own with 2 or 3
// candidates, all present (signed participant_joined webhooks), and hold
// the first one's OBF; then each meeting's holder leaves, the n departures
// spread evenly over one second. The time is from the sandbox sending the
// participant_left webhook to the bot holding the next candidate's OBF
// (meeting:credentials with handoff), and the Zoom calls are the sandbox's
// user-token calls during that phase. On one instance twice: with its
// default store (SQLite, where each webhook's dedupe mark is written) and
// with DATABASE_URL=memory; then on three sharing a redis-server (the
// webhooks to the first, bot i on instance i mod 3).
func handoffBench(bin string, n int, add func(result)) error {
	dir, err := os.MkdirTemp("", "benchhandoff")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	db := "sqlite:" + filepath.Join(dir, "c.db")
	if err := handoffOneInstance(bin, n, db, "one instance (SQLite)", add); err != nil {
		return fmt.Errorf("one instance: %w", err)
	}
	if err := handoffOneInstance(bin, n, "memory", "one instance (memory)", add); err != nil {
		return fmt.Errorf("one instance, memory: %w", err)
	}
	if err := handoffThreeInstances(bin, n, add); err != nil {
		return fmt.Errorf("three instances: %w", err)
	}
	return nil
}

// handoffSetup is the sandbox's options and the servers' environment:
// webhooks, caller JWTs and the SDK bundle, as in the presence bench.
func handoffSetup() (sandbox.Options, []string) {
	sdkKey, sdkSecret := "bench-sdk-key", "bench-sdk-secret-0123456789abcdef"
	return sandbox.Options{SDKKey: sdkKey, SDKSecret: sdkSecret}, []string{"AUTH_JWT_SECRET=" + benchJWTSecret,
		"ZOOM_WEBHOOK_SECRETS=" + benchWebhookSecret, "ZOOM_SDK_KEY=" + sdkKey, "ZOOM_SDK_SECRET=" + sdkSecret}
}

// handoffOneInstance runs the hand-off on one instance with the store db.
func handoffOneInstance(bin string, n int, db, label string, add func(result)) error {
	opts, env := handoffSetup()
	sb, srv, stop, err := harness(bin, opts, append(env, "DATABASE_URL="+db)...)
	if err != nil {
		return err
	}
	defer stop()
	return runHandoff(sb, []string{srv.url}, n, label, add)
}

func handoffThreeInstances(bin string, n int, add func(result)) error {
	redisURL, stopRedis, err := startRedisServer()
	if err != nil {
		return err
	}
	defer stopRedis()
	opts, env := handoffSetup()
	sb := sandbox.New(opts)
	if err := sb.Start(); err != nil {
		return err
	}
	defer func() { _ = sb.Close() }()
	var urls []string
	for range 3 {
		// The webhooks' dedupe marks are in Redis; no connections database.
		s, err := startServer(bin, sb, append(env, "REDIS_URL="+redisURL, "CLUSTER_SIZE=3", "DATABASE_URL=memory")...)
		if err != nil {
			return err
		}
		defer s.stop()
		urls = append(urls, s.url)
	}
	return runHandoff(sb, urls, n, "3 instances on Redis", add)
}

// runHandoff sets up n followed meetings with the webhooks sent to urls[0]
// and bot i on urls[i mod len], has every holder leave, and reports.
func runHandoff(sb *sandbox.Sandbox, urls []string, n int, label string, add func(result)) error {
	sb.SetWebhook(urls[0]+"/api/webhooks/zoom", benchWebhookSecret)
	sb.SetWebhookRetryDelays(nil)
	cands, err := handoffMeetings(sb, n)
	if err != nil {
		return err
	}
	bots, err := followBots(urls, cands)
	defer closeClients(bots)
	if err != nil {
		return err
	}
	before, hist0 := sb.Stats(), deliveryHistOf(urls)
	if err := holdersLeave(sb, cands); err != nil {
		return err
	}
	got, handed := collectHandoffs(bots, cands)
	after, hist := sb.Stats(), deliveryHistOf(urls)
	lat := leftToOBF(sb, cands, got)
	calls := after.APICalls - before.APICalls
	add(result{name: fmt.Sprintf("hand-off, %s: %d bots following, holders leave within 1 s", label, n),
		value:  fmt.Sprintf("%d of %d handed to the next present candidate", handed, n),
		target: "every one"})
	add(result{name: fmt.Sprintf("hand-off, %s: participant_left sent → bot holds the next OBF", label),
		value: fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms (server's own measure, arrival → handed over: %s)",
			ms(pct(lat, .5)), ms(pct(lat, .99)), ms(pct(lat, 1)), hist.since(hist0)),
		target: "p99 < 100 ms on one instance"})
	add(result{name: fmt.Sprintf("hand-off, %s: Zoom user-token calls per hand-off", label),
		value:  fmt.Sprintf("%.2f (%d calls for %d hand-offs)", float64(calls)/float64(max(handed, 1)), calls, handed),
		target: "1.0"})
	if handed != n {
		return fmt.Errorf("%d of %d hand-offs delivered", handed, n)
	}
	return nil
}

// handoffMeetingOf is meeting i's number.
func handoffMeetingOf(i int) string { return fmt.Sprintf("%d", 920000000+i) }

// handoffMeetings creates n meetings, meeting i with 2 or 3 candidates
// (cands[i], in order of preference) who all join it, and waits for the
// webhooks to go out.
func handoffMeetings(sb *sandbox.Sandbox, n int) ([][]string, error) {
	cands := make([][]string, n)
	for i := range n {
		if _, err := sb.CreateMeeting("host@example.com", handoffMeetingOf(i)); err != nil {
			return nil, err
		}
		for j := range 2 + i%2 {
			cands[i] = append(cands[i], fmt.Sprintf("cand%04d-%d@example.com", i, j))
			if _, err := sb.AddParticipant(handoffMeetingOf(i), cands[i][j]); err != nil {
				return nil, err
			}
		}
	}
	if !sb.WebhooksIdle(60 * time.Second) {
		return nil, errors.New("the sandbox's webhooks did not go out")
	}
	time.Sleep(500 * time.Millisecond) // the relay to the other instances
	return cands, nil
}

// followBots connects a bot per meeting, 64 at once, bot i (an admin
// caller of its own) on urls[i mod len]; each follows its meeting with its
// candidates and must hold the first one's OBF. The bots connected are
// answered even with an error.
func followBots(urls []string, cands [][]string) ([]*rawclient.Client, error) {
	bots := make([]*rawclient.Client, len(cands))
	var wg sync.WaitGroup
	var failure atomic.Value
	sem := make(chan struct{}, 64)
	for i := range cands {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, _, err := participant(urls[i%len(urls)], callerJWT(fmt.Sprintf("bot%04d@example.com", i), "admin"))
			if err != nil {
				failure.Store(err)
				return
			}
			bots[i] = c
			if err := follow(c, i, cands[i]); err != nil {
				failure.Store(err)
			}
		})
	}
	wg.Wait()
	err, _ := failure.Load().(error)
	return bots, err
}

// follow sends bot i's meeting:await and waits for its first OBF, that of
// cands[0]. An instance that has not yet heard of the meeting (presence
// unknown, which ends a socket's await) is asked again.
func follow(c *rawclient.Client, i int, cands []string) error {
	var body map[string]any
	for try := 0; try < 50; try++ {
		args, err := c.EmitAck("meeting:await", map[string]any{"meetingId": handoffMeetingOf(i), "onBehalfOf": cands,
			"follow": true, "timeoutSeconds": 600}, 30*time.Second)
		if err != nil || len(args) == 0 {
			return fmt.Errorf("await %d: %v", i, err)
		}
		body = nil
		_ = json.Unmarshal(args[0], &body)
		if body["presence"] != "unknown" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if body["presence"] != "present" {
		return fmt.Errorf("await %d: %v", i, body)
	}
	e, ok := c.WaitEvent("meeting:credentials", 30*time.Second)
	if !ok {
		return fmt.Errorf("bot %d: no first OBF", i)
	}
	var first map[string]any
	if len(e.Args) > 0 {
		_ = json.Unmarshal(e.Args[0], &first)
	}
	if first["participantUserId"] != cands[0] {
		return fmt.Errorf("bot %d: first OBF for %v, want %s", i, first["participantUserId"], cands[0])
	}
	return nil
}

// holdersLeave takes each meeting's first candidate (the holder) out of
// it, the departures evenly spread over one second.
func holdersLeave(sb *sandbox.Sandbox, cands [][]string) error {
	n := len(cands)
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(n))); d > 0 {
			time.Sleep(d)
		}
		if _, err := sb.RemoveParticipant(handoffMeetingOf(i), cands[i][0]); err != nil {
			return err
		}
	}
	return nil
}

// collectHandoffs waits, 60 s in all, for each bot's hand-off: a
// meeting:credentials with an OBF for cands[i][1] and handoff.from the
// holder who left. It answers when each arrived (zero: never) and how many.
func collectHandoffs(bots []*rawclient.Client, cands [][]string) (got []time.Time, handed int) {
	got = make([]time.Time, len(bots))
	deadline := time.Now().Add(60 * time.Second)
	for i, c := range bots {
		e, ok := c.WaitEvent("meeting:credentials", max(time.Until(deadline), time.Millisecond))
		if !ok {
			continue
		}
		var body struct {
			ParticipantUserID string `json:"participantUserId"`
			OBFToken          string `json:"obfToken"`
			Handoff           struct {
				From string `json:"from"`
			} `json:"handoff"`
		}
		if len(e.Args) > 0 {
			_ = json.Unmarshal(e.Args[0], &body)
		}
		if body.OBFToken != "" && body.ParticipantUserID == cands[i][1] && body.Handoff.From == cands[i][0] {
			got[i] = e.At
			handed++
		}
	}
	return got, handed
}

// leftToOBF is, for each hand-off delivered, the time from the sandbox
// sending the holder's participant_left webhook to the bot holding the
// next OBF.
func leftToOBF(sb *sandbox.Sandbox, cands [][]string, got []time.Time) []time.Duration {
	sent := map[string]time.Time{}
	for _, d := range sb.WebhookDeliveries() {
		if d.Event == "meeting.participant_left" && d.Status == 200 {
			sent[d.Meeting+" "+d.User] = d.SentAt
		}
	}
	var lat []time.Duration
	for i := range cands {
		if s, ok := sent[handoffMeetingOf(i)+" "+cands[i][0]]; ok && !got[i].IsZero() {
			lat = append(lat, got[i].Sub(s))
		}
	}
	return lat
}

// deliveryHist is the server's own histogram of arrival → handed over
// (presence_await_delivery_seconds) summed over the instances: its sum,
// its count, and how many took 64 ms or less.
type deliveryHist struct{ sum, count, within64 float64 }

func deliveryHistOf(urls []string) deliveryHist {
	var h deliveryHist
	for _, u := range urls {
		body, err := getText(u + "/metrics")
		if err != nil {
			continue
		}
		h.sum += metricSample(body, "presence_await_delivery_seconds_sum")
		h.count += metricSample(body, "presence_await_delivery_seconds_count")
		h.within64 += metricSample(body, `presence_await_delivery_seconds_bucket{le="0.064"}`)
	}
	return h
}

// since describes the deliveries after h0: their mean, and how many took
// longer than 64 ms.
func (h deliveryHist) since(h0 deliveryHist) string {
	n := h.count - h0.count
	if n <= 0 {
		return "?"
	}
	return fmt.Sprintf("mean %.1f ms, %.0f over 64 ms", (h.sum-h0.sum)/n*1000, n-(h.within64-h0.within64))
}
