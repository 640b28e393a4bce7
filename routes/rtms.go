package routes

import (
	"net/http"

	"github.com/zoomtoken/tokenserver/services/rtms"

	"github.com/gin-gonic/gin"

	"github.com/zoomtoken/tokenserver/internal/wire"
	"github.com/zoomtoken/tokenserver/services"
)

// RTMS is Zoom's Realtime Media Streams as the REST API sees them
// (*rtms.RTMS).
type RTMS interface {
	Streams() []rtms.RTMSStream
	Signature(streamID, meetingUUID, sessionID string) (rtms.RTMSSignature, error)
}

// rtmsPathSignature is the one route a worker may call.
const rtmsPathSignature = "/api/rtms/signature"

// rtmsRoutes: the streams (admin) and a stream's signature (worker, admin).
func (a *api) rtmsRoutes(r *gin.Engine, auth gin.HandlerFunc) {
	if a.RTMS == nil {
		return
	}
	r.GET("/api/rtms/streams", auth, a.rtmsStreams)
	r.POST(rtmsPathSignature, auth, a.rtmsSignature)
}

// rtmsStreams is GET /api/rtms/streams: {streams: [...]}, oldest first.
func (a *api) rtmsStreams(c *gin.Context) {
	if err := services.AuthorizeRTMSList(caller(c)); err != nil {
		fail(c, a.Logger, err)
		return
	}
	noStore(c)
	c.PureJSON(http.StatusOK, gin.H{"success": true, "streams": a.RTMS.Streams()})
}

// rtmsSignature is POST /api/rtms/signature {streamId, meetingUuid |
// sessionId}: {signature, clientId}; 404 for a stream not known here.
func (a *api) rtmsSignature(c *gin.Context) {
	if err := services.AuthorizeRTMSSignature(caller(c)); err != nil {
		fail(c, a.Logger, err)
		return
	}
	body, err := readBody(c, a.BodyLimit)
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	in, err := wire.DecodeRTMSSignature(body)
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	sig, err := a.RTMS.Signature(in.StreamID, in.MeetingUUID, in.SessionID)
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	noStore(c)
	c.PureJSON(http.StatusOK, gin.H{"success": true, "signature": sig.Signature, "clientId": sig.ClientID, "streamId": in.StreamID})
}
