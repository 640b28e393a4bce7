package zoom

import "time"

// Observer is told what the client does, for metrics. Labels are fixed
// words: never a token, a secret or a user id.
type Observer interface {
	// ZoomCall: endpoint is "oauth_token", "token_zak" or "token_onbehalf"
	// (S2S); "oauth_user_code", "oauth_user_refresh", "oauth_revoke",
	// "users_me", "me_token_zak" or "me_token_onbehalf" (users' grants);
	// "meeting", "jointoken_local_recording" (S2S) or
	// "me_jointoken_local_recording" (a user's grant) for the meeting calls;
	// outcome is "ok", "zoom_<code>", "http_<status>", "oauth_<error>",
	// "network" or "timeout".
	ZoomCall(endpoint, outcome string, d time.Duration)
	// TokenCache: event is "hit", "miss", "refresh", "stale_used" or "invalidated".
	TokenCache(event string)
	// LimiterWait: how long a call waited for the process-wide Zoom limiter.
	LimiterWait(d time.Duration)
	// Throttled: Zoom answered 429; kind is "qps" or "daily".
	Throttled(kind string)
	// Mint: a whole mint, retries included; typ is "zak" or "onbehalf",
	// outcome is "ok" or an error code.
	Mint(typ, outcome string, d time.Duration)
}

type nopObserver struct{}

func (nopObserver) ZoomCall(string, string, time.Duration) {}
func (nopObserver) TokenCache(string)                      {}
func (nopObserver) LimiterWait(time.Duration)              {}
func (nopObserver) Throttled(string)                       {}
func (nopObserver) Mint(string, string, time.Duration)     {}
