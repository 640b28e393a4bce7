package store

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Status is the state of a connection.
type Status string

const (
	// StatusConnected: the grant is usable.
	StatusConnected Status = "connected"
	// StatusDisconnected: the grant died (Reason says why); the user must
	// connect again.
	StatusDisconnected Status = "disconnected"
)

// Connection is one user's Zoom grant as stored. Stores assign Version;
// any value a caller sets there is ignored on Put.
type Connection struct {
	Sub            string // our caller's identity: the owner of the grant
	ZoomUserID     string
	Email          string
	AccountID      string
	Status         Status
	Reason         string    // why it was disconnected; empty while connected
	ConnectedAt    time.Time // when the user granted access
	RefreshedAt    time.Time // when the refresh token was last replaced
	DisconnectedAt time.Time // zero while connected
	Scopes         []string
	Refresh        Sealed // the refresh token, sealed for Sub; zero once disconnected
	Version        int64  // changes on every write; compared by SwapRefresh and MarkDisconnected
	// LeaseUntil: a refresher claimed the refresh token (Claim) and may
	// spend it until then; zero when no one holds it. Put, SwapRefresh,
	// Release and MarkDisconnected clear it; any value set on Put is ignored.
	LeaseUntil time.Time
}

// String shows identifiers and state, never the sealed token.
func (c Connection) String() string {
	return fmt.Sprintf("connection(sub=%q zoomUser=%q account=%q status=%s version=%d %s)",
		c.Sub, c.ZoomUserID, c.AccountID, c.Status, c.Version, c.Refresh)
}

// GoString keeps %#v from printing the sealed bytes.
func (c Connection) GoString() string { return c.String() }

// LogValue logs identifiers and state, never the sealed token.
func (c Connection) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("sub", c.Sub),
		slog.String("zoomUserId", c.ZoomUserID),
		slog.String("accountId", c.AccountID),
		slog.String("status", string(c.Status)),
		slog.Int64("version", c.Version),
	}
	if c.Reason != "" {
		attrs = append(attrs, slog.String("reason", c.Reason))
	}
	if c.Refresh.KeyID != "" {
		attrs = append(attrs, slog.String("keyId", c.Refresh.KeyID))
	}
	return slog.GroupValue(attrs...)
}

// clone returns a copy that shares no memory with c.
func (c Connection) clone() Connection {
	if c.Scopes != nil {
		c.Scopes = append([]string(nil), c.Scopes...)
	}
	c.Refresh = c.Refresh.clone()
	return c
}

// prepare checks c before it is stored and normalises its times to UTC.
func (c Connection) prepare(now time.Time) (Connection, error) {
	if c.Sub == "" {
		return c, fmt.Errorf("%w: empty sub", ErrInvalid)
	}
	for _, s := range c.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			return c, fmt.Errorf("%w: scope %q is empty or has white space", ErrInvalid, s)
		}
	}
	switch c.Status {
	case StatusConnected:
		if c.Refresh.KeyID == "" || len(c.Refresh.Ciphertext) == 0 {
			return c, fmt.Errorf("%w: a connected connection needs a sealed refresh token", ErrInvalid)
		}
		c.Reason, c.DisconnectedAt = "", time.Time{}
	case StatusDisconnected:
		if c.Reason == "" {
			return c, fmt.Errorf("%w: a disconnected connection needs a reason", ErrInvalid)
		}
		if c.DisconnectedAt.IsZero() {
			c.DisconnectedAt = now
		}
		c.Refresh = Sealed{}
	default:
		return c, fmt.Errorf("%w: status %q", ErrInvalid, c.Status)
	}
	if c.ConnectedAt.IsZero() {
		c.ConnectedAt = now
	}
	if c.RefreshedAt.IsZero() {
		c.RefreshedAt = c.ConnectedAt
	}
	c.ConnectedAt, c.RefreshedAt, c.DisconnectedAt = utc(c.ConnectedAt), utc(c.RefreshedAt), utc(c.DisconnectedAt)
	c.LeaseUntil = time.Time{}
	return c.clone(), nil
}

// utc drops the monotonic reading and the location, so a time reads back
// from any store equal to what was written.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Round(0).UTC()
}

// ErrInvalid: a connection or argument was refused before being stored.
var ErrInvalid = errors.New("invalid connection")
