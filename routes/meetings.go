package routes

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/zoomtoken/tokenserver/services"
)

// decoded refuses a caller whose role may never do the operation (may is
// nil when every role may), then reads the body and parses it with decode;
// on failure it writes the error and reports false.
func decoded[T any](a *api, c *gin.Context, may func(services.Identity) error, decode func([]byte) (T, error)) (T, bool) {
	var zero T
	if may != nil {
		if err := may(caller(c)); err != nil {
			fail(c, a.Logger, err)
			return zero, false
		}
	}
	body, err := readBody(c, a.BodyLimit)
	if err == nil {
		var in T
		if in, err = decode(body); err == nil {
			return in, true
		}
	}
	fail(c, a.Logger, err)
	return zero, false
}

// start: POST /api/meetings/start {meetingId, hostUserId, ttl?} -> ZAK.
func (a *api) start(c *gin.Context) {
	in, ok := decoded(a, c, services.RoleMayStart, services.DecodeStart)
	if !ok {
		return
	}
	m, err := a.Meetings.Start(c.Request.Context(), caller(c), in)
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, services.NewStartResponse(m))
}

// join: POST /api/meetings/join {meetingId, participantUserId, ttl?} -> OBF.
func (a *api) join(c *gin.Context) {
	in, ok := decoded(a, c, nil, services.DecodeJoin)
	if !ok {
		return
	}
	m, err := a.Meetings.Join(c.Request.Context(), caller(c), in)
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, services.NewJoinResponse(m))
}

// batchJoin: POST /api/meetings/batch-join {meetingId, participantUserIds} -> an OBF each.
func (a *api) batchJoin(c *gin.Context) {
	in, ok := decoded(a, c, services.AuthorizeBatch, services.DecodeBatch)
	if !ok {
		return
	}
	r, err := a.Meetings.Batch(c.Request.Context(), caller(c), in)
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, services.NewBatchResponse(in.MeetingID, r))
}

// setup: POST /api/meetings/setup {meetingId, hostUserId, participantUserIds?, ttl?} -> ZAK and OBFs.
func (a *api) setup(c *gin.Context) {
	in, ok := decoded(a, c, services.RoleMaySetup, services.DecodeSetup)
	if !ok {
		return
	}
	r, err := a.Meetings.Setup(c.Request.Context(), caller(c), in)
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, services.NewSetupResponse(in.MeetingID, r, a.Now()))
}
