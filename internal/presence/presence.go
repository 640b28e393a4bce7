// Package presence keeps who is in which Zoom meeting now, as Zoom's meeting
// webhooks tell it (docs/ZOOM.md, "Webhooks"): a meeting is known once an
// event came for it, and holds the participants in it, each with every
// identifier Zoom gave (its Zoom user id, participant_user_id, email). It is
// what lets a bot wait for its user instead of retrying a join.
//
// Store is the interface, small on purpose (as centrifuge's PresenceManager):
// Memory keeps one process's view; a store shared by several instances (over
// Redis) implements the same methods.
package presence

import (
	"context"
	"strings"
	"time"

	"github.com/zoomtoken/tokenserver/internal/zoom"
)

// State is what the store knows of a user in a meeting.
type State string

// The states, as meeting:awaiting says them.
const (
	// Present: the user is in the meeting now.
	Present State = "present"
	// Waiting: events come for the meeting, and the user is not in it.
	Waiting State = "waiting"
	// Unknown: no event came for the meeting (not hosted in an account that
	// sends this server its events, or not started since the server started).
	Unknown State = "unknown"
	// Ended: the meeting ended (an await that follows a meeting ends with it).
	Ended State = "ended"
)

// Participant is one participant's session in a meeting.
type Participant struct {
	// Sessions name this session: Zoom's per-meeting user_id and its
	// participant_uuid. A participant_left names the session it ends.
	Sessions []string
	// IDs name the user: the Zoom user id, participant_user_id, the email
	// (ASCII lower case). An await matches on any of them.
	IDs []string
	At  time.Time // when it joined or left
}

// Store keeps presence. Every method is safe for concurrent use. Meeting
// numbers are digits (zoom.MeetingID.String()); IDs are compared as Key
// makes them.
type Store interface {
	// Started records that a meeting started: it is known from now on.
	Started(ctx context.Context, meeting string, at time.Time) error
	// Joined records a participant in a meeting (the meeting becomes known).
	Joined(ctx context.Context, meeting string, p Participant) error
	// Left removes the session p names (by Sessions, else by IDs) and returns
	// the IDs of what was removed.
	Left(ctx context.Context, meeting string, p Participant) ([]string, error)
	// Ended records that a meeting ended: everyone left. It returns the IDs
	// of those who were in it. The meeting stays known.
	Ended(ctx context.Context, meeting string, at time.Time) ([]string, error)
	// Lookup says whether any of ids is in the meeting.
	Lookup(ctx context.Context, meeting string, ids []string) (State, error)
}

// Key is an identifier as the store compares it: emails in ASCII lower case
// (as Zoom compares them), anything else as it is.
func Key(id string) string {
	id = strings.TrimSpace(id)
	if id == "" {
		return ""
	}
	return zoom.UserKey(id)
}
