package awaits

import (
	"context"
	"fmt"
	"strings"

	"github.com/zoomtoken/tokenserver/services"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/presence"
	"github.com/zoomtoken/tokenserver/internal/zoom"
)

// Keep the bot in (docs/API.md, "Presence"): Zoom admits an OBF's bot only
// while the OBF's user is in the meeting, and removes it when that user
// leaves. A bot names candidates, in order of preference; the server mints
// for the first one present, and, when the await follows the meeting, for
// the next one present the moment that user leaves.

// MaxCandidates is the most candidates one request may name.
const MaxCandidates = 50

// HandoffUserLeft is the reason of a hand-off: the user the bot held the OBF
// of left the meeting.
const HandoffUserLeft = "user_left"

// Handoff says why credentials replace earlier ones: the user whose OBF the
// bot held (From) left.
type Handoff struct {
	From   zoom.UserID
	Reason string
}

// CandidatePresence is one candidate and its presence when the choice was made.
type CandidatePresence struct {
	UserID   zoom.UserID
	Presence presence.State
	Excluded bool // named in excludeUserIds: never chosen
}

// AwaitCredentials is an OBF an await (or a join with candidates) hands
// over: the chosen user's token, the hand-off it follows, if any, and every
// candidate's presence when it was chosen (nil for a single user).
type AwaitCredentials struct {
	services.Minted
	Handoff    *Handoff
	Candidates []CandidatePresence
}

// candidate is one user an await may mint for, with every identifier of
// the user (presence.Key'd).
type candidate struct {
	user     zoom.UserID
	ids      []string
	excluded bool
}

// matches reports whether any of ids (as events give them) names c.
func (c candidate) matches(ids []string) bool {
	for _, id := range ids {
		if contains(c.ids, presence.Key(id)) {
			return true
		}
	}
	return false
}

// candidates checks and expands the users named: duplicates collapse (the
// first place counts), each must be one the caller may join as (403 naming
// the first that is not), and at least one must be left after exclusion.
func (a *Awaits) candidates(ctx context.Context, caller services.Identity, users, exclude []zoom.UserID, listed bool) ([]candidate, error) {
	return a.expand(ctx, users, exclude, func(u zoom.UserID) error { return services.AuthorizeCandidate(caller, u, listed) })
}

// expand checks and expands the users named, each passed to authorize
// first (nil: every user is allowed).
func (a *Awaits) expand(ctx context.Context, users, exclude []zoom.UserID, authorize func(zoom.UserID) error) ([]candidate, error) {
	if len(users) == 0 || len(users) > MaxCandidates {
		return nil, apperr.InvalidInput("await", apperr.FieldError{Field: "participantUserIds",
			Reason: fmt.Sprintf("must name 1 to %d candidates", MaxCandidates)})
	}
	var out []candidate
	left := 0
	for _, u := range users {
		if hasUser(out, u) {
			continue
		}
		if authorize != nil {
			if err := authorize(u); err != nil {
				return nil, err
			}
		}
		c := candidate{user: u, ids: a.identifiers(ctx, u), excluded: sameAny(exclude, u)}
		if !c.excluded {
			left++
		}
		out = append(out, c)
	}
	if left == 0 {
		return nil, apperr.InvalidInput("await", apperr.FieldError{Field: "excludeUserIds",
			Reason: "excludes every candidate: leave at least one to join as"})
	}
	return out, nil
}

func hasUser(cs []candidate, u zoom.UserID) bool {
	for _, c := range cs {
		if c.user.Same(u) {
			return true
		}
	}
	return false
}

func sameAny(list []zoom.UserID, u zoom.UserID) bool {
	for _, v := range list {
		if v.Same(u) {
			return true
		}
	}
	return false
}

// identifiers are the presence keys of a user: the id given and those its
// connection knows.
func (a *Awaits) identifiers(ctx context.Context, u zoom.UserID) []string {
	ids := []string{presence.Key(u.String())}
	if a.cfg.Identifiers != nil {
		for _, id := range a.cfg.Identifiers.Identities(ctx, u) {
			if k := presence.Key(id); k != "" && !contains(ids, k) {
				ids = append(ids, k)
			}
		}
	}
	return ids
}

// snapshot is each candidate's presence, in the candidates' order.
type snapshot []presence.State

func (a *Awaits) lookupAll(ctx context.Context, meeting string, cs []candidate) (snapshot, error) {
	out := make(snapshot, len(cs))
	for i, c := range cs {
		st, err := a.cfg.Presence.Lookup(ctx, meeting, c.ids)
		if err != nil {
			return nil, err
		}
		out[i] = st
	}
	return out, nil
}

// known: events come for the meeting.
func (s snapshot) known() bool { return len(s) > 0 && s[0] != presence.Unknown }

// first is the first candidate present and not excluded, other than skip;
// -1 when none is.
func (s snapshot) first(cs []candidate, skip int) int {
	for i, st := range s {
		if i != skip && st == presence.Present && !cs[i].excluded {
			return i
		}
	}
	return -1
}

// firstListed is the first candidate not excluded: the choice when presence
// is unknown.
func firstListed(cs []candidate) int {
	for i, c := range cs {
		if !c.excluded {
			return i
		}
	}
	return 0
}

// overall is what meeting:awaiting says: present when a candidate is.
func (s snapshot) overall(cs []candidate) presence.State {
	switch {
	case !s.known():
		return presence.Unknown
	case s.first(cs, -1) >= 0:
		return presence.Present
	}
	return presence.Waiting
}

func (s snapshot) list(cs []candidate) []CandidatePresence {
	out := make([]CandidatePresence, len(cs))
	for i, c := range cs {
		st := presence.Unknown
		if i < len(s) {
			st = s[i]
		}
		out[i] = CandidatePresence{UserID: c.user, Presence: st, Excluded: c.excluded}
	}
	return out
}

// choose is the candidate to mint for: the first present, in list order,
// not excluded; where the meeting's presence is unknown (no events come for
// it), the first not excluded. Known and none present: no_candidate_present,
// naming the candidates, as op.
func (a *Awaits) choose(ctx context.Context, op string, meeting zoom.MeetingID, cs []candidate) (int, snapshot, error) {
	snap, err := a.lookupAll(ctx, meeting.String(), cs)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", op, err)
	}
	i := snap.first(cs, -1)
	if i < 0 && snap.known() {
		names := make([]string, 0, len(cs))
		for _, c := range cs {
			if !c.excluded {
				names = append(names, c.user.String())
			}
		}
		return 0, nil, &apperr.Error{Kind: apperr.ErrNoCandidate, Op: op,
			Message: fmt.Sprintf("None of the candidates (%s) is in meeting %s now.", strings.Join(names, ", "), meeting.String()),
			Hint:    "Await one with POST /api/meetings/await or meeting:await."}
	}
	if i < 0 {
		i = firstListed(cs)
	}
	return i, snap, nil
}

// JoinCandidates is a join with candidates (participantUserIds): the OBF of
// the candidate choose picks. The token goes to the caller only.
func (a *Awaits) JoinCandidates(ctx context.Context, caller services.Identity, in services.JoinInput) (AwaitCredentials, error) {
	cs, err := a.candidates(ctx, caller, in.Candidates, in.Exclude, true)
	if err != nil {
		return AwaitCredentials{}, err
	}
	i, snap, err := a.choose(ctx, "join", in.MeetingID, cs)
	if err != nil {
		return AwaitCredentials{}, err
	}
	m, err := a.cfg.Join.Join(ctx, caller, services.JoinInput{MeetingID: in.MeetingID, ParticipantUserID: cs[i].user, TTL: in.TTL, NoPush: true})
	if err != nil {
		return AwaitCredentials{}, err
	}
	return AwaitCredentials{Minted: m, Candidates: snap.list(cs)}, nil
}

// CandidateChoice is the candidate chosen to mint for, and every
// candidate's presence when it was chosen.
type CandidateChoice struct {
	User       zoom.UserID
	Candidates []CandidatePresence
}

// ChooseCandidate is the choice JoinCandidates makes, without a caller and
// without minting: for a bot platform's callback, whose maker (or
// signature) was already checked for every candidate, and which mints for
// the chosen user itself (Meetings.BotToken), just in time. Duplicates
// collapse; no candidate is excluded.
func (a *Awaits) ChooseCandidate(ctx context.Context, meeting zoom.MeetingID, users []zoom.UserID) (CandidateChoice, error) {
	cs, err := a.expand(ctx, users, nil, nil)
	if err != nil {
		return CandidateChoice{}, err
	}
	i, snap, err := a.choose(ctx, "choose a candidate", meeting, cs)
	if err != nil {
		return CandidateChoice{}, err
	}
	return CandidateChoice{User: cs[i].user, Candidates: snap.list(cs)}, nil
}
