package zoom

// The call path: every GET of Zoom's REST API (a mint, a meeting, a join
// token) is one call through do, and this file reads it top to bottom, in
// the order it runs:
//
//  1. the circuit breaker: while Zoom fails for every call, fail fast
//     (health.go keeps the breaker and readiness);
//  2. the daily quota's marks: a quota Zoom said is spent fails fast until
//     it resets;
//  3. the account's pace: an interactive call books the account's next
//     moment, a batch item waits for its turn first (pace.go);
//  4. an access token from the call's TokenSource: the S2S app's
//     (source.go) or a user's grant (services' connections);
//  5. one HTTP exchange;
//  6. classify the answer: the table of Zoom's answers (classify.go);
//  7. do what the verdict says: accept; re-authenticate once; retry with a
//     backoff; mark the daily quota spent and fail fast until it resets;
//     or return the typed error;
//
// and the outcome feeds the breaker and readiness. A call differs from
// another only in its URL, metric label, quota, and subject (what its
// answer must hold, and the words of its errors).
//
// Retries and backoff are small enough to own: backoff libraries keep one
// budget of tries, where a call has two (Zoom failing, Zoom's per-second
// limit) and a single re-authentication.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/secret"
)

// Mint asks Zoom for a ZAK or OBF token with the account's S2S app. OBF
// tokens are single-use: every call mints a new one and nothing is cached.
// Without an S2S app it answers ErrNotConnected.
func (c *Client) Mint(ctx context.Context, mr MintRequest) (Token, error) {
	if c.s2s == nil {
		return Token{}, errNoS2S("mint " + string(mr.Type) + " token")
	}
	return c.observeMint(ctx, mintCall{src: c.s2s, acct: c.own, mr: mr})
}

// MintAs asks Zoom for a ZAK or OBF token with a user's own grant: GET
// /v2/users/me/token with src's access token (src is that user's token
// source, and mr.UserID that user). account is the user's Zoom account id:
// calls are paced per account at ZOOM_QPS, since Zoom counts per account,
// and that account's daily quota is marked apart. Retries, the breaker and
// the daily handling are Mint's.
func (c *Client) MintAs(ctx context.Context, src TokenSource, account string, mr MintRequest) (Token, error) {
	return c.observeMint(ctx, mintCall{src: src, acct: c.accountFor(account), mr: mr, user: true})
}

// mintCall is one mint: the access tokens' source, the account it counts
// against, and whether it is a user's own grant (/users/me/token).
type mintCall struct {
	src  TokenSource
	acct *account
	mr   MintRequest
	user bool
}

func (c *Client) observeMint(ctx context.Context, mc mintCall) (Token, error) {
	start := c.now()
	tok, err := c.mint(ctx, mc)
	outcome := "ok"
	if err != nil {
		outcome = apperr.Code(err)
	}
	c.obs.Mint(string(mc.mr.Type), outcome, c.now().Sub(start))
	return tok, err
}

// mint is one token: one call of the user-token endpoint (do).
func (c *Client) mint(ctx context.Context, mc mintCall) (Token, error) {
	mr := mc.mr
	g := call{
		op:       "mint " + string(mr.Type) + " token",
		endpoint: "token_" + string(mr.Type),
		url:      func() (string, error) { return c.tokenURL(mr, mc.user) },
		src:      mc.src,
		acct:     mc.acct,
		quota:    quotaUserTokens,
		subject:  subject{user: mr.UserID, token: true},
	}
	if mc.user {
		g.op += " with the user's connection"
		g.endpoint = "me_" + g.endpoint
		g.subject.userGrant, g.subject.scope = true, "user:read:token"
	}
	a, err := c.do(ctx, g)
	if err != nil {
		return Token{}, err
	}
	return c.token(mr, a.token), nil
}

// tokenURL builds the user-token URL. The user id passed the allow-list when
// it was made, so it cannot leave its path segment; it is escaped with
// url.PathEscape only: unreserved characters such as '.' go as they are (RFC
// 3986 §2.3), and '@' too, which a path segment allows.
// With a user's own grant (me) the path is /users/me/token: the token names
// the user.
func (c *Client) tokenURL(mr MintRequest, me bool) (string, error) {
	if mr.UserID.IsZero() {
		return "", errors.New("no user id")
	}
	q := url.Values{"type": {string(mr.Type)}}
	switch mr.Type {
	case TokenZAK:
	case TokenOnBehalf:
		if mr.MeetingID.IsZero() {
			return "", errors.New("an OBF token needs a meeting id")
		}
		q.Set("meeting_id", mr.MeetingID.String())
	default:
		return "", fmt.Errorf("unknown token type %q", mr.Type)
	}
	if mr.TTL > 0 {
		q.Set("ttl", strconv.Itoa(mr.TTL))
	}
	if me {
		return c.apiURL + "/users/me/token?" + q.Encode(), nil
	}
	return c.apiURL + "/users/" + url.PathEscape(mr.UserID.String()) + "/token?" + q.Encode(), nil
}

func (c *Client) token(mr MintRequest, value string) Token {
	life := DefaultTokenLifetime
	if mr.TTL > 0 {
		life = time.Duration(mr.TTL) * time.Second
	}
	return Token{Type: mr.Type, UserID: mr.UserID, MeetingID: mr.MeetingID, Value: secret.New(value),
		ExpiresIn: life, ExpiresAt: c.now().Add(life)}
}

// call is one GET of Zoom's REST API, as do takes it.
type call struct {
	op       string                 // for errors and logs
	endpoint string                 // the metric label (Observer.ZoomCall)
	url      func() (string, error) // the URL, built once the daily quota is known not spent
	src      TokenSource            // the access token of each attempt
	acct     *account               // the Zoom account it counts against
	quota    quota                  // which of the account's daily quotas its daily 429s spend
	subject  subject                // what it asks about, with which grant (classifyCall)
}

// quota names a daily quota Zoom keeps per account and API.
type quota int

const (
	quotaUserTokens quota = iota // GET /users/{userId}/token, /users/me/token
	quotaMeetings                // GET /meetings/{meetingId}[/jointoken/…]
)

// do is the call path (steps 1 to 7 above). It returns the accepted answer.
func (c *Client) do(ctx context.Context, g call) (answer, error) {
	if err := c.breaker.check(); err != nil { // 1
		return answer{}, err
	}
	a, err := c.attempts(ctx, g)
	if zoomDown(err) {
		c.health.failed(c.now(), apperr.Code(err))
	}
	if c.breaker.record(err) {
		c.log.Error("zoom: failing for every call; failing fast", "for", breakerOpen.String())
	}
	return a, err
}

// attempts is steps 2 to 7: the call's attempts until one is accepted or
// the call gives up, all within the Deadline.
func (c *Client) attempts(ctx context.Context, g call) (answer, error) {
	if err := c.dailySpent(ctx, g); err != nil { // 2
		return answer{}, err
	}
	u, err := g.url()
	if err != nil {
		return answer{}, fmt.Errorf("%s: %w", g.op, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Deadline)
	defer cancel()
	var r retries
	var last error // the failure being retried: reported if the retry cannot be made
	for {
		if err := c.pace(ctx, g.acct); err != nil { // 3
			if last != nil && !errors.Is(err, context.Canceled) {
				return answer{}, last
			}
			return answer{}, err
		}
		access, err := g.src.Token(ctx) // 4
		if err != nil {
			return answer{}, err
		}
		a := c.attempt(ctx, g, u, access) // 5, 6
		switch a.verdict {                // 7
		case accept:
			return a, nil
		case reauth:
			g.src.Invalidate(access)
			if r.reauthed {
				return answer{}, a.err
			}
			r.reauthed = true
			c.log.Info("zoom: access token refused; fetching a new one")
		case retry, retrySlow:
			if a.verdict == retrySlow {
				c.obs.Throttled("qps")
			}
			if last = a.err; !c.again(ctx, &r, a.verdict) {
				return answer{}, last
			}
		case stopDaily:
			c.markDaily(ctx, g, a)
			return answer{}, a.err
		default:
			return answer{}, a.err
		}
	}
}

// Step 2: the daily quota's marks.

// dailySpent refuses the call at once while the daily quota it counts
// against is spent: the account's, or (user tokens) the user's; as marked
// here, or else as marked by another instance of the cluster.
func (c *Client) dailySpent(ctx context.Context, g call) error {
	wait, perUser := c.dailyWait(g.acct, g.quota, g.subject.user)
	if wait <= 0 {
		wait, perUser = c.sharedDailyWait(ctx, g.acct, g.quota, g.subject.user)
	}
	switch {
	case wait <= 0:
		return nil
	case g.quota == quotaMeetings:
		return meetingsDailyErr(g.op, wait)
	default:
		return dailyErr(g.op, wait, perUser)
	}
}

// dailyWait is how long Zoom's daily quota q stays spent for the account,
// or else for this user (perUser; user-token quota only).
func (c *Client) dailyWait(acct *account, q quota, user UserID) (wait time.Duration, perUser bool) {
	now := c.now()
	if until := acct.daily(q).Load(); until != 0 {
		if wait := time.Unix(0, until).Sub(now); wait > 0 {
			return wait, false
		}
	}
	if q != quotaUserTokens || user.IsZero() {
		return 0, false
	}
	if v, ok := c.dailyUsers.Get(user.Key()); ok {
		if wait := v.(time.Time).Sub(now); wait > 0 {
			return wait, true
		}
	}
	return 0, false
}

// sharedDailyWait is dailyWait's answer from the cluster's marks: another
// instance may have met the daily 429.
func (c *Client) sharedDailyWait(ctx context.Context, acct *account, q quota, user UserID) (wait time.Duration, perUser bool) {
	if c.cfg.Quota == nil {
		return 0, false
	}
	now := c.now()
	if w := c.cfg.Quota.DailyUntil(ctx, dailyKey(q)+"account:"+acct.id).Sub(now); w > 0 {
		return w, false
	}
	if q != quotaUserTokens || user.IsZero() {
		return 0, false
	}
	if w := c.cfg.Quota.DailyUntil(ctx, "user:"+user.Key()).Sub(now); w > 0 {
		return w, true
	}
	return 0, false
}

// dailyKey prefixes the cluster's mark of quota q: the user-token quota keeps
// the unprefixed keys, each other API's daily quota (Zoom counts them apart)
// has its own.
func dailyKey(q quota) string {
	if q == quotaMeetings {
		return "meetings:"
	}
	return ""
}

// Steps 5 and 6: one exchange, classified.

const maxZoomBody = 64 << 10 // the most of an answer read

// attempt is one HTTP exchange with Zoom and what its answer means
// (classifyCall); no answer at all (a timeout, a connection error) is a
// failure to retry. Either way it is counted (Observer.ZoomCall).
func (c *Client) attempt(ctx context.Context, g call, u string, access secret.Value) answer {
	start := c.now()
	status, body, hdr, err := c.get(ctx, u, access)
	d := c.now().Sub(start)
	var a answer
	if err != nil {
		a = answer{verdict: retry, err: transportErr(ctx, g.op, err), outcome: transportOutcome(err)}
	} else {
		a = classifyCall(g.op, g.subject, status, body, hdr, c.now())
	}
	c.obs.ZoomCall(g.endpoint, a.outcome, d)
	return a
}

func (c *Client) get(ctx context.Context, u string, access secret.Value) (int, []byte, http.Header, error) {
	return c.exchange(ctx, func(actx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(actx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+access.Reveal())
		req.Header.Set("Accept", "application/json")
		return req, nil
	})
}

// exchange sends one request with the per-attempt timeout and reads at most
// maxZoomBody bytes of the answer.
func (c *Client) exchange(ctx context.Context, build func(context.Context) (*http.Request, error)) (int, []byte, http.Header, error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	req, err := build(actx)
	if err != nil {
		return 0, nil, nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, scrubURLError(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxZoomBody))
	if err != nil {
		return 0, nil, nil, scrubURLError(err)
	}
	return resp.StatusCode, body, resp.Header, nil
}

// scrubURLError keeps the cause of a transport error but drops the URL, whose
// query could one day carry something that must not be logged.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

func transportOutcome(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return "timeout"
	}
	return "network"
}

func transportErr(ctx context.Context, op string, err error) error {
	if ctx.Err() == context.Canceled {
		return ctxErr(ctx, op)
	}
	if transportOutcome(err) == "timeout" || ctx.Err() != nil {
		return &apperr.Error{Kind: apperr.ErrZoomTimeout, Op: op, Err: err, Message: "Zoom did not answer in time; try again shortly."}
	}
	return &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: op, Err: err, Message: "Zoom could not be reached; try again shortly."}
}

func ctxErr(ctx context.Context, op string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &apperr.Error{Kind: apperr.ErrZoomTimeout, Op: op, Err: ctx.Err(), Message: "Zoom did not answer in time; try again shortly."}
	}
	return &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: op, Err: ctx.Err(), Message: "The request was cancelled."}
}

// Step 7: retry with a backoff; a daily quota spent.

// retries counts one call's tries by kind.
type retries struct {
	failures  int  // Zoom failing: 5xx, timeouts, connection errors
	throttled int  // Zoom's per-second 429s
	reauthed  bool // one fresh access token after a 401
}

// again decides whether to try once more after an answer of verdict v; it
// waits the backoff first. False: give up (budget spent, or no time left).
func (c *Client) again(ctx context.Context, r *retries, v verdict) bool {
	var n int
	base := c.cfg.BackoffBase
	switch v {
	case retry:
		r.failures++
		if r.failures > c.cfg.MaxRetries {
			return false
		}
		n = r.failures
	case retrySlow:
		r.throttled++
		if r.throttled > c.cfg.Max429Retries {
			return false
		}
		n, base = r.throttled, 2*base
	default:
		return false
	}
	return c.sleep(ctx, c.backoff(n, base)) == nil
}

// backoff is the n-th wait: base doubled per try up to BackoffMax, with
// equal jitter (half fixed, half random) so retries spread but still wait.
func (c *Client) backoff(n int, base time.Duration) time.Duration {
	d := min(base<<min(n-1, 10), c.cfg.BackoffMax)
	return d/2 + rand.N(d/2+1)
}

// sleep waits d, or returns an error at once if ctx would end first.
func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return context.DeadlineExceeded
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// markDaily remembers that Zoom's daily quota of the call is spent until
// a.until: the account's, or (a.perUser, user tokens) the user's; here,
// and for the cluster.
func (c *Client) markDaily(ctx context.Context, g call, a answer) {
	c.obs.Throttled("daily")
	user := g.subject.user
	perUser := a.perUser && g.quota == quotaUserTokens && !user.IsZero() // the meeting APIs' quotas are the account's
	key := dailyKey(g.quota) + "account:" + g.acct.id
	if perUser {
		c.dailyUsers.Set(user.Key(), a.until, a.until.Sub(c.now())+time.Minute)
		c.log.Warn("zoom: the daily quota of user tokens for one user is spent", "until", a.until)
		key = "user:" + user.Key()
	} else {
		g.acct.daily(g.quota).Store(a.until.UnixNano())
		c.log.Error("zoom: the account's daily quota for this API is spent", "until", a.until)
	}
	if c.cfg.Quota != nil {
		c.cfg.Quota.MarkDaily(ctx, key, a.until)
	}
}
