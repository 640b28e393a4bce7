package rtms

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/zoomtoken/tokenserver/internal/store"
)

// EventRTMSUnassigned is the event for the app's back-end about a stream no
// worker took: once per stream, UnassignedAfter (5 s) after its
// rtms_started, when it is still pending with no worker holding it or
// offered it. Recorded by the instance that admitted the webhook; in a
// cluster only when that instance can claim the stream (no other instance
// is handing it to a worker).
const EventRTMSUnassigned = "rtms.unassigned"

// RTMSUnassigned is rtms.unassigned's data: identifiers, never a
// signature or a URL.
type RTMSUnassigned struct {
	StreamID     string      `json:"streamId"`
	Product      RTMSProduct `json:"product"`
	MeetingUUID  string      `json:"meetingUuid,omitempty"`
	SessionID    string      `json:"sessionId,omitempty"`
	MeetingID    string      `json:"meetingId,omitempty"`
	PendingSince time.Time   `json:"pendingSince"`
	// Reason: "no_worker" (none connected) or "no_capacity" (every one
	// connected is full, or failed the stream).
	Reason string `json:"reason"`
}

// watchUnassigned starts st's UnassignedAfter wait, for a stream this
// instance admitted. r.mu held.
func (r *RTMS) watchUnassigned(st *rtmsStream) {
	if r.cfg.Unassigned == nil || st.reported {
		return
	}
	st.unassigned = time.AfterFunc(r.cfg.UnassignedAfter, func() { r.unassignedDue(st) })
}

// unassignedDue reports st when it is still pending with no worker.
func (r *RTMS) unassignedDue(st *rtmsStream) {
	r.mu.Lock()
	id := st.view.StreamID
	if r.streams[id] != st || st.reported || st.view.State != RTMSPending || st.holder != nil || st.offered != nil ||
		st.claiming || st.waiting {
		r.mu.Unlock()
		return
	}
	st.reported = true
	reason := "no_capacity"
	if len(r.workers) == 0 {
		reason = "no_worker"
	}
	u := RTMSUnassigned{StreamID: id, Product: st.view.Product, MeetingUUID: st.view.MeetingUUID,
		SessionID: st.view.SessionID, MeetingID: st.view.MeetingID, PendingSince: st.pendingSince.UTC(), Reason: reason}
	claimed := st.claimed
	r.mu.Unlock()
	if r.cfg.Claims != nil && !claimed && !r.cfg.Claims.Claim(id) {
		return // another instance holds the stream: it is handing it to a worker
	}
	if r.cfg.Claims != nil && !claimed {
		r.mu.Lock()
		if r.streams[id] == st && st.view.State == RTMSPending && !st.claiming {
			st.claimed, st.elsewhere = true, false // let go at the next ClaimRetry if no worker here takes it
		} else {
			st = nil
		}
		r.mu.Unlock()
		if st == nil {
			r.cfg.Claims.Release(id)
		}
	}
	r.cfg.Unassigned(u)
}

// stopUnassigned ends st's wait. r.mu held.
func (st *rtmsStream) stopUnassigned() {
	if st.unassigned != nil {
		st.unassigned.Stop()
		st.unassigned = nil
	}
}

// RecordRTMSUnassigned returns the RTMSConfig.Unassigned that records each
// rtms.unassigned in outbox (signed, retried, at least once, by the events'
// deliverer), then calls kick. The event's ordering key is "rtms:<streamId>"
// and its id is derived from the stream's id, so the same stream's event has
// the same id wherever and however often it is recorded.
func RecordRTMSUnassigned(outbox store.Outbox, kick func(), log *slog.Logger, now func() time.Time) func(RTMSUnassigned) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(u RTMSUnassigned) {
		data, _ := json.Marshal(u)
		sum := sha256.Sum256([]byte(EventRTMSUnassigned + "\x00" + u.StreamID))
		at := now()
		e := store.Event{ID: "evt_" + hex.EncodeToString(sum[:16]), Type: EventRTMSUnassigned, Sub: "rtms:" + u.StreamID,
			CreatedAt: at, NextAt: at, Data: data}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := outbox.RecordEvent(ctx, e)
		switch {
		case errors.Is(err, store.ErrEventExists):
		case err != nil:
			log.Error("events: rtms.unassigned could not be recorded", "stream", u.StreamID, "err", err)
		default:
			if kick != nil {
				kick()
			}
		}
	}
}
