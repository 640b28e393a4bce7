package sandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/webhooks"
)

// The sandbox's meetings send Zoom's events, signed as Zoom signs them,
// only for meetings of its account, in order.
func TestWebhooksSentSigned(t *testing.T) {
	const sec = "sandbox-webhook-secret"
	v := webhooks.NewVerifier([]secret.Value{secret.New(sec)})
	var mu sync.Mutex
	var got []webhooks.Event
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, _, err := v.Verify(r.Header.Get("x-zm-request-timestamp"), r.Header.Get("x-zm-signature"), body); err != nil {
			w.WriteHeader(401)
			return
		}
		e, err := webhooks.Parse(body)
		if err != nil {
			w.WriteHeader(400)
			return
		}
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "ok"})
	}))
	defer srv.Close()
	sb := New(Options{})
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	sb.SetWebhook(srv.URL, sec)
	for _, host := range []string{"host@example.com", "other@" + PartnerDomain} {
		number := map[string]string{"host@example.com": "123456789", "other@" + PartnerDomain: "223456789"}[host]
		if _, err := sb.CreateMeeting(host, number); err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{host, "pat@example.com"} {
			if _, err := sb.AddParticipant(number, u); err != nil {
				t.Fatal(err)
			}
		}
		_, _ = sb.RemoveParticipant(number, "pat@example.com")
		_, _ = sb.RemoveParticipant(number, host)
	}
	if !sb.WebhooksIdle(5 * time.Second) {
		t.Fatal("not sent")
	}
	mu.Lock()
	defer mu.Unlock()
	var names []string
	for _, e := range got {
		if e.Meeting.Number != "123456789" {
			t.Fatalf("an event for a meeting of an account that did not install the app: %+v", e)
		}
		names = append(names, e.Name)
	}
	want := []string{"meeting.started", "meeting.participant_joined", "meeting.participant_joined",
		"meeting.participant_left", "meeting.participant_left", "meeting.ended"}
	if len(names) != len(want) {
		t.Fatalf("events %v", names)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("events %v", names)
		}
	}
	j, l := got[2].Participant, got[3].Participant
	if j.Email != "pat@example.com" || j.ID != UserID("pat@example.com") || j.UserID == "" || j.UserID != l.UserID {
		t.Fatalf("participant: joined %+v, left %+v", j, l)
	}
	for _, d := range sb.WebhookDeliveries() {
		if d.Status != 200 {
			t.Fatalf("delivery %+v", d)
		}
	}
}
