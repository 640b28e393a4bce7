package wire

import (
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
)

// EventProgress tells the socket that asked for a batch how far it has got.
const EventProgress = "meeting:progress"

// Progress is the body of meeting:progress: done of total distinct users
// answered, failed of them without a token. It carries no token.
type Progress struct {
	MeetingID zoom.MeetingID `json:"meetingId"`
	Done      int            `json:"done"`
	Total     int            `json:"total"`
	Failed    int            `json:"failed"`
}

// NewProgress builds the body of meeting:progress.
func NewProgress(p services.ProgressUpdate) Progress {
	return Progress{MeetingID: p.Meeting, Done: p.Done, Total: p.Total, Failed: p.Failed}
}

// StreamEnd is the last line of batch-join's ndjson stream: the batch is
// done, with its counts. Every line before it is one user's: a
// ParticipantToken or a FailedUser.
type StreamEnd struct {
	Done      bool           `json:"done"`
	Success   bool           `json:"success"`
	MeetingID zoom.MeetingID `json:"meetingId"`
	Summary   Summary        `json:"summary"`
}

// NewStreamEnd builds the last line of a stream from the operation's answer.
func NewStreamEnd(answer any) StreamEnd {
	end := StreamEnd{Done: true, Success: true}
	if b, ok := answer.(BatchResponse); ok {
		end.MeetingID, end.Summary = b.MeetingID, b.Summary
	}
	return end
}

// hooks are the domain hooks env asks for: progress throttled to at most
// 10 a second (and the final one), each user's answer as it comes.
func (env Env) hooks() services.Hooks {
	var h services.Hooks
	if env.Progress != nil {
		now := env.Now
		if now == nil {
			now = time.Now
		}
		send := env.Progress
		h.Progress = services.Throttle(now, func(p services.ProgressUpdate) { send(NewProgress(p)) })
	}
	if env.Each != nil {
		each := env.Each
		h.OnResult = func(o services.Outcome) {
			switch {
			case o.Minted != nil:
				m := o.Minted
				each(ParticipantToken{UserID: m.UserID, OBFToken: m.Value.Reveal(), Via: m.Via, SDK: m.SDK, TokenFields: tokenFields(m.Token), Delivered: m.Delivered})
			case o.Failure != nil:
				each(FailedUser{UserID: o.Failure.UserID, Error: apperr.PublicMessage(o.Failure.Err), Code: apperr.Code(o.Failure.Err)})
			}
		}
	}
	return h
}
