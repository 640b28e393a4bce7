package wire

import (
	"time"

	"github.com/zoomtoken/tokenserver/internal/store"
)

// Connection is a user's OAuth connection as callers see it: never a token.
type Connection struct {
	Sub            string     `json:"sub"`
	ZoomUserID     string     `json:"zoomUserId"`
	Email          string     `json:"email"`
	AccountID      string     `json:"accountId"`
	Status         string     `json:"status"`
	Reason         string     `json:"reason,omitempty"`
	ConnectedAt    time.Time  `json:"connectedAt"`
	RefreshedAt    *time.Time `json:"refreshedAt"`
	DisconnectedAt *time.Time `json:"disconnectedAt,omitempty"`
}

// NewConnection shows c.
func NewConnection(c store.Connection) Connection {
	v := Connection{Sub: c.Sub, ZoomUserID: c.ZoomUserID, Email: c.Email, AccountID: c.AccountID,
		Status: string(c.Status), Reason: c.Reason, ConnectedAt: c.ConnectedAt.UTC()}
	if !c.RefreshedAt.IsZero() {
		t := c.RefreshedAt.UTC()
		v.RefreshedAt = &t
	}
	if !c.DisconnectedAt.IsZero() {
		t := c.DisconnectedAt.UTC()
		v.DisconnectedAt = &t
	}
	return v
}

// Connections answers GET /api/connections.
type Connections struct {
	Success     bool         `json:"success"`
	Connections []Connection `json:"connections"`
}

// NewConnections shows a list.
func NewConnections(cs []store.Connection) Connections {
	r := Connections{Success: true, Connections: make([]Connection, 0, len(cs))}
	for _, c := range cs {
		r.Connections = append(r.Connections, NewConnection(c))
	}
	return r
}
