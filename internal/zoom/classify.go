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

// classify reads one answer of the user-token endpoint (classifyCall, for
// a call that must answer a token, about user).
func classify(op string, user UserID, status int, body []byte, hdr http.Header, now time.Time) answer {
	return classifyCall(op, subject{user: user, token: true}, status, body, hdr, now)
}

// subject is what a call to Zoom is about, for the words of its errors and
// for what a good answer must hold.
type subject struct {
	user     UserID    // the user asked about; zero: none
	meeting  MeetingID // the meeting asked about (a meetings endpoint); zero: none
	token    bool      // a good answer must carry "token"
	meetings bool      // a meetings endpoint: code 3001 means no such meeting
}

// classifyCall reads one answer of Zoom's REST API. It is the one table of
// what Zoom's answers mean (docs/ZOOM.md): Zoom's error codes mean the same
// whatever the HTTP status that carries them (a 1001 has come in a 400), so
// codes are read first; then the status.
func classifyCall(op string, sub subject, status int, body []byte, hdr http.Header, now time.Time) answer {
	user := sub.user
	var r zoomReply
	_ = json.Unmarshal(body, &r)
	a := answer{outcome: "http_" + strconv.Itoa(status)}
	if status == http.StatusOK {
		a.outcome = "ok"
	} else if r.Code != 0 {
		a.outcome = "zoom_" + strconv.Itoa(r.Code)
	}
	fail := func(v verdict, err error) answer { a.verdict, a.err = v, err; return a }
	switch {
	case status == http.StatusOK:
		if sub.token && r.Token == "" {
			return fail(stop, &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: op, Err: errInvalidZoomReply,
				Message: "Zoom answered without a token."})
		}
		a.verdict, a.token, a.body = accept, r.Token, body
		return a
	case r.Code == 124 || (status == http.StatusUnauthorized && r.Code == 0):
		// Revoked or expired access token.
		return fail(reauth, &apperr.Error{Kind: apperr.ErrZoomAuth, Op: op, ZoomCode: r.Code,
			Message: "Zoom refused a freshly issued access token.",
			Hint:    "Check that the Server-to-Server OAuth app is activated and not disabled."})
	case r.Code == 1001 && user.IsZero():
		return fail(stop, &apperr.Error{Kind: apperr.ErrUserNotFound, Op: op, ZoomCode: 1001,
			Message: "Zoom has no such user in this account."})
	case r.Code == 1001:
		return fail(stop, &apperr.Error{Kind: apperr.ErrUserNotFound, Op: op, ZoomCode: 1001,
			Message: fmt.Sprintf("Zoom has no user %q in this account.", user.String())})
	case r.Code == 3001 && sub.meetings:
		return fail(stop, &apperr.Error{Kind: apperr.ErrMeetingNotFound, Op: op, ZoomCode: 3001,
			Message: fmt.Sprintf("Zoom has no meeting %s in this server's account (code 3001): it is hosted in another account, has ended, or does not exist.", sub.meeting.String())})
	case r.Code == 4711 || r.Code == 4700:
		return fail(stop, &apperr.Error{Kind: apperr.ErrZoomRejected, Op: op, ZoomCode: r.Code,
			Message: "Zoom refused: the Server-to-Server OAuth app lacks the scope to read user tokens.",
			Hint:    "Add the scope user:read:token:admin (classic: user:read:admin) to the app, then activate it again."})
	case status == http.StatusTooManyRequests && isDaily(hdr, r.Message):
		// Not retried: it lasts until Retry-After, or the next UTC midnight.
		a.until = parseRetryAfter(hdr.Get("Retry-After"), now)
		if !a.until.After(now) {
			a.until = nextUTCMidnight(now)
		}
		a.perUser = dailyPerUser(r.Message)
		if sub.meetings {
			a.perUser = false
			return fail(stopDaily, meetingsDailyErr(op, a.until.Sub(now)))
		}
		return fail(stopDaily, dailyErr(op, a.until.Sub(now), a.perUser))
	case status == http.StatusTooManyRequests:
		return fail(retrySlow, &apperr.Error{Kind: apperr.ErrZoomRateLimited, Op: op, ZoomCode: 429, RetryAfter: time.Second,
			Message: "Zoom's per-second rate limit for this account is reached; try again in a second.",
			Hint:    "Lower ZOOM_QPS if other apps share the Zoom account."})
	case status >= 500:
		return fail(retry, &apperr.Error{Kind: apperr.ErrZoomUnavailable, Op: op,
			Message: fmt.Sprintf("Zoom is failing (HTTP %d); try again shortly.", status)})
	case r.Code == 300:
		details := make([]apperr.FieldError, 0, len(r.Errors))
		for _, fe := range r.Errors {
			details = append(details, apperr.FieldError{Field: fe.Field, Reason: "was refused by Zoom: " + fe.Message})
		}
		e := apperr.InvalidInput(op, details...)
		e.ZoomCode = 300
		if len(details) == 0 {
			e.Message = "Zoom refused the request as invalid."
		}
		return fail(stop, e)
	default:
		msg := r.Message
		if msg == "" {
			msg = http.StatusText(status)
		}
		return fail(stop, &apperr.Error{Kind: apperr.ErrZoomRejected, Op: op, ZoomCode: r.Code,
			Message: fmt.Sprintf("Zoom refused the request (HTTP %d, code %d): %s", status, r.Code, truncate(msg, 200))})
	}
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
