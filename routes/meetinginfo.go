package routes

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/zoomtoken/tokenserver/internal/wire"
)

// meetingAccess: GET /api/meetings/{meetingId}/access, for any caller:
// whether the meeting is of this server's Zoom account, and so whether an
// OBF is needed to join it.
func (a *api) meetingAccess(c *gin.Context) {
	answer, err := wire.MeetingAccess(c.Request.Context(), a.MeetingInfo, caller(c), c.Param("meetingId"))
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	noStore(c)
	writeJSON(c, http.StatusOK, answer)
}
