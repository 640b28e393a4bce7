package wire

import (
	"encoding/json"
	"fmt"

	"github.com/zoomtoken/tokenserver/services/awaits"

	"github.com/zoomtoken/tokenserver/internal/jsonbody"
	"github.com/zoomtoken/tokenserver/internal/presence"
	"github.com/zoomtoken/tokenserver/internal/zoom"
)

// Candidates (docs/API.md, "Presence"): a join or an await names 1 to
// awaits.MaxCandidates users in order of preference. Duplicates collapse
// to their first place; over the limit, or none, is a 400.

// candidates reads a list of candidates: 1 to awaits.MaxCandidates user
// ids, duplicates dropped (the first place counts).
func (f *fields) candidates(name string, raw json.RawMessage) []zoom.UserID {
	return f.userList(name, raw, 1)
}

// excluded reads excludeUserIds: 0 to awaits.MaxCandidates user ids.
func (f *fields) excluded(name string, raw json.RawMessage) []zoom.UserID {
	if !jsonbody.Present(raw) {
		return nil
	}
	return f.userList(name, raw, 0)
}

func (f *fields) userList(name string, raw json.RawMessage, least int) []zoom.UserID {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		f.Add(name, "must be an array of Zoom user ids or emails")
		return nil
	}
	if len(items) < least || len(items) > awaits.MaxCandidates {
		f.Add(name, fmt.Sprintf("must list %d to %d users (it lists %d)", least, awaits.MaxCandidates, len(items)))
		return nil
	}
	out := make([]zoom.UserID, 0, len(items))
	for i, it := range items {
		u := f.userID(fmt.Sprintf("%s[%d]", name, i), it)
		if u.IsZero() || sameAny(out, u) {
			continue
		}
		out = append(out, u)
	}
	return out
}

func sameAny(list []zoom.UserID, u zoom.UserID) bool {
	for _, v := range list {
		if v.Same(u) {
			return true
		}
	}
	return false
}

// isArray: the raw value is a JSON array.
func isArray(raw json.RawMessage) bool {
	for _, b := range raw {
		switch b {
		case ' ', '\t', '\n', '\r':
			continue
		case '[':
			return true
		}
		return false
	}
	return false
}

// Candidate is one candidate's presence in an answer.
type Candidate struct {
	UserID   zoom.UserID    `json:"userId"`
	Presence presence.State `json:"presence"`
	Excluded bool           `json:"excluded,omitempty"`
}

// Handoff says why credentials replace earlier ones.
type Handoff struct {
	From   zoom.UserID `json:"from"`
	Reason string      `json:"reason"`
}

// CandidateJoinResponse is the join answer for the chosen candidate, with
// every candidate's presence and, after a hand-off, what it follows.
type CandidateJoinResponse struct {
	JoinResponse
	Candidates []Candidate `json:"candidates,omitempty"`
	Handoff    *Handoff    `json:"handoff,omitempty"`
}

// NewCandidateJoinResponse builds the answer to a join or await with candidates.
func NewCandidateJoinResponse(c awaits.AwaitCredentials) CandidateJoinResponse {
	r := CandidateJoinResponse{JoinResponse: NewJoinResponse(c.Minted)}
	for _, p := range c.Candidates {
		r.Candidates = append(r.Candidates, Candidate{UserID: p.UserID, Presence: p.Presence, Excluded: p.Excluded})
	}
	if c.Handoff != nil {
		r.Handoff = &Handoff{From: c.Handoff.From, Reason: c.Handoff.Reason}
	}
	return r
}
