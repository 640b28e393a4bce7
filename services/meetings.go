package services

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"
)

// Minter mints Zoom user tokens; *Zoom is one.
type Minter interface {
	Mint(ctx context.Context, mr MintRequest) (Token, error)
	Check(ctx context.Context) error
	QPS() float64
}

// Notifier pushes a freshly minted token to the connected sockets of the
// user it was minted for, and only to them. It reports whether any socket
// received it.
type Notifier interface {
	PushToken(tok Token) bool
}

// Meetings is what a caller can ask for: start, join, batch-join, setup.
// REST and Socket.IO both go through it, so the rules are the same on both.
type Meetings struct {
	zoom     Minter
	notify   Notifier
	batchMax int
	log      *slog.Logger

	mu      sync.Mutex
	running map[string]int // batches in progress, by caller
}

// MaxBatchesPerCaller is how many batches (batch-join, setup, distribute) one
// caller may have in progress at once. The Zoom quota is shared; without this,
// one caller queueing batches would hold every other caller's calls back.
const MaxBatchesPerCaller = 2

// NewMeetings returns the meeting operations. notify may be nil until the
// realtime side is attached with SetNotifier.
func NewMeetings(zoom Minter, batchMax int, log *slog.Logger) *Meetings {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Meetings{zoom: zoom, batchMax: batchMax, log: log, running: map[string]int{}}
}

// SetNotifier attaches the realtime push. Call it before serving.
func (m *Meetings) SetNotifier(n Notifier) { m.notify = n }

// BatchMax is the most participants one batch may name.
func (m *Meetings) BatchMax() int { return m.batchMax }

// Minted is a token and whether it was pushed to a connected socket.
type Minted struct {
	Token
	Delivered bool
}

// Failure is one user whose token could not be minted.
type Failure struct {
	UserID string
	Err    error
}

// BatchResult holds a batch's tokens in the order asked, and its failures.
type BatchResult struct {
	Successful []Minted
	Failed     []Failure
	Total      int // distinct users asked for
}

// StartInput asks for a host's ZAK.
type StartInput struct {
	MeetingID  MeetingID
	HostUserID string
	TTL        int
}

// JoinInput asks for a participant's OBF.
type JoinInput struct {
	MeetingID         MeetingID
	ParticipantUserID string
	TTL               int
}

// BatchInput asks for OBFs for several participants.
type BatchInput struct {
	MeetingID          MeetingID
	ParticipantUserIDs []string
}

// DistributeInput asks, over Socket.IO, for OBFs pushed to each participant.
type DistributeInput struct {
	BatchInput
	HostUserID string
}

// SetupInput asks for a host's ZAK and, optionally, participants' OBFs.
type SetupInput struct {
	MeetingID          MeetingID
	HostUserID         string
	ParticipantUserIDs []string
	TTL                int
}

// SetupResult is the host's ZAK and the participants' batch.
type SetupResult struct {
	Host Minted
	BatchResult
}

// Start mints a ZAK for the host and pushes it to the host's sockets.
func (m *Meetings) Start(ctx context.Context, caller Identity, in StartInput) (Minted, error) {
	if err := checkOne("start", in.MeetingID, "hostUserId", in.HostUserID, in.TTL); err != nil {
		return Minted{}, err
	}
	if err := AuthorizeStart(caller, in.HostUserID); err != nil {
		return Minted{}, err
	}
	return m.mint(ctx, MintRequest{Type: TokenZAK, UserID: in.HostUserID, MeetingID: in.MeetingID, TTL: in.TTL})
}

// Join mints an OBF for the participant and pushes it to its sockets.
func (m *Meetings) Join(ctx context.Context, caller Identity, in JoinInput) (Minted, error) {
	if err := checkOne("join", in.MeetingID, "participantUserId", in.ParticipantUserID, in.TTL); err != nil {
		return Minted{}, err
	}
	if err := AuthorizeJoin(caller, in.ParticipantUserID); err != nil {
		return Minted{}, err
	}
	return m.mint(ctx, MintRequest{Type: TokenOnBehalf, UserID: in.ParticipantUserID, MeetingID: in.MeetingID, TTL: in.TTL})
}

// Batch mints an OBF for each distinct participant, pacing calls to Zoom's
// quota, and pushes each to its user. Per-user failures are in the result.
func (m *Meetings) Batch(ctx context.Context, caller Identity, in BatchInput) (BatchResult, error) {
	ids, err := m.checkBatch("batch", in.MeetingID, in.ParticipantUserIDs, true)
	if err != nil {
		return BatchResult{}, err
	}
	if err := AuthorizeBatch(caller); err != nil {
		return BatchResult{}, err
	}
	release, err := m.startBatch(caller, len(ids))
	if err != nil {
		return BatchResult{}, err
	}
	defer release()
	// If no access token can be had at all, say so once rather than per user.
	if err := m.zoom.Check(ctx); err != nil {
		return BatchResult{}, err
	}
	return m.fanOut(ctx, in.MeetingID, ids), nil
}

// Distribute mints OBFs for the participants on behalf of hostUserId, which
// is authorized as setup's: an admin any, a host only itself.
func (m *Meetings) Distribute(ctx context.Context, caller Identity, in DistributeInput) (BatchResult, error) {
	if err := AuthorizeSetup(caller, in.HostUserID); err != nil {
		return BatchResult{}, err
	}
	return m.Batch(ctx, caller, in.BatchInput)
}

// Setup mints the host's ZAK, then OBFs for the participants.
func (m *Meetings) Setup(ctx context.Context, caller Identity, in SetupInput) (SetupResult, error) {
	if err := checkOne("setup", in.MeetingID, "hostUserId", in.HostUserID, in.TTL); err != nil {
		return SetupResult{}, err
	}
	ids, err := m.checkBatch("setup", in.MeetingID, in.ParticipantUserIDs, false)
	if err != nil {
		return SetupResult{}, err
	}
	if err := AuthorizeSetup(caller, in.HostUserID); err != nil {
		return SetupResult{}, err
	}
	if len(ids) > 0 {
		release, err := m.startBatch(caller, len(ids))
		if err != nil {
			return SetupResult{}, err
		}
		defer release()
	}
	host, err := m.mint(ctx, MintRequest{Type: TokenZAK, UserID: in.HostUserID, MeetingID: in.MeetingID, TTL: in.TTL})
	if err != nil {
		return SetupResult{}, err
	}
	return SetupResult{Host: host, BatchResult: m.fanOut(ctx, in.MeetingID, ids)}, nil
}

// startBatch counts a batch against its caller, or refuses a caller with
// MaxBatchesPerCaller already running.
func (m *Meetings) startBatch(caller Identity, n int) (func(), error) {
	key := caller.RateKey()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running[key] >= MaxBatchesPerCaller {
		wait := time.Duration(float64(n) / m.zoom.QPS() * float64(time.Second))
		return nil, &Error{Kind: ErrRateLimited, Op: "batch", RetryAfter: max(time.Second, wait),
			Message: fmt.Sprintf("You already have %d batches in progress; wait for one to finish.", MaxBatchesPerCaller)}
	}
	m.running[key]++
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.running[key]--; m.running[key] <= 0 {
			delete(m.running, key)
		}
	}, nil
}

func (m *Meetings) mint(ctx context.Context, mr MintRequest) (Minted, error) {
	tok, err := m.zoom.Mint(ctx, mr)
	if err != nil {
		return Minted{}, err
	}
	return Minted{Token: tok, Delivered: m.push(tok)}, nil
}

func (m *Meetings) push(tok Token) bool {
	if m.notify == nil {
		return false
	}
	return m.notify.PushToken(tok)
}

// fanOut mints OBFs with bounded concurrency. The Zoom client's limiter sets
// the pace; the workers only hide Zoom's latency.
func (m *Meetings) fanOut(ctx context.Context, meeting MeetingID, ids []string) BatchResult {
	res := BatchResult{Total: len(ids)}
	if len(ids) == 0 {
		return res
	}
	type outcome struct {
		tok       Token
		err       error
		delivered bool
	}
	out := make([]outcome, len(ids))
	workers := min(len(ids), max(4, min(64, int(math.Ceil(m.zoom.QPS()))*2)))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				o := &out[i]
				o.tok, o.err = m.zoom.Mint(ctx, MintRequest{Type: TokenOnBehalf, UserID: ids[i], MeetingID: meeting})
				if o.err == nil {
					// Push at once: a participant waiting on its socket should not wait for the batch.
					o.delivered = m.push(o.tok)
				}
			}
		}()
	}
	for i := range ids {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, o := range out {
		if o.err != nil {
			res.Failed = append(res.Failed, Failure{UserID: ids[i], Err: o.err})
			continue
		}
		res.Successful = append(res.Successful, Minted{Token: o.tok, Delivered: o.delivered})
	}
	if len(res.Failed) > 0 {
		m.log.Warn("batch: some tokens could not be minted", "meeting", meeting.String(),
			"total", res.Total, "failed", len(res.Failed), "first_error", res.Failed[0].Err)
	}
	return res
}

func checkOne(op string, meeting MeetingID, field, userID string, ttl int) error {
	var details []FieldError
	if meeting.IsZero() {
		details = append(details, FieldError{Field: "meetingId", Reason: "is required"})
	}
	if reason := CheckUserID(userID); reason != "" {
		details = append(details, FieldError{Field: field, Reason: reason})
	}
	if ttl < 0 || ttl > MaxTTLSeconds {
		details = append(details, FieldError{Field: "ttl", Reason: fmt.Sprintf("must be between 1 and %d seconds", MaxTTLSeconds)})
	}
	if len(details) > 0 {
		return InvalidInput(op, details...)
	}
	return nil
}

// checkBatch validates a participant list and returns it without
// duplicates, first spelling kept, in the order given.
func (m *Meetings) checkBatch(op string, meeting MeetingID, ids []string, required bool) ([]string, error) {
	var details []FieldError
	if meeting.IsZero() {
		details = append(details, FieldError{Field: "meetingId", Reason: "is required"})
	}
	if required && len(ids) == 0 {
		details = append(details, FieldError{Field: "participantUserIds", Reason: "must list at least one user"})
	}
	if len(ids) > m.batchMax {
		return nil, &Error{Kind: ErrTooLarge, Op: op,
			Message: fmt.Sprintf("participantUserIds lists %d users; at most %d (BATCH_MAX) may be asked for at once.", len(ids), m.batchMax)}
	}
	seen := make(map[string]bool, len(ids))
	unique := make([]string, 0, len(ids))
	for i, id := range ids {
		if reason := CheckUserID(id); reason != "" {
			details = append(details, FieldError{Field: fmt.Sprintf("participantUserIds[%d]", i), Reason: reason})
			continue
		}
		if k := UserKey(id); !seen[k] {
			seen[k] = true
			unique = append(unique, id)
		}
	}
	if len(details) > 0 {
		if len(details) > 20 {
			details = details[:20]
		}
		return nil, InvalidInput(op, details...)
	}
	return unique, nil
}

// HumanDuration writes d the way the original service did: "2 hours".
func HumanDuration(d time.Duration) string {
	s := int64(d / time.Second)
	unit := func(n int64, word string) string {
		if n == 1 {
			return "1 " + word
		}
		return fmt.Sprintf("%d %ss", n, word)
	}
	switch {
	case s >= 86400 && s%86400 == 0:
		return unit(s/86400, "day")
	case s >= 3600 && s%3600 == 0:
		return unit(s/3600, "hour")
	case s >= 60 && s%60 == 0:
		return unit(s/60, "minute")
	default:
		return unit(s, "second")
	}
}
