package services

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"

	"github.com/zoomtoken/tokenserver/internal/store"
)

// The events for the app's back-end (EVENTS_URL): a connection made, lost
// (refresh refused, deauthorized at Zoom, its key missing), or deleted here.
const (
	EventConnected    = "connection.connected"
	EventLost         = "connection.lost"
	EventDisconnected = "connection.disconnected"
)

// eventData is an event's data: identifiers and state, never a token.
type eventData struct {
	Sub        string `json:"sub"`
	ZoomUserID string `json:"zoomUserId,omitempty"`
	Email      string `json:"email,omitempty"`
	AccountID  string `json:"accountId,omitempty"`
	Status     string `json:"status"`
	Reason     string `json:"reason,omitempty"`
}

// withEvent returns ctx carrying the event of typ about c, for the store
// write that makes the change (store.WithEvent): the outbox records it in
// the same transaction. With events off, ctx as it is.
func (cs *Connections) withEvent(ctx context.Context, typ string, c store.Connection, reason string) context.Context {
	if !cs.cfg.RecordEvents {
		return ctx
	}
	status := string(store.StatusDisconnected)
	if typ == EventConnected {
		status = string(store.StatusConnected)
	}
	data, _ := json.Marshal(eventData{Sub: c.Sub, ZoomUserID: c.ZoomUserID, Email: c.Email, AccountID: c.AccountID,
		Status: status, Reason: reason})
	now := cs.now()
	return store.WithEvent(ctx, store.Event{ID: newEventID(), Type: typ, Sub: c.Sub, CreatedAt: now, NextAt: now, Data: data})
}

// newEventID is a random event id, evt_ and 32 hex digits.
func newEventID() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails: it crashes the program instead
	return "evt_" + hex.EncodeToString(b)
}

// kick tells the deliverer an event was recorded, so it need not wait for its next poll.
func (cs *Connections) kick() {
	if cs.cfg.RecordEvents && cs.cfg.EventRecorded != nil {
		cs.cfg.EventRecorded()
	}
}

// KickEvents tells the deliverer an event was recorded elsewhere (an
// rtms.unassigned), when events are on.
func (cs *Connections) KickEvents() { cs.kick() }
