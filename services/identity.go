package services

import (
	"fmt"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/zoom"
)

// Role is what a caller may do (docs/CONFIGURATION.md, "Callers and what they may do").
type Role string

// The roles.
const (
	RoleAdmin       Role = "admin"
	RoleHost        Role = "host"
	RoleParticipant Role = "participant"
	// RoleWorker is an RTMS worker: it may use only the rtms: events and
	// POST /api/rtms/signature.
	RoleWorker Role = "worker"
)

// Identity is an authenticated caller.
type Identity struct {
	Subject string      // the caller's Zoom user id or email; "api-key:<fingerprint>" for a key
	User    zoom.UserID // the caller as a Zoom user; zero for an API key, which is no user
	Role    Role
	Method  string // "jwt" or "api_key"
}

// RateKey names the caller for per-caller limits. It holds no secret.
func (id Identity) RateKey() string {
	if id.Method == "api_key" {
		return id.Subject
	}
	return "sub:" + id.User.Key()
}

// Authorization: the table of docs/CONFIGURATION.md, "Callers and what they may do".

func forbidden(op, msg string) error {
	return &apperr.Error{Kind: apperr.ErrForbidden, Op: op, Message: msg}
}

// The messages of a refusal: a host acting for another host, and a role
// that may never do the operation.
type refusals struct{ notOwn, notRole string }

var (
	startRefusals = refusals{"A host may get a ZAK only for itself: hostUserId must match the token's sub.",
		"Only a host or an admin may start a meeting."}
	setupRefusals = refusals{"A host may set up only its own meetings: hostUserId must match the token's sub.",
		"Only a host or an admin may set up a meeting."}
	distributeRefusals = refusals{"A host may distribute only for its own meetings: hostUserId must match the token's sub.",
		"Only a host or an admin may distribute tokens."}
)

// hostAs allows an admin for any host and a host only as itself.
func hostAs(op string, r refusals, id Identity, hostUserID zoom.UserID) error {
	switch id.Role {
	case RoleAdmin:
		return nil
	case RoleHost:
		if id.User.Same(hostUserID) {
			return nil
		}
		return forbidden(op, r.notOwn)
	default:
		return forbidden(op, r.notRole)
	}
}

// hostOrAdmin allows the roles that may act for others at all.
func hostOrAdmin(op, msg string, id Identity) error {
	if id.Role == RoleAdmin || id.Role == RoleHost {
		return nil
	}
	return forbidden(op, msg)
}

// authorizeStart: a ZAK for hostUserID. Admin any; host only its own; participant never.
func authorizeStart(id Identity, hostUserID zoom.UserID) error {
	return hostAs("start", startRefusals, id, hostUserID)
}

// RoleMayStart refuses, before its body is read, a caller whose role may
// never start a meeting, so a refused caller is never told what is wrong
// with a body it may not send at all.
func RoleMayStart(id Identity) error { return hostOrAdmin("start", startRefusals.notRole, id) }

// RoleMaySetup is RoleMayStart for setup.
func RoleMaySetup(id Identity) error { return hostOrAdmin("setup", setupRefusals.notRole, id) }

// authorizeJoin: an OBF for participantUserID. Admin any; others only their own.
func authorizeJoin(id Identity, participantUserID zoom.UserID) error {
	if id.Role == RoleAdmin || id.User.Same(participantUserID) {
		return nil
	}
	return forbidden("join", "You may get an OBF token only for yourself: participantUserId must match the token's sub.")
}

// AuthorizeCandidate: as a join, for each user a bot lists as a candidate
// (listed); a refusal names the user.
func AuthorizeCandidate(caller Identity, u zoom.UserID, listed bool) error {
	err := authorizeJoin(caller, u)
	if err == nil || !listed {
		return err
	}
	return forbidden("join", fmt.Sprintf("You may not get an OBF token for %s: a participant may list only itself.", u.String()))
}

// AuthorizeBatch: batch-join and distribute. Admin and host.
func AuthorizeBatch(id Identity) error {
	return hostOrAdmin("batch", "Only a host or an admin may mint tokens for several participants.", id)
}

// authorizeSetup: ZAK for hostUserID plus OBFs. Admin any; host only as itself.
func authorizeSetup(id Identity, hostUserID zoom.UserID) error {
	return hostAs("setup", setupRefusals, id, hostUserID)
}

// authorizeDistribute: OBFs pushed to participants on behalf of hostUserID.
// Admin any; host only as itself; participant never.
func authorizeDistribute(id Identity, hostUserID zoom.UserID) error {
	return hostAs("distribute", distributeRefusals, id, hostUserID)
}

// WorkerOnlyRTMS refuses a worker anything but RTMS: the transports call it
// for every route and event outside RTMS.
func WorkerOnlyRTMS(id Identity) error {
	if id.Role == RoleWorker {
		return forbidden("worker", "A worker may use only the rtms: events and POST /api/rtms/signature.")
	}
	return nil
}

// AuthorizeRTMSWorker: the rtms: events. Workers only.
func AuthorizeRTMSWorker(id Identity) error {
	if id.Role == RoleWorker {
		return nil
	}
	return forbidden("rtms", "Only a worker (a token with role worker) may use the rtms: events.")
}

// AuthorizeRTMSSignature: POST /api/rtms/signature. Workers and admins.
func AuthorizeRTMSSignature(id Identity) error {
	if id.Role == RoleWorker || id.Role == RoleAdmin {
		return nil
	}
	return forbidden("rtms signature", "Only a worker or an admin may get an RTMS stream's signature.")
}

// AuthorizeRTMSList: GET /api/rtms/streams. Admins.
func AuthorizeRTMSList(id Identity) error {
	if id.Role == RoleAdmin {
		return nil
	}
	return forbidden("rtms streams", "Only an admin may list the RTMS streams.")
}
