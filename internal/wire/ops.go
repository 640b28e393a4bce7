package wire

import (
	"context"
	"slices"
	"time"

	"github.com/zoomtoken/tokenserver/services/awaits"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/sdk"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
)

// Domain is what the operations need of the domain (services.Meetings).
type Domain interface {
	Start(ctx context.Context, caller services.Identity, in services.StartInput) (services.Minted, error)
	Join(ctx context.Context, caller services.Identity, in services.JoinInput) (services.Minted, error)
	Batch(ctx context.Context, caller services.Identity, in services.BatchInput) (services.BatchResult, error)
	Setup(ctx context.Context, caller services.Identity, in services.SetupInput) (services.SetupResult, error)
	Distribute(ctx context.Context, caller services.Identity, in services.DistributeInput) (services.BatchResult, error)
	Signature(ctx context.Context, caller services.Identity, req sdk.MeetingRequest) (signature, sdkKey string, err error)
	VideoSignature(ctx context.Context, caller services.Identity, req sdk.VideoRequest) (string, error)
	BatchMax() int
}

// CandidateJoiner joins as the first present of candidates
// (awaits.Awaits).
type CandidateJoiner interface {
	JoinCandidates(ctx context.Context, caller services.Identity, in services.JoinInput) (awaits.AwaitCredentials, error)
}

// Env is what an operation runs with.
type Env struct {
	Domain     Domain
	Candidates CandidateJoiner // join with participantUserIds; nil: refused
	Info       MeetingInfo     // the meeting-info operations; nil: not served
	Now        func() time.Time
	// Progress, when set, is sent the meeting:progress bodies of a batch
	// (batch-join, setup, distribute) as it runs: at most 10 a second, and
	// the final one (done == total). Socket.IO sends them to the calling
	// socket only.
	Progress func(Progress)
	// Each, when set, is given each user's answer in a batch as it is
	// minted: a ParticipantToken or a FailedUser (batch-join's ndjson
	// stream over REST). Ops with Streams set use it.
	Each func(any)
}

// Op is one operation a caller can ask for. REST and Socket.IO serve the same
// table, so an operation is one entry here and its domain method: the
// transports find it by Path and Event.
type Op struct {
	Name string // for logs: "start"
	// Path is the REST route (POST); "" when the operation is socket-only.
	Path string
	// Event is the Socket.IO event; "" when the operation is REST-only.
	Event string
	// Reply is the event that answers a socket caller who sent no ack; ""
	// when the token's push to the caller's own room answers it.
	Reply string
	// May refuses, before the body is read, a caller whose role may never
	// do this; nil when every role may.
	May func(services.Identity) error
	// Streams: the operation gives each user's answer to Env.Each as it
	// comes, so REST may stream it (batch-join with Accept: application/x-ndjson).
	Streams bool
	// Do decodes the body, runs the operation and returns the answer.
	Do func(ctx context.Context, env Env, caller services.Identity, body []byte) (any, error)
}

// The Socket.IO events that answer.
const (
	EventStarted     = "meeting:started"
	EventCredentials = "meeting:credentials"
	EventDistributed = "meeting:distributed"
	EventPong        = "pong"
	// EventConnectionChanged tells a user its OAuth connection changed.
	EventConnectionChanged = "connection:changed"
)

// ConnectionChanged is the body of connection:changed.
type ConnectionChanged struct {
	Status    string    `json:"status"` // connected or disconnected
	Reason    string    `json:"reason,omitempty"`
	Timestamp time.Time `json:"timestamp"`
}

// Ops is the table of operations, every one, in the order REST and
// Socket.IO register them; each area's entries are below.
func Ops() []Op {
	return slices.Concat(meetingOps(), batchOps(), sdkOps(), meetingInfoOps(), connectionOps())
}

// meetingOps: a host starts, a participant joins.
func meetingOps() []Op {
	return []Op{
		{Name: "start", Path: "/api/meetings/start", Event: "meeting:start", May: services.RoleMayStart,
			Do: func(ctx context.Context, env Env, caller services.Identity, body []byte) (any, error) {
				in, err := DecodeStart(body)
				if err != nil {
					return nil, err
				}
				m, err := env.Domain.Start(ctx, caller, in)
				if err != nil {
					return nil, err
				}
				return NewStartResponse(m), nil
			}},
		{Name: "join", Path: "/api/meetings/join", Event: "meeting:join",
			Do: func(ctx context.Context, env Env, caller services.Identity, body []byte) (any, error) {
				in, err := DecodeJoin(body)
				if err != nil {
					return nil, err
				}
				if len(in.Candidates) > 0 {
					return env.joinCandidates(ctx, caller, in)
				}
				m, err := env.Domain.Join(ctx, caller, in)
				if err != nil {
					return nil, err
				}
				return NewJoinResponse(m), nil
			}},
	}
}

// joinCandidates is a join with participantUserIds: the chosen user's
// answer with every candidate's presence.
func (env Env) joinCandidates(ctx context.Context, caller services.Identity, in services.JoinInput) (any, error) {
	if env.Candidates == nil {
		return nil, &apperr.Error{Kind: apperr.ErrNotFound, Op: "join",
			Message: "Joining with candidates needs presence, which is not configured on this server."}
	}
	c, err := env.Candidates.JoinCandidates(ctx, caller, in)
	if err != nil {
		return nil, err
	}
	return NewCandidateJoinResponse(c), nil
}

// batchOps: tokens for many participants at once.
func batchOps() []Op {
	return []Op{
		{Name: "batch-join", Path: "/api/meetings/batch-join", May: services.AuthorizeBatch, Streams: true,
			Do: func(ctx context.Context, env Env, caller services.Identity, body []byte) (any, error) {
				in, err := DecodeBatch(body, env.Domain.BatchMax())
				if err != nil {
					return nil, err
				}
				in.Hooks = env.hooks()
				r, err := env.Domain.Batch(ctx, caller, in)
				if err != nil {
					return nil, err
				}
				return NewBatchResponse(in.MeetingID, r), nil
			}},
		{Name: "setup", Path: "/api/meetings/setup", May: services.RoleMaySetup,
			Do: func(ctx context.Context, env Env, caller services.Identity, body []byte) (any, error) {
				in, err := DecodeSetup(body, env.Domain.BatchMax())
				if err != nil {
					return nil, err
				}
				in.Hooks = env.hooks()
				r, err := env.Domain.Setup(ctx, caller, in)
				if err != nil {
					return nil, err
				}
				return NewSetupResponse(in.MeetingID, r, env.Now()), nil
			}},
		{Name: "distribute", Event: "meeting:distribute", Reply: EventDistributed, May: services.AuthorizeBatch,
			Do: func(ctx context.Context, env Env, caller services.Identity, body []byte) (any, error) {
				in, err := DecodeDistribute(body, env.Domain.BatchMax())
				if err != nil {
					return nil, err
				}
				in.Hooks = env.hooks()
				r, err := env.Domain.Distribute(ctx, caller, in)
				if err != nil {
					return nil, err
				}
				return NewDistributed(in, r, env.Now()), nil
			}},
	}
}

// sdkOps: the Meeting SDK and Video SDK signatures.
func sdkOps() []Op {
	return []Op{
		{Name: "sdk-signature", Path: "/api/sdk/signature",
			Do: func(ctx context.Context, env Env, caller services.Identity, body []byte) (any, error) {
				req, err := sdk.DecodeMeetingRequest(body)
				if err != nil {
					return nil, err
				}
				sig, key, err := env.Domain.Signature(ctx, caller, req)
				if err != nil {
					return nil, err
				}
				return MeetingSignature{Signature: sig, SDKKey: key}, nil
			}},
		{Name: "videosdk-signature", Path: "/api/videosdk/signature",
			Do: func(ctx context.Context, env Env, caller services.Identity, body []byte) (any, error) {
				req, err := sdk.DecodeVideoRequest(body)
				if err != nil {
					return nil, err
				}
				sig, err := env.Domain.VideoSignature(ctx, caller, req)
				if err != nil {
					return nil, err
				}
				return VideoSignature{Signature: sig}, nil
			}},
	}
}

// meetingInfoOps: what is asked of a meeting, as its host.
func meetingInfoOps() []Op {
	return []Op{
		{Name: "recording-token", Path: "/api/meetings/recording-token", May: services.RoleMayRecord,
			Do: func(ctx context.Context, env Env, caller services.Identity, body []byte) (any, error) {
				if env.Info == nil {
					return nil, errNoMeetingInfo("recording-token")
				}
				in, err := DecodeRecording(body)
				if err != nil {
					return nil, err
				}
				t, err := env.Info.RecordingToken(ctx, caller, in)
				if err != nil {
					return nil, err
				}
				return NewRecordingTokenResponse(in, t), nil
			}},
	}
}

// connectionOps: the socket's own liveness.
func connectionOps() []Op {
	return []Op{
		{Name: "ping", Event: "ping", Reply: EventPong,
			Do: func(_ context.Context, env Env, _ services.Identity, _ []byte) (any, error) {
				return Pong{Success: true, Pong: true, Timestamp: env.Now().UTC()}, nil
			}},
	}
}

// MeetingSignature answers POST /api/sdk/signature, as Zoom's sample endpoint does.
type MeetingSignature struct {
	Signature string `json:"signature"`
	SDKKey    string `json:"sdkKey"`
}

// VideoSignature answers POST /api/videosdk/signature, as Zoom's sample endpoint does.
type VideoSignature struct {
	Signature string `json:"signature"`
}

// Pong answers ping.
type Pong struct {
	Success   bool      `json:"success"`
	Pong      bool      `json:"pong"`
	Timestamp time.Time `json:"timestamp"`
}

// Distributed is the body of meeting:distributed: who got a token, who was
// online to receive it, who was offline. It carries no token.
type Distributed struct {
	Success     bool           `json:"success"`
	MeetingID   zoom.MeetingID `json:"meetingId"`
	HostUserID  zoom.UserID    `json:"hostUserId"`
	Successful  int            `json:"successful"`
	Failed      int            `json:"failed"`
	FailedUsers []FailedUser   `json:"failedUsers"`
	Delivered   []string       `json:"delivered"`
	Offline     []string       `json:"offline"`
	Timestamp   time.Time      `json:"timestamp"`
}

// NewDistributed builds the answer to a distribute.
func NewDistributed(in services.DistributeInput, r services.BatchResult, now time.Time) Distributed {
	b := NewBatchResponse(in.MeetingID, r)
	d := Distributed{Success: true, MeetingID: in.MeetingID, HostUserID: in.HostUserID, Successful: b.Summary.Successful,
		Failed: b.Summary.Failed, FailedUsers: b.Results.Failed, Delivered: []string{}, Offline: []string{}, Timestamp: now.UTC()}
	for _, p := range r.Successful {
		if p.Delivered {
			d.Delivered = append(d.Delivered, p.UserID.String())
		} else {
			d.Offline = append(d.Offline, p.UserID.String())
		}
	}
	return d
}
