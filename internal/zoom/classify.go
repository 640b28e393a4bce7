package zoom

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
)

// What Zoom's answers mean (docs/ZOOM.md), as tables: zoomAnswers for its
// REST API, classifyOAuth for the S2S app's token endpoint. Pure: no I/O, no
// state. The call path (call.go) does what the verdict says.

// verdict is what the client does with one answer of Zoom's.
type verdict int

const (
	accept    verdict = iota // a good answer: use it
	reauth                   // the access token was refused: drop it, get a new one, retry once
	retry                    // Zoom is failing: retry after a backoff, a few times
	retrySlow                // Zoom's per-second limit: retry after a longer backoff, more times
	stopDaily                // Zoom's daily quota is spent: fail fast until it resets
	stop                     // final: return the error
)

// answer is one classified answer: the verdict, the error to return when
// the client stops, the metric outcome, and what the answer carried.
type answer struct {
	verdict verdict
	err     error
	outcome string    // metric label: ok, zoom_<code>, http_<status>
	token   string    // accept: the minted token
	body    []byte    // accept: the answer's body, for calls that read more than a token
	until   time.Time // stopDaily: when the quota is back
	perUser bool      // stopDaily: the quota spent is one user's, not the account's
}

// zoomReply is the body of Zoom's REST answers, good or bad.
type zoomReply struct {
	Token   string `json:"token"`
	Code    int    `json:"code"`
	Message string `json:"message"`
	Errors  []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// errInvalidZoomReply is the cause of an answer that does not hold what Zoom promises.
var errInvalidZoomReply = errors.New("unexpected reply from zoom")

// subject is what a call to Zoom is about, for the words of its errors and
// for what a good answer must hold.
type subject struct {
	user     UserID    // the user asked about; zero: none
	meeting  MeetingID // the meeting asked about (a meetings endpoint); zero: none
	token    bool      // a good answer must carry "token"
	meetings bool      // a meetings endpoint: code 3001 means no such meeting
	// userGrant: the access token is a user's own grant (MintAs, …As), not
	// the S2S app's: a refusal names the user's grant and the General app.
	userGrant bool
	// scope is the scope the call needs, named when Zoom says it is
	// missing; the S2S app's user-token scopes have words of their own.
	scope string
}

// classify reads one answer of the user-token endpoint (classifyCall, for
// a call that must answer a token, about user).
func classify(op string, user UserID, status int, body []byte, hdr http.Header, now time.Time) answer {
	return classifyCall(op, subject{user: user, token: true}, status, body, hdr, now)
}

// classifyCall reads one answer of Zoom's REST API: the first row of
// zoomAnswers that holds it gives the verdict and the error.
func classifyCall(op string, sub subject, status int, body []byte, hdr http.Header, now time.Time) answer {
	z := zoomAnswer{op: op, sub: sub, status: status, hdr: hdr, now: now}
	_ = json.Unmarshal(body, &z.reply)
	row := z.row()
	a := answer{verdict: row.verdict, outcome: z.outcome()}
	switch row.verdict {
	case accept:
		a.token, a.body = z.reply.Token, body
	case stopDaily:
		a.until, a.perUser = z.dailyReset()
	}
	if row.err != nil {
		a.err = row.err(z)
	}
	return a
}

// zoomAnswer is one answer of Zoom's REST API as the table reads it.
type zoomAnswer struct {
	op     string
	sub    subject
	status int
	reply  zoomReply
	hdr    http.Header
	now    time.Time
}

// answerRow is one row of the table: the answers it holds, what the client
// does with them, and the typed error it returns (nil: accepted).
type answerRow struct {
	answer  string // Zoom's answer, in words
	holds   func(z zoomAnswer) bool
	verdict verdict
	err     func(z zoomAnswer) error
}

// zoomAnswers is the one table of what Zoom's REST answers mean
// (docs/ZOOM.md), for every GET the client makes. The first row that holds
// an answer decides. Zoom's error codes mean the same whatever the HTTP
// status that carries them (a 1001 has come in a 400), so the rows of codes
// come before those of statuses. The last row holds every answer.
var zoomAnswers = []answerRow{
	{"200 without the token the call asks for", func(z zoomAnswer) bool {
		return z.status == http.StatusOK && z.sub.token && z.reply.Token == ""
	}, stop, noTokenErr},
	{"200", statusIs(http.StatusOK), accept, nil},
	{"code 124, or a 401 without a code: the access token is revoked or expired", func(z zoomAnswer) bool {
		return z.reply.Code == 124 || (z.status == http.StatusUnauthorized && z.reply.Code == 0)
	}, reauth, tokenRefusedErr},
	{"code 1001: no such user", codeIs(1001), stop, userNotFoundErr},
	{"code 3001 from a meetings endpoint: no such meeting", func(z zoomAnswer) bool {
		return z.reply.Code == 3001 && z.sub.meetings
	}, stop, meetingNotFoundErr},
	{"code 4711 or 4700: the access token lacks a scope", codeIs(4711, 4700), stop, missingScopeErr},
	{"429 of a daily limit (X-RateLimit-Type, or the message's words)", func(z zoomAnswer) bool {
		return z.status == http.StatusTooManyRequests && isDaily(z.hdr, z.reply.Message)
	}, stopDaily, dailyLimitErr},
	{"429: the per-second limit", statusIs(http.StatusTooManyRequests), retrySlow, perSecondLimitErr},
	{"5xx: Zoom failing", func(z zoomAnswer) bool { return z.status >= 500 }, retry, zoomFailingErr},
	{"code 300: validation failed", codeIs(300), stop, validationErr},
	{"any other refusal", func(zoomAnswer) bool { return true }, stop, refusedErr},
}

func statusIs(status int) func(zoomAnswer) bool {
	return func(z zoomAnswer) bool { return z.status == status }
}

func codeIs(codes ...int) func(zoomAnswer) bool {
	return func(z zoomAnswer) bool {
		for _, c := range codes {
			if z.reply.Code == c {
				return true
			}
		}
		return false
	}
}

// row is the row of zoomAnswers that holds z.
func (z zoomAnswer) row() answerRow {
	for _, r := range zoomAnswers {
		if r.holds(z) {
			return r
		}
	}
	return zoomAnswers[len(zoomAnswers)-1]
}

// outcome is the metric label of z: ok, zoom_<code> or http_<status>.
func (z zoomAnswer) outcome() string {
	switch {
	case z.status == http.StatusOK:
		return "ok"
	case z.reply.Code != 0:
		return "zoom_" + strconv.Itoa(z.reply.Code)
	default:
		return "http_" + strconv.Itoa(z.status)
	}
}

// dailyReset is when a daily 429's quota is back (Retry-After, else the next
// UTC midnight), and whether the quota is one user's rather than the
// account's (the meeting APIs' quotas are the account's).
func (z zoomAnswer) dailyReset() (until time.Time, perUser bool) {
	until = parseRetryAfter(z.hdr.Get("Retry-After"), z.now)
	if !until.After(z.now) {
		until = nextUTCMidnight(z.now)
	}
	return until, dailyPerUser(z.reply.Message) && !z.sub.meetings
}

// The typed errors of the table's rows.

func noTokenErr(z zoomAnswer) error {
	return &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: z.op, Err: errInvalidZoomReply,
		Message: "Zoom answered without a token."}
}

func tokenRefusedErr(z zoomAnswer) error {
	if z.sub.userGrant {
		return &apperr.Error{Kind: apperr.ErrZoomAuth, Op: z.op, ZoomCode: z.reply.Code,
			Message: "Zoom refused the user's freshly refreshed access token.",
			Hint:    "The user may have removed the app in Zoom; have them connect again."}
	}
	return &apperr.Error{Kind: apperr.ErrZoomAuth, Op: z.op, ZoomCode: z.reply.Code,
		Message: "Zoom refused a freshly issued access token.",
		Hint:    "Check that the Server-to-Server OAuth app is activated and not disabled."}
}

func userNotFoundErr(z zoomAnswer) error {
	msg := "Zoom has no such user in this account."
	if !z.sub.user.IsZero() {
		msg = fmt.Sprintf("Zoom has no user %q in this account.", z.sub.user.String())
	}
	return &apperr.Error{Kind: apperr.ErrUserNotFound, Op: z.op, ZoomCode: 1001, Message: msg}
}

func meetingNotFoundErr(z zoomAnswer) error {
	msg := fmt.Sprintf("Zoom has no meeting %s in this server's account (code 3001): it is hosted in another account, has ended, or does not exist.", z.sub.meeting.String())
	if z.sub.userGrant {
		msg = "Zoom has no meeting by that number hosted by you (code 3001): a local-recording join token is given only for a meeting its host asks for, and the meeting must exist."
	}
	return &apperr.Error{Kind: apperr.ErrMeetingNotFound, Op: z.op, ZoomCode: 3001, Message: msg}
}

func missingScopeErr(z zoomAnswer) error {
	e := &apperr.Error{Kind: apperr.ErrZoomRejected, Op: z.op, ZoomCode: z.reply.Code}
	switch scope := z.sub.scope; {
	case z.sub.userGrant:
		e.Message = "Zoom refused: the user's grant lacks the scope " + scope + "."
		e.Hint = "Add " + scope + " to the General app's scopes (Zoom App Marketplace, the app's Scopes page), then have the user connect again."
	case scope != "":
		e.Message = "Zoom refused: the Server-to-Server OAuth app lacks the scope " + scope + "."
		e.Hint = "Add it to the app's scopes (Zoom App Marketplace, the app's Scopes page), then activate the app again."
	default:
		e.Message = "Zoom refused: the Server-to-Server OAuth app lacks the scope to read user tokens."
		e.Hint = "Add the scope user:read:token:admin (classic: user:read:admin) to the app, then activate it again."
	}
	return e
}

func dailyLimitErr(z zoomAnswer) error {
	until, perUser := z.dailyReset()
	if z.sub.meetings {
		return meetingsDailyErr(z.op, until.Sub(z.now))
	}
	return dailyErr(z.op, until.Sub(z.now), perUser)
}

func perSecondLimitErr(z zoomAnswer) error {
	return &apperr.Error{Kind: apperr.ErrZoomRateLimited, Op: z.op, ZoomCode: 429, RetryAfter: time.Second,
		Message: "Zoom's per-second rate limit for this account is reached; try again in a second.",
		Hint:    "Lower ZOOM_QPS if other apps share the Zoom account."}
}

func zoomFailingErr(z zoomAnswer) error {
	return &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: z.op,
		Message: fmt.Sprintf("Zoom is failing (HTTP %d); try again shortly.", z.status)}
}

func validationErr(z zoomAnswer) error {
	details := make([]apperr.FieldError, 0, len(z.reply.Errors))
	for _, fe := range z.reply.Errors {
		details = append(details, apperr.FieldError{Field: fe.Field, Reason: "was refused by Zoom: " + fe.Message})
	}
	e := apperr.InvalidInput(z.op, details...)
	e.ZoomCode = 300
	if len(details) == 0 {
		e.Message = "Zoom refused the request as invalid."
	}
	return e
}

func refusedErr(z zoomAnswer) error {
	msg := z.reply.Message
	if msg == "" {
		msg = http.StatusText(z.status)
	}
	return &apperr.Error{Kind: apperr.ErrZoomRejected, Op: z.op, ZoomCode: z.reply.Code,
		Message: fmt.Sprintf("Zoom refused the request (HTTP %d, code %d): %s", z.status, z.reply.Code, truncate(msg, 200))}
}

// oauthReply is the body of the OAuth token endpoint's answers.
type oauthReply struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
	Error       string `json:"error"`
	Reason      string `json:"reason"`
}

// classifyOAuth reads one answer of the OAuth token endpoint to an S2S
// (account_credentials) request.
func classifyOAuth(op string, status int, body []byte) (answer, oauthReply) {
	var r oauthReply
	_ = json.Unmarshal(body, &r)
	a := answer{outcome: "http_" + strconv.Itoa(status)}
	switch {
	case status == http.StatusOK:
		a.outcome = "ok"
		if r.AccessToken == "" || r.ExpiresIn <= 0 {
			a.verdict, a.err = stop, &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: op, Err: errInvalidZoomReply,
				Message: "Zoom's OAuth endpoint answered without an access token or expires_in."}
			return a, r
		}
		a.verdict = accept
	case status == http.StatusTooManyRequests:
		a.verdict, a.err = retry, &apperr.Error{Kind: apperr.ErrZoomRateLimited, Op: op, RetryAfter: time.Second,
			Message: "Zoom is rate limiting access-token requests; try again shortly."}
	case status >= 500:
		a.verdict, a.err = retry, &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: op,
			Message: fmt.Sprintf("Zoom's OAuth endpoint is failing (HTTP %d); try again shortly.", status)}
	default:
		if r.Error != "" {
			a.outcome = "oauth_" + safeLabel(r.Error)
		}
		a.verdict, a.err = stop, oauthError(op, status, r)
	}
	return a, r
}

func oauthError(op string, status int, r oauthReply) error {
	e := &apperr.Error{Kind: apperr.ErrZoomAuth, Op: op}
	switch r.Error {
	case "invalid_client":
		e.Message = "Zoom refused the Server-to-Server OAuth client id or secret (invalid_client)."
		e.Hint = "Check ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET against the app's App Credentials page."
	case "unsupported_grant_type":
		e.Message = "Zoom refused the account_credentials grant (unsupported_grant_type)."
		e.Hint = "These credentials belong to a General app; create a Server-to-Server OAuth app in the Zoom App Marketplace and use its credentials."
	case "invalid_request":
		e.Message = "Zoom refused the access-token request (invalid_request)."
		if strings.Contains(strings.ToLower(r.Reason), "activat") {
			e.Hint = "Activate the Server-to-Server OAuth app in the Zoom App Marketplace."
		} else {
			e.Hint = "Check ZOOM_ACCOUNT_ID: it must be the Account ID on the app's App Credentials page."
		}
	default:
		e.Message = fmt.Sprintf("Zoom refused the access-token request (HTTP %d).", status)
		e.Hint = "Check ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET."
	}
	return e
}

func dailyErr(op string, wait time.Duration, perUser bool) error {
	msg := "Zoom's daily quota for user tokens is spent for this account."
	if perUser {
		msg = "Zoom's daily quota of tokens for this user is spent."
	}
	return &apperr.Error{Kind: apperr.ErrZoomRateLimited, Op: op, ZoomCode: 429, RetryAfter: max(wait, time.Second),
		Message: msg,
		Hint:    "Zoom resets it at the time given in Retry-After (the next UTC midnight); a higher Zoom plan has a higher quota."}
}

// meetingsDailyErr is dailyErr for the meeting APIs' own daily quota.
func meetingsDailyErr(op string, wait time.Duration) error {
	return &apperr.Error{Kind: apperr.ErrZoomRateLimited, Op: op, ZoomCode: 429, RetryAfter: max(wait, time.Second),
		Message: "Zoom's daily quota for its meeting API is spent for this account.",
		Hint:    "Zoom resets it at the time given in Retry-After (the next UTC midnight); a higher Zoom plan has a higher quota."}
}

// isDaily tells Zoom's daily limit from its per-second one: by the documented
// header, or by the message, since daily 429s have arrived without the header
// ("You have exceeded the daily rate limit (100) of Get a user's token API
// requests permitted for this particular user. ...").
func isDaily(h http.Header, message string) bool {
	return strings.Contains(strings.ToLower(h.Get("X-RateLimit-Type")), "daily") ||
		strings.Contains(strings.ToLower(message), "daily")
}

// dailyPerUser reports whether a daily 429's message says the limit is that
// user's; otherwise it is taken as the account's.
func dailyPerUser(message string) bool {
	m := strings.ToLower(message)
	return strings.Contains(m, "this particular user") || strings.Contains(m, "for this user")
}

func nextUTCMidnight(now time.Time) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// parseRetryAfter reads Zoom's Retry-After: an ISO 8601 date-time for daily
// limits, or seconds, or an HTTP date. Unreadable: the next UTC midnight.
func parseRetryAfter(v string, now time.Time) time.Time {
	v = strings.TrimSpace(v)
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05", http.TimeFormat} {
		if t, err := time.Parse(layout, v); err == nil {
			return t
		}
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return now.Add(time.Duration(s) * time.Second)
	}
	return nextUTCMidnight(now)
}

// safeLabel keeps a metric label to lower-case letters and underscores.
func safeLabel(s string) string {
	var b strings.Builder
	for _, r := range s {
		if (r >= 'a' && r <= 'z') || r == '_' {
			b.WriteRune(r)
		}
		if b.Len() >= 32 {
			break
		}
	}
	if b.Len() == 0 {
		return "other"
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
