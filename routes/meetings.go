package routes

import (
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/zoomtoken/tokenserver/services"
)

// startRequest is the body of POST /api/meetings/start.
type startRequest struct {
	MeetingID  json.RawMessage `json:"meetingId"`
	HostUserID json.RawMessage `json:"hostUserId"`
	TTL        json.RawMessage `json:"ttl"`
}

func (a *api) start(c *gin.Context) {
	var req startRequest
	if err := decodeBody(c, a.BodyLimit, &req); err != nil {
		fail(c, a.Logger, err)
		return
	}
	var f fields
	in := services.StartInput{
		MeetingID:  f.meetingID("meetingId", req.MeetingID),
		HostUserID: f.userID("hostUserId", req.HostUserID),
		TTL:        f.ttl("ttl", req.TTL),
	}
	if err := f.err("start"); err != nil {
		fail(c, a.Logger, err)
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

// joinRequest is the body of POST /api/meetings/join.
type joinRequest struct {
	MeetingID         json.RawMessage `json:"meetingId"`
	ParticipantUserID json.RawMessage `json:"participantUserId"`
	TTL               json.RawMessage `json:"ttl"`
}

func (a *api) join(c *gin.Context) {
	var req joinRequest
	if err := decodeBody(c, a.BodyLimit, &req); err != nil {
		fail(c, a.Logger, err)
		return
	}
	var f fields
	in := services.JoinInput{
		MeetingID:         f.meetingID("meetingId", req.MeetingID),
		ParticipantUserID: f.userID("participantUserId", req.ParticipantUserID),
		TTL:               f.ttl("ttl", req.TTL),
	}
	if err := f.err("join"); err != nil {
		fail(c, a.Logger, err)
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

// batchRequest is the body of POST /api/meetings/batch-join.
type batchRequest struct {
	MeetingID          json.RawMessage `json:"meetingId"`
	ParticipantUserIDs json.RawMessage `json:"participantUserIds"`
}

func (a *api) batchJoin(c *gin.Context) {
	var req batchRequest
	if err := decodeBody(c, a.BodyLimit, &req); err != nil {
		fail(c, a.Logger, err)
		return
	}
	var f fields
	in := services.BatchInput{
		MeetingID:          f.meetingID("meetingId", req.MeetingID),
		ParticipantUserIDs: f.userIDs("participantUserIds", req.ParticipantUserIDs, true),
	}
	if err := f.err("batch-join"); err != nil {
		fail(c, a.Logger, err)
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

// setupRequest is the body of POST /api/meetings/setup.
type setupRequest struct {
	MeetingID          json.RawMessage `json:"meetingId"`
	HostUserID         json.RawMessage `json:"hostUserId"`
	ParticipantUserIDs json.RawMessage `json:"participantUserIds"`
	TTL                json.RawMessage `json:"ttl"`
}

func (a *api) setup(c *gin.Context) {
	var req setupRequest
	if err := decodeBody(c, a.BodyLimit, &req); err != nil {
		fail(c, a.Logger, err)
		return
	}
	var f fields
	in := services.SetupInput{
		MeetingID:          f.meetingID("meetingId", req.MeetingID),
		HostUserID:         f.userID("hostUserId", req.HostUserID),
		ParticipantUserIDs: f.userIDs("participantUserIds", req.ParticipantUserIDs, false),
		TTL:                f.ttl("ttl", req.TTL),
	}
	if err := f.err("setup"); err != nil {
		fail(c, a.Logger, err)
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
