package routes

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/wire"
	"github.com/zoomtoken/tokenserver/internal/zoom"
)

const sandboxWarning = "SANDBOX MODE: tokens come from an in-memory Zoom stand-in and are NOT real Zoom tokens."

func (a *api) index(c *gin.Context) {
	endpoints := gin.H{
		"GET /":                         "this description",
		"GET /api/health":               "readiness: an S2S access token can be had, the breaker is closed, recent mints did not all fail",
		"GET /api/live":                 "liveness: the process serves",
		"GET /openapi.json":             "the OpenAPI 3.1 document of every route, body, answer and error code",
		"GET /docs/api/":                "the API reference: a page that renders /openapi.json",
		"POST /api/meetings/start":      "{meetingId, hostUserId, ttl?} -> ZAK",
		"POST /api/meetings/join":       "{meetingId, participantUserId, ttl?} -> OBF",
		"POST /api/meetings/batch-join": "{meetingId, participantUserIds} -> OBF each",
		"POST /api/meetings/setup":      "{meetingId, hostUserId, participantUserIds?, ttl?} -> ZAK and OBFs",
		"POST /api/sdk/signature":       "{meetingNumber, role, expirationSeconds?} -> a Meeting SDK signature (JWT) and its sdkKey",
		"POST /api/videosdk/signature":  "{sessionName, role, …} -> a Video SDK signature (JWT)",
	}
	if a.MeetingInfo != nil {
		endpoints["POST /api/meetings/recording-token"] = "{meetingId, bypassWaitingRoom?} -> the host's local-recording join token"
		endpoints["GET /api/meetings/{meetingId}/access"] = "whether the meeting is of this server's account, and so whether an OBF is needed"
	}
	if a.Connections != nil {
		endpoints["GET /api/connections/zoom/authorize"] = "the link to connect the caller's own Zoom account (JSON, or a 302 for browsers)"
		endpoints["GET /api/connections/zoom/callback"] = "where Zoom sends the user back after consent"
		endpoints["GET /api/connections"] = "connections: the caller's own; an admin's, all"
		endpoints["GET|DELETE /api/connections/{sub}"] = "one connection; DELETE revokes it at Zoom and forgets it"
	}
	if a.CallbackURLs != nil {
		endpoints["POST /api/callback-urls"] = "{kind, userId (obf: or userIds, candidates), meetingId?, expiresInSeconds, singleUse?} -> a signed URL a bot platform calls for a token"
		endpoints["POST /api/callback-urls/revoke"] = "{url} (admins: {id}) -> the URL answers no more"
		endpoints["GET /api/callbacks/{kind}"] = "the signed URL: obf, zak, join_token or access_token as text/plain"
	}
	if a.Attendee != nil {
		endpoints["POST /api/callbacks/attendee/zoom-tokens"] = "Attendee's signed zoom_tokens callback -> {zak_token, join_token, app_privilege_token, onbehalf_token}"
	}
	a.newcomerEndpoints(endpoints)
	if a.Awaits != nil {
		endpoints["POST /api/meetings/await"] = "{meetingId, participantUserId, timeoutSeconds?} -> the join answer once the user is in the meeting; 202 {presence} or 408"
	}
	if a.Webhooks != nil {
		endpoints["POST /api/webhooks/zoom"] = "Zoom's webhooks (url_validation, meeting and participant events, app_deauthorized), by signature"
	}
	if a.Console != nil {
		endpoints["GET /console/"] = "the console, a page for people: sign in with a caller token, connect Zoom accounts, start, distribute, wait for tokens"
	}
	body := gin.H{
		"name":           a.Info.Name,
		"version":        a.Info.Version,
		"mode":           a.Info.Mode,
		"endpoints":      endpoints,
		"authentication": "Authorization: Bearer <jwt> (claims sub, role, exp) or X-API-Key: <key>",
		"socketEvents": gin.H{
			"path":           "/socket.io/",
			"clientToServer": []string{"authenticate", "meeting:start", "meeting:join", "meeting:distribute", "meeting:await", "meeting:cancel-await", "ping"},
			"serverToClient": []string{"authenticated", "meeting:started", "meeting:credentials", "meeting:distributed", "meeting:progress", "meeting:awaiting", "meeting:user-left", "connection:changed", "error", "pong"},
		},
	}
	if a.Info.Mode == "sandbox" {
		body["warning"] = sandboxWarning
		body["sandbox"] = a.Info.Sandbox
	}
	writeJSON(c, http.StatusOK, body) // read by people: "<jwt>", not "\u003cjwt\u003e"
}

// newcomerEndpoints adds the routes served only in some configurations that
// a newcomer reaches for first: metrics, the browser example, the sandbox's
// caller tokens and its controls.
func (a *api) newcomerEndpoints(endpoints gin.H) {
	if a.Metrics != nil {
		endpoints["GET /metrics"] = "Prometheus metrics"
	}
	if a.Demo != nil {
		endpoints["GET /examples/browser/"] = "the browser example: a participant, a host, a bot joining on a user's behalf, connecting a Zoom account"
	}
	if a.SandboxTokens != nil {
		endpoints["POST /sandbox/tokens"] = "sandbox mode only: {sub, role?} -> a caller JWT for an hour"
	}
	if a.SandboxControls != nil {
		for _, rt := range sandboxControlRoutes {
			endpoints[rt.index] = "sandbox mode only: " + rt.does
		}
	}
}

// ZoomHealth is what readiness uses of the Zoom client when it offers more
// than Check: the breaker and recent failures. Deps.Zoom is asserted to it.
type ZoomHealth interface {
	Health(ctx context.Context) zoom.HealthState
}

func (a *api) health(c *gin.Context) {
	noStore(c)
	status := "connected"
	if a.Info.Mode == "sandbox" {
		status = "sandbox"
	}
	var st *zoom.HealthState
	var err error
	if h, ok := a.Zoom.(ZoomHealth); ok {
		s := h.Health(c.Request.Context())
		st, err = &s, s.Err
	} else {
		err = a.Zoom.Check(c.Request.Context())
	}
	body := gin.H{"success": true, "status": "healthy", "zoom": status, "mode": a.Info.Mode,
		"version": a.Info.Version, "timestamp": a.Now().UTC()}
	code := http.StatusOK
	if err != nil {
		code = http.StatusServiceUnavailable
		body = gin.H{"success": false, "status": "unhealthy", "zoom": "disconnected", "mode": a.Info.Mode,
			"error": apperr.PublicMessage(err), "code": apperr.Code(err), "timestamp": a.Now().UTC()}
		if e, ok := apperr.As(err); ok && e.RetryAfter > 0 {
			c.Header("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
		}
	} else if a.Info.Mode == "sandbox" {
		body["warning"] = sandboxWarning
	}
	a.noteHealth(err)
	if st != nil {
		body["breaker"] = st.Breaker
		body["recentFailures"] = st.FailStreak
		if !st.LastFailure.IsZero() {
			body["lastFailure"] = gin.H{"at": st.LastFailure.UTC(), "code": st.LastFailureCode}
		}
	}
	if a.Cluster != nil {
		if cs := a.Cluster.State(c.Request.Context()); cs != nil {
			body["cluster"] = cs
		}
	}
	writeJSON(c, code, body)
}

// noteHealth logs readiness when it changes, with the cause: the code and
// the public sentence (never a credential). Probes come every few seconds;
// the request log has them at debug level, so this is the line to alert on.
func (a *api) noteHealth(err error) {
	if was := a.unhealthy.Swap(err != nil); was == (err != nil) {
		return
	}
	if err != nil {
		a.Logger.Warn("readiness: unhealthy", "code", apperr.Code(err), "cause", apperr.PublicMessage(err))
		return
	}
	a.Logger.Info("readiness: healthy again")
}

func (a *api) live(c *gin.Context) {
	noStore(c)
	writeJSON(c, http.StatusOK, gin.H{"success": true, "status": "alive"})
}

// sandboxTokenTTL is how long a sandbox caller JWT lives.
const sandboxTokenTTL = time.Hour

func (a *api) sandboxToken(c *gin.Context) {
	in, ok := decoded(a, c, wire.DecodeCallerToken)
	if !ok {
		return
	}
	sub, role := in.Subject, in.Role
	tok, err := a.SandboxTokens.IssueToken(sub, role, sandboxTokenTTL)
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	noStore(c)
	writeJSON(c, http.StatusOK, gin.H{"success": true, "token": tok, "sub": sub, "role": role,
		"expiresInSeconds": int(sandboxTokenTTL.Seconds()), "warning": sandboxWarning})
}
