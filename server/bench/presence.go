package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zoomtoken/tokenserver/realtime/rawclient"
	"github.com/zoomtoken/tokenserver/sandbox"
)

const benchWebhookSecret = "bench-webhook-secret-0123456789"

// presenceBench measures awaiting presence: n bots (sockets, each a
// participant's own token) await their users, spread over meetings of 100;
// the users then join their sandbox meetings within one second. The sandbox
// sends each join as a signed webhook; the time from the moment it sends the
// webhook to the moment the bot holds its OBF (meeting:credentials, with the
// SDK bundle) is the server's part: verification, presence, the wake-up, the
// mint against the sandbox on loopback (no added latency: Zoom's own latency
// is excluded) and the push.
func presenceBench(bin string, n int, add func(result)) error {
	sdkKey, sdkSecret := "bench-sdk-key", "bench-sdk-secret-0123456789abcdef"
	sb, srv, stop, err := harness(bin, sandbox.Options{SDKKey: sdkKey, SDKSecret: sdkSecret}, "AUTH_JWT_SECRET="+benchJWTSecret,
		"ZOOM_WEBHOOK_SECRETS="+benchWebhookSecret, "ZOOM_SDK_KEY="+sdkKey, "ZOOM_SDK_SECRET="+sdkSecret)
	if err != nil {
		return err
	}
	defer stop()
	sb.SetWebhook(srv.url+"/api/webhooks/zoom", benchWebhookSecret)
	sb.SetWebhookRetryDelays(nil)

	const perMeeting = 100
	meetings := (n + perMeeting - 1) / perMeeting
	meetingOf := func(i int) string { return fmt.Sprintf("%d", 910000000+i/perMeeting) }
	for m := range meetings {
		number := fmt.Sprintf("%d", 910000000+m)
		if _, err := sb.CreateMeeting("host@example.com", number); err != nil {
			return err
		}
		if _, err := sb.AddParticipant(number, "host@example.com"); err != nil { // meeting.started
			return err
		}
	}
	if !sb.WebhooksIdle(30 * time.Second) {
		return errors.New("the sandbox's webhooks did not go out")
	}

	users := make([]string, n)
	bots := make([]*rawclient.Client, n)
	var wg sync.WaitGroup
	var failure atomic.Value
	sem := make(chan struct{}, 64)
	for i := range n {
		users[i] = fmt.Sprintf("bot%05d@example.com", i)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c, _, err := participant(srv.url, jwtFor(users[i]))
			if err != nil {
				failure.Store(err)
				return
			}
			bots[i] = c
			args, err := c.EmitAck("meeting:await", map[string]any{"meetingId": meetingOf(i), "onBehalfOf": users[i], "timeoutSeconds": 300}, 30*time.Second)
			var body map[string]any
			if err == nil && len(args) > 0 {
				_ = json.Unmarshal(args[0], &body)
			}
			if err != nil || body["presence"] != "waiting" {
				failure.Store(fmt.Errorf("await %d: %v %v", i, err, body))
			}
		}(i)
	}
	wg.Wait()
	defer func() {
		for _, c := range bots {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err, _ := failure.Load().(error); err != nil {
		return err
	}

	// The users join within one second, evenly spread.
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(n))); d > 0 {
			time.Sleep(d)
		}
		if _, err := sb.AddParticipant(meetingOf(i), users[i]); err != nil {
			return err
		}
	}
	joinsTook := time.Since(start)
	got := make([]time.Time, n)
	delivered := 0
	deadline := time.Now().Add(60 * time.Second)
	for i, c := range bots {
		e, ok := c.WaitEvent("meeting:credentials", max(time.Until(deadline), time.Millisecond))
		if !ok {
			continue
		}
		var body map[string]any
		if len(e.Args) > 0 {
			_ = json.Unmarshal(e.Args[0], &body)
		}
		if s, _ := body["obfToken"].(string); s != "" && body["sdk"] != nil {
			got[i] = e.At
			delivered++
		}
	}
	sent := map[string]time.Time{}
	for _, d := range sb.WebhookDeliveries() {
		if d.Event == "meeting.participant_joined" && d.Status == 200 {
			sent[d.User] = d.SentAt
		}
	}
	var lat []time.Duration
	for i, u := range users {
		if s, ok := sent[u]; ok && !got[i].IsZero() {
			lat = append(lat, got[i].Sub(s))
		}
	}
	serverMean := "?"
	if body, err := getText(srv.url + "/metrics"); err == nil {
		sum, count := metricSample(body, "presence_await_delivery_seconds_sum"), metricSample(body, "presence_await_delivery_seconds_count")
		if count > 0 {
			serverMean = fmt.Sprintf("%.1f ms", sum/count*1000)
		}
	}
	add(result{name: fmt.Sprintf("presence: %d bots awaiting, their users join within %v", n, joinsTook.Round(time.Millisecond)),
		value:  fmt.Sprintf("%d of %d OBFs delivered", delivered, n),
		target: "every one"})
	add(result{name: "presence: webhook sent → bot holds its OBF",
		value: fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms (server's own measure, arrival → handed over: mean %s)",
			ms(pct(lat, .5)), ms(pct(lat, .99)), ms(pct(lat, 1)), serverMean),
		target: "p99 < 100 ms"})
	if delivered != n {
		return fmt.Errorf("%d of %d OBFs delivered", delivered, n)
	}
	return nil
}

func getText(u string) (string, error) {
	resp, err := http.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// metricSample reads an unlabelled sample of the Prometheus text format.
func metricSample(body, name string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			_, _ = fmt.Sscan(v, &f)
			return f
		}
	}
	return 0
}
