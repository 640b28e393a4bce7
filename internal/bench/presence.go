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

	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/realtime/rawclient"
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
	if err := startPresenceMeetings(sb, n); err != nil {
		return err
	}
	users, bots, err := awaitBots(srv.url, n)
	defer closeClients(bots)
	if err != nil {
		return err
	}
	joinsTook, err := joinWithinASecond(sb, users)
	if err != nil {
		return err
	}
	got, delivered := collectOBFs(bots)
	lat := webhookToOBF(sb, users, got)
	add(result{name: fmt.Sprintf("presence: %d bots awaiting, their users join within %v", n, joinsTook.Round(time.Millisecond)),
		value:  fmt.Sprintf("%d of %d OBFs delivered", delivered, n),
		target: "every one"})
	add(result{name: "presence: webhook sent → bot holds its OBF",
		value: fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms (server's own measure, arrival → handed over: mean %s)",
			ms(pct(lat, .5)), ms(pct(lat, .99)), ms(pct(lat, 1)), awaitDeliveryMean(srv.url)),
		target: "p99 < 100 ms"})
	if delivered != n {
		return fmt.Errorf("%d of %d OBFs delivered", delivered, n)
	}
	return nil
}

// presencePerMeeting is how many bots await in one meeting.
const presencePerMeeting = 100

// presenceMeetingOf is bot i's meeting.
func presenceMeetingOf(i int) string { return fmt.Sprintf("%d", 910000000+i/presencePerMeeting) }

// startPresenceMeetings creates the meetings of n bots and starts each
// (its host joins: meeting.started), then waits for those webhooks.
func startPresenceMeetings(sb *sandbox.Sandbox, n int) error {
	meetings := (n + presencePerMeeting - 1) / presencePerMeeting
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
	return nil
}

// awaitBots connects n bots, 64 at once, each awaiting its own user (bot i
// for users[i]). The bots connected are answered even with an error.
func awaitBots(url string, n int) (users []string, bots []*rawclient.Client, err error) {
	users = make([]string, n)
	bots = make([]*rawclient.Client, n)
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
			c, _, err := participant(url, jwtFor(users[i]))
			if err != nil {
				failure.Store(err)
				return
			}
			bots[i] = c
			args, err := c.EmitAck("meeting:await", map[string]any{"meetingId": presenceMeetingOf(i), "onBehalfOf": users[i], "timeoutSeconds": 300}, 30*time.Second)
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
	err, _ = failure.Load().(error)
	return users, bots, err
}

func closeClients(clients []*rawclient.Client) {
	for _, c := range clients {
		if c != nil {
			c.Close()
		}
	}
}

// joinWithinASecond has the users join their meetings within one second,
// evenly spread, and answers how long that took.
func joinWithinASecond(sb *sandbox.Sandbox, users []string) (time.Duration, error) {
	n := len(users)
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(n))); d > 0 {
			time.Sleep(d)
		}
		if _, err := sb.AddParticipant(presenceMeetingOf(i), users[i]); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// collectOBFs waits, 60 s in all, for each bot's meeting:credentials with
// an OBF and the SDK bundle: when each arrived (zero: never), and how many.
func collectOBFs(bots []*rawclient.Client) (got []time.Time, delivered int) {
	got = make([]time.Time, len(bots))
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
	return got, delivered
}

// webhookToOBF is, for each user whose bot got its OBF, the time from the
// sandbox sending the participant_joined webhook to the bot holding it.
func webhookToOBF(sb *sandbox.Sandbox, users []string, got []time.Time) []time.Duration {
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
	return lat
}

// awaitDeliveryMean is the server's own mean of arrival → handed over,
// from its metrics; "?" when it cannot be read.
func awaitDeliveryMean(url string) string {
	body, err := getText(url + "/metrics")
	if err != nil {
		return "?"
	}
	sum, count := metricSample(body, "presence_await_delivery_seconds_sum"), metricSample(body, "presence_await_delivery_seconds_count")
	if count > 0 {
		return fmt.Sprintf("%.1f ms", sum/count*1000)
	}
	return "?"
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
