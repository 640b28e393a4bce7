package routes

import (
	"context"
	"net/http"
	"time"

	"github.com/zoomtoken/tokenserver/services/awaits"

	"github.com/gin-gonic/gin"

	"github.com/zoomtoken/tokenserver/internal/presence"
	"github.com/zoomtoken/tokenserver/internal/webhooks"
	"github.com/zoomtoken/tokenserver/internal/wire"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
)

// Webhooks receives Zoom's webhook requests (services.Webhooks).
type Webhooks interface {
	Receive(ctx context.Context, timestamp, signature string, body []byte) (services.WebhookAnswer, error)
}

// Awaits waits for a user's presence in a meeting (awaits.Awaits).
type Awaits interface {
	Await(ctx context.Context, caller services.Identity, in awaits.AwaitInput, sink awaits.AwaitSink) (*awaits.Await, error)
	JoinCandidates(ctx context.Context, caller services.Identity, in services.JoinInput) (awaits.AwaitCredentials, error)
}

// WebhookBodyLimit is the largest webhook body read; Zoom's meeting events
// are a few kilobytes.
const WebhookBodyLimit = 256 << 10

// zoomWebhook is POST /api/webhooks/zoom: verified by its signature alone.
// The event is queued and the answer is immediate; url_validation is
// answered with the encrypted token.
func (a *api) zoomWebhook(c *gin.Context) {
	body, err := readBody(c, WebhookBodyLimit)
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	ans, err := a.Webhooks.Receive(c.Request.Context(), c.GetHeader(webhooks.HeaderTimestamp), c.GetHeader(webhooks.HeaderSignature), body)
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	noStore(c)
	writeJSON(c, http.StatusOK, ans)
}

// awaitPresence is POST /api/meetings/await {meetingId, participantUserId,
// timeoutSeconds?}, a long poll: 200 with the join answer once the user is in
// the meeting (at once when present); 202 {presence:"unknown"} at once when
// no events come for the meeting (join with retries instead), or
// {presence:"waiting"} with timeoutSeconds 0; 408 presence_timeout when the
// wait ran out. Who may await whom is as for join.
func (a *api) awaitPresence(c *gin.Context) {
	body, err := readBody(c, a.BodyLimit)
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	in, err := wire.DecodeAwait(body, wire.AwaitRESTDefault, wire.AwaitRESTMax, true)
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	in.FallbackUnknown = in.Listed // candidates where presence is unknown: list order, as a join

	sink := &pollSink{ch: make(chan pollResult, 1), in: in, now: a.Now}
	w, err := a.Awaits.Await(c.Request.Context(), caller(c), in, sink)
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	select {
	case r := <-sink.ch:
		if r.err != nil {
			fail(c, a.Logger, r.err)
			return
		}
		noStore(c)
		writeJSON(c, r.status, r.body)
	case <-c.Request.Context().Done(): // the client went away
		w.Cancel()
	}
}

type pollResult struct {
	status int
	body   any
	err    error
}

// pollSink turns an await's outcome into one HTTP answer.
type pollSink struct {
	ch  chan pollResult // buffered: the first answer wins, the rest are dropped
	in  awaits.AwaitInput
	now func() time.Time
}

func (s *pollSink) answer(r pollResult) {
	select {
	case s.ch <- r:
	default:
	}
}

func (s *pollSink) Awaiting(p presence.State) {
	if (p == presence.Unknown && !s.in.FallbackUnknown) || (p == presence.Waiting && s.in.Timeout <= 0) {
		s.answer(pollResult{status: http.StatusAccepted, body: wire.NewAwaiting(s.in, p, s.now())})
	}
}

func (s *pollSink) Credentials(c awaits.AwaitCredentials) {
	s.answer(pollResult{status: http.StatusOK, body: wire.NewCandidateJoinResponse(c)})
}

func (s *pollSink) Failed(err error) { s.answer(pollResult{err: err}) }

func (s *pollSink) UserLeft(zoom.UserID) {}
