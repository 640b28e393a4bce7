package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/zoom"
)

// minter mints Zoom user tokens; *zoom.Client is one. Mint uses the
// account's Server-to-Server app, MintAs a user's own grant.
type minter interface {
	Mint(ctx context.Context, mr zoom.MintRequest) (zoom.Token, error)
	MintAs(ctx context.Context, src zoom.TokenSource, account string, mr zoom.MintRequest) (zoom.Token, error)
	HasS2S() bool
	Check(ctx context.Context) error
	QPS() float64
}

// Grants is what minting needs of users' own OAuth connections
// (*Connections is one): the token source of a user's connection, and the
// link a user follows to connect.
type Grants interface {
	SourceFor(ctx context.Context, user zoom.UserID) (src zoom.TokenSource, account string, ok bool, err error)
	Authorize(ctx context.Context, caller Identity) (url string, expiresIn time.Duration, err error)
}

// How a token was minted: with the user's own connection, or with the
// account's Server-to-Server app.
const (
	ViaConnection = "connection"
	ViaAccount    = "account"
)

// Event is what the domain tells the rest of the server. Today one kind:
// a token was minted for the user it names, to be pushed to that user's
// sockets and no one else's.
type Event struct {
	Kind  EventKind
	Token zoom.Token // TokenMinted: the token, for Token.UserID only
	Via   string     // TokenMinted: ViaConnection or ViaAccount
	SDK   *SDKBundle // TokenMinted: the Meeting SDK signature that goes with it

	// ConnectionChanged: the user whose OAuth connection changed (pushed to
	// that user's sockets only), its new status and why.
	User   zoom.UserID
	Status string // "connected" or "disconnected"
	Reason string

	// ParticipantJoined, ParticipantLeft, MeetingEnded (await.go): the
	// meeting, the identifiers Zoom gave of the user(s), and when the
	// webhook that told it arrived.
	Meeting zoom.MeetingID
	IDs     []string
	Arrived time.Time
}

// EventKind names an event.
type EventKind string

// The events.
const (
	TokenMinted       EventKind = "token_minted"
	ConnectionChanged EventKind = "connection_changed"
)

// Publisher carries events to whoever delivers them (the realtime side,
// through package bus). Publish reports whether anyone received it.
type Publisher interface {
	Publish(ctx context.Context, e Event) (delivered bool)
}

// Meetings is what a caller can ask for: start, join, batch-join, setup.
// REST and Socket.IO both go through it, so the rules are the same on both.
type Meetings struct {
	zoom     minter
	grants   Grants  // nil: users' connections are not configured
	signer   *Signer // nil: no SDK signatures
	events   Publisher
	batchMax int
	log      *slog.Logger
	slots    BatchSlots // the callers' running batches (batchslots.go)
}

// maxBatchesPerCaller is how many batches (batch-join, setup, distribute) one
// caller may have in progress at once. The Zoom quota is shared; without this,
// one caller queueing batches would hold every other caller's calls back.
const maxBatchesPerCaller = 2

// NewMeetings returns the meeting operations. Every token minted is
// published on events, for the user it was minted for.
//
// grants may be nil (no General app configured): then only the account's
// Server-to-Server app mints.
//
// signer (nil: none) adds the Meeting SDK signature to every token answer.
func NewMeetings(zoom minter, grants Grants, signer *Signer, events Publisher, batchMax int, log *slog.Logger) *Meetings {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Meetings{zoom: zoom, grants: grants, signer: signer, events: events, batchMax: batchMax, log: log}
}

// BatchMax is the most participants one batch may name.
func (m *Meetings) BatchMax() int { return m.batchMax }

// Minted is a token and whether it was pushed to a connected socket.
type Minted struct {
	zoom.Token
	Via       string     // ViaConnection or ViaAccount
	SDK       *SDKBundle // the Meeting SDK signature for the same meeting; nil when not configured
	Delivered bool
}

// Failure is one user whose token could not be minted.
type Failure struct {
	UserID zoom.UserID
	Err    error
}

// BatchResult holds a batch's tokens in the order asked, and its failures.
type BatchResult struct {
	Successful []Minted
	Failed     []Failure
	Total      int // distinct users asked for
}

// The inputs hold values that were checked when the request was decoded
// (package wire): the operations below never check them again.

// StartInput asks for a host's ZAK.
type StartInput struct {
	MeetingID  zoom.MeetingID
	HostUserID zoom.UserID
	TTL        int // seconds, 1 to zoom.MaxTTLSeconds; 0: Zoom's default
}

// JoinInput asks for a participant's OBF.
type JoinInput struct {
	MeetingID         zoom.MeetingID
	ParticipantUserID zoom.UserID
	TTL               int
	// Candidates (participantUserIds), in place of ParticipantUserID: join
	// as the first of them who is present (Awaits.JoinCandidates), minus
	// Exclude.
	Candidates []zoom.UserID
	Exclude    []zoom.UserID
	// NoPush: the token goes to the caller only, not to the user's sockets
	// (a bot acting for candidates, an await).
	NoPush bool
}

// BatchInput asks for OBFs for several participants.
type BatchInput struct {
	MeetingID          zoom.MeetingID
	ParticipantUserIDs []zoom.UserID
	Hooks              // optional: follow the batch as it runs (progress.go)
}

// DistributeInput asks, over Socket.IO, for OBFs pushed to each participant.
type DistributeInput struct {
	BatchInput
	HostUserID zoom.UserID
}

// SetupInput asks for a host's ZAK and, optionally, participants' OBFs.
type SetupInput struct {
	MeetingID          zoom.MeetingID
	HostUserID         zoom.UserID
	ParticipantUserIDs []zoom.UserID
	TTL                int
	Hooks              // optional: follow the participants' batch as it runs (progress.go)
}

// SetupResult is the host's ZAK and the participants' batch.
type SetupResult struct {
	Host Minted
	BatchResult
}

// Start mints a ZAK for the host and pushes it to the host's sockets.
func (m *Meetings) Start(ctx context.Context, caller Identity, in StartInput) (Minted, error) {
	if err := authorizeStart(caller, in.HostUserID); err != nil {
		return Minted{}, err
	}
	return m.mint(ctx, caller, zoom.MintRequest{Type: zoom.TokenZAK, UserID: in.HostUserID, MeetingID: in.MeetingID, TTL: in.TTL})
}

// Join mints an OBF for the participant and pushes it to its sockets.
func (m *Meetings) Join(ctx context.Context, caller Identity, in JoinInput) (Minted, error) {
	if err := authorizeJoin(caller, in.ParticipantUserID); err != nil {
		return Minted{}, err
	}
	mr := zoom.MintRequest{Type: zoom.TokenOnBehalf, UserID: in.ParticipantUserID, MeetingID: in.MeetingID, TTL: in.TTL}
	if in.NoPush {
		return m.mintOnly(ctx, caller, mr)
	}
	return m.mint(ctx, caller, mr)
}

// Batch mints an OBF for each distinct participant, pacing calls to Zoom's
// quota, and pushes each to its user. Per-user failures are in the result.
func (m *Meetings) Batch(ctx context.Context, caller Identity, in BatchInput) (BatchResult, error) {
	ids, err := m.checkBatch("batch", in.ParticipantUserIDs)
	if err != nil {
		return BatchResult{}, err
	}
	if err := AuthorizeBatch(caller); err != nil {
		return BatchResult{}, err
	}
	release, err := m.startBatch(ctx, caller, len(ids))
	if err != nil {
		return BatchResult{}, err
	}
	defer release()
	// If no S2S access token can be had at all, say so once rather than
	// per user; users' own connections are each tried.
	if m.zoom.HasS2S() && m.grants == nil {
		if err := m.zoom.Check(ctx); err != nil {
			return BatchResult{}, err
		}
	}
	return m.fanOut(ctx, caller, in.MeetingID, ids, in.Hooks), nil
}

// Setup mints the host's ZAK, then OBFs for the participants.
func (m *Meetings) Setup(ctx context.Context, caller Identity, in SetupInput) (SetupResult, error) {
	ids, err := m.checkBatch("setup", in.ParticipantUserIDs)
	if err != nil {
		return SetupResult{}, err
	}
	if err := authorizeSetup(caller, in.HostUserID); err != nil {
		return SetupResult{}, err
	}
	if len(ids) > 0 {
		release, err := m.startBatch(ctx, caller, len(ids))
		if err != nil {
			return SetupResult{}, err
		}
		defer release()
	}
	host, err := m.mint(ctx, caller, zoom.MintRequest{Type: zoom.TokenZAK, UserID: in.HostUserID, MeetingID: in.MeetingID, TTL: in.TTL})
	if err != nil {
		return SetupResult{}, err
	}
	return SetupResult{Host: host, BatchResult: m.fanOut(ctx, caller, in.MeetingID, ids, in.Hooks)}, nil
}

// startBatch counts a batch against its caller, or refuses a caller with
// maxBatchesPerCaller already running (in a cluster: on all its instances).
func (m *Meetings) startBatch(ctx context.Context, caller Identity, n int) (func(), error) {
	if m.slots == nil { // not limited: wiring gives every server its slots
		return func() {}, nil
	}
	release, ok := m.slots.Acquire(ctx, caller.RateKey(), maxBatchesPerCaller)
	if !ok {
		wait := time.Duration(float64(n) / m.zoom.QPS() * float64(time.Second))
		return nil, &apperr.Error{Kind: apperr.ErrRateLimited, Op: "batch", RetryAfter: max(time.Second, wait),
			Message: fmt.Sprintf("You already have %d batches in progress; wait for one to finish.", maxBatchesPerCaller)}
	}
	return release, nil
}

// mint mints one token and pushes it to its user's sockets.
func (m *Meetings) mint(ctx context.Context, caller Identity, mr zoom.MintRequest) (Minted, error) {
	tok, via, err := m.mintVia(ctx, caller, mr)
	if err != nil {
		return Minted{}, err
	}
	b, err := m.signer.bundle(tok)
	if err != nil {
		return Minted{}, err
	}
	return Minted{Token: tok, Via: via, SDK: b, Delivered: m.push(ctx, tok, via, b)}, nil
}

// mintOnly mints one token for the caller alone: no push.
func (m *Meetings) mintOnly(ctx context.Context, caller Identity, mr zoom.MintRequest) (Minted, error) {
	tok, via, err := m.mintVia(ctx, caller, mr)
	if err != nil {
		return Minted{}, err
	}
	b, err := m.signer.bundle(tok)
	if err != nil {
		return Minted{}, err
	}
	return Minted{Token: tok, Via: via, SDK: b}, nil
}

// mintVia mints with the user's own connection when the user has one, else
// with the account's S2S app when there is one; else (or when the account
// does not know the user) the user must connect: not_connected, with the
// link to do so when the caller is that user.
func (m *Meetings) mintVia(ctx context.Context, caller Identity, mr zoom.MintRequest) (zoom.Token, string, error) {
	if m.grants != nil {
		src, account, ok, err := m.grants.SourceFor(ctx, mr.UserID)
		if errors.Is(err, apperr.ErrStoreUnavailable) && m.zoom.HasS2S() {
			return m.mintWithoutStore(ctx, mr, err)
		}
		if err != nil {
			return zoom.Token{}, "", m.reconnect(ctx, caller, mr.UserID, err)
		}
		if ok {
			tok, err := m.zoom.MintAs(ctx, src, account, mr)
			return tok, ViaConnection, m.reconnect(ctx, caller, mr.UserID, err)
		}
	}
	if m.zoom.HasS2S() {
		tok, err := m.zoom.Mint(ctx, mr)
		if err == nil || m.grants == nil || !errors.Is(err, apperr.ErrUserNotFound) {
			return tok, ViaAccount, err
		}
	}
	return zoom.Token{}, "", m.notConnected(ctx, caller, mr.UserID)
}

// mintWithoutStore mints with the account's S2S app while the database of
// connections is down: the users of the account still get their tokens;
// for a user the account does not know (who may have a connection), the
// answer is the database's 503 (storeErr), not not_connected.
func (m *Meetings) mintWithoutStore(ctx context.Context, mr zoom.MintRequest, storeErr error) (zoom.Token, string, error) {
	tok, err := m.zoom.Mint(ctx, mr)
	if errors.Is(err, apperr.ErrUserNotFound) {
		return zoom.Token{}, "", storeErr
	}
	return tok, ViaAccount, err
}

// notConnected is the error for a user no credential can mint for.
func (m *Meetings) notConnected(ctx context.Context, caller Identity, user zoom.UserID) error {
	e := &apperr.Error{Kind: apperr.ErrNotConnected, Op: "mint",
		Message: fmt.Sprintf("%s has not connected a Zoom account to this server, and the server's own account cannot mint for that user.", user.String()),
		Hint:    "The user connects once through GET /api/connections/zoom/authorize."}
	if m.grants != nil && caller.User.Same(user) {
		if u, _, err := m.grants.Authorize(ctx, caller); err == nil {
			e.AuthorizeURL = u
			e.Hint = "Open authorizeUrl to connect your Zoom account, then try again."
		}
	}
	return e
}

// reconnect adds, to a connection_lost for the caller's own connection,
// the link to connect again (as notConnected does); other errors pass.
func (m *Meetings) reconnect(ctx context.Context, caller Identity, user zoom.UserID, err error) error {
	e, ok := apperr.As(err)
	if !ok || !errors.Is(err, apperr.ErrConnectionLost) || !caller.User.Same(user) {
		return err
	}
	u, _, aerr := m.grants.Authorize(ctx, caller)
	if aerr != nil {
		return err
	}
	withLink := *e // e may be shared (a refresh's single flight)
	withLink.AuthorizeURL, withLink.Hint = u, "Open authorizeUrl to connect your Zoom account again, then try again."
	return &withLink
}

// push publishes a minted token for its user and reports whether it reached
// a socket of that user's.
func (m *Meetings) push(ctx context.Context, tok zoom.Token, via string, b *SDKBundle) bool {
	return m.events.Publish(ctx, Event{Kind: TokenMinted, Token: tok, Via: via, SDK: b})
}

// batchOutcome is what became of one user of a batch.
type batchOutcome struct {
	tok       zoom.Token
	via       string
	sdk       *SDKBundle
	err       error
	delivered bool
}

// mintAll mints an OBF for each of ids into out on a bounded pool of
// workers, and sends each index on the returned channel once out[i] is
// written. The batch's Zoom calls take their turn with other callers'
// batches, after every interactive call (zoom.WithBatch).
func (m *Meetings) mintAll(ctx context.Context, caller Identity, meeting zoom.MeetingID, ids []zoom.UserID, out []batchOutcome) <-chan int {
	zctx := zoom.WithBatch(ctx, caller.RateKey())
	workers := min(len(ids), max(4, min(64, int(math.Ceil(m.zoom.QPS()))*2)))
	next := make(chan int)
	finished := make(chan int, len(ids)) // never blocks a worker
	for range workers {
		go func() {
			for i := range next {
				o := &out[i]
				o.tok, o.via, o.err = m.mintVia(zctx, caller, zoom.MintRequest{Type: zoom.TokenOnBehalf, UserID: ids[i], MeetingID: meeting})
				if o.err == nil {
					o.sdk, o.err = m.signer.bundle(o.tok)
				}
				if o.err == nil {
					// Push at once: a participant waiting on its socket should not wait for the batch.
					o.delivered = m.push(ctx, o.tok, o.via, o.sdk)
				}
				finished <- i
			}
		}()
	}
	go func() {
		for i := range ids {
			next <- i
		}
		close(next)
	}()
	return finished
}

// fanOut mints OBFs with bounded concurrency. The Zoom client's limiter sets
// the pace; the workers only hide Zoom's latency.
//
// hooks are called on this goroutine as users finish (see Hooks).
func (m *Meetings) fanOut(ctx context.Context, caller Identity, meeting zoom.MeetingID, ids []zoom.UserID, hooks Hooks) BatchResult {
	res := BatchResult{Total: len(ids)}
	progress := ProgressUpdate{Meeting: meeting, Total: len(ids)}
	if hooks.Progress != nil {
		hooks.Progress(progress)
	}
	if len(ids) == 0 {
		return res
	}
	out := make([]batchOutcome, len(ids))
	finished := m.mintAll(ctx, caller, meeting, ids, out)
	// Each user's outcome is told here, on the caller's goroutine, as it
	// comes: out[i] is written before i is sent on finished.
	for range ids {
		i := <-finished
		o := out[i]
		progress.Done++
		if o.err != nil {
			progress.Failed++
		}
		if hooks.OnResult != nil {
			if o.err != nil {
				hooks.OnResult(Outcome{Failure: &Failure{UserID: ids[i], Err: o.err}})
			} else {
				hooks.OnResult(Outcome{Minted: &Minted{Token: o.tok, Via: o.via, SDK: o.sdk, Delivered: o.delivered}})
			}
		}
		if hooks.Progress != nil {
			hooks.Progress(progress)
		}
	}
	for i, o := range out {
		if o.err != nil {
			res.Failed = append(res.Failed, Failure{UserID: ids[i], Err: o.err})
			continue
		}
		res.Successful = append(res.Successful, Minted{Token: o.tok, Via: o.via, SDK: o.sdk, Delivered: o.delivered})
	}
	if len(res.Failed) > 0 {
		m.log.Warn("batch: some tokens could not be minted", "meeting", meeting.String(),
			"total", res.Total, "failed", len(res.Failed), "first_error", res.Failed[0].Err)
	}
	return res
}

// checkBatch refuses a batch over BATCH_MAX and returns its users without
// duplicates, first spelling kept, in the order given.
func (m *Meetings) checkBatch(op string, ids []zoom.UserID) ([]zoom.UserID, error) {
	if len(ids) > m.batchMax {
		return nil, &apperr.Error{Kind: apperr.ErrTooLarge, Op: op,
			Message: fmt.Sprintf("participantUserIds lists %d users; at most %d (BATCH_MAX) may be asked for at once.", len(ids), m.batchMax)}
	}
	seen := make(map[string]bool, len(ids))
	unique := make([]zoom.UserID, 0, len(ids))
	for _, id := range ids {
		if k := id.Key(); !seen[k] {
			seen[k] = true
			unique = append(unique, id)
		}
	}
	return unique, nil
}

// Distribute mints an OBF for each participant of a host's meeting and pushes
// each to its user. hostUserId is authorized as for setup: an admin for any
// host, a host only as itself.
func (m *Meetings) Distribute(ctx context.Context, caller Identity, in DistributeInput) (BatchResult, error) {
	if err := authorizeDistribute(caller, in.HostUserID); err != nil {
		return BatchResult{}, err
	}
	return m.Batch(ctx, caller, in.BatchInput)
}
