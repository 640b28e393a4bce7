package routes

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/zoomtoken/tokenserver/internal/gate"

	"github.com/gin-gonic/gin"

	"github.com/zoomtoken/tokenserver/internal/callbacks"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/services"
)

// CallbackURLs is what the signed callback URL routes need
// (*callbacks.URLs).
type CallbackURLs interface {
	DecodeCreate(body []byte) (callbacks.CreateInput, error)
	Create(ctx context.Context, caller services.Identity, in callbacks.CreateInput) (callbacks.Created, error)
	Redeem(ctx context.Context, kind string, q url.Values) (callbacks.Answer, error)
	Revoke(ctx context.Context, caller services.Identity, in callbacks.RevokeInput) (callbacks.Revoked, error)
}

// AttendeeCallbacks is what Attendee's zoom_tokens callback needs
// (*callbacks.Attendee).
type AttendeeCallbacks interface {
	Verify(signature string, body []byte) (map[string]any, error)
	Parse(p map[string]any) (callbacks.AttendeeRequest, error)
	ZoomTokens(ctx context.Context, r callbacks.AttendeeRequest) (callbacks.ZoomTokens, error)
}

// attendeeBodyLimit bounds Attendee's callback body: its metadata is small
// (Attendee caps it), the rest is a few ids.
const attendeeBodyLimit = 64 << 10

// createCallbackURL: POST /api/callback-urls {kind, userId | userIds,
// meetingId?, expiresInSeconds, singleUse?} → {url, id, kind, userId |
// userIds, meetingId?, expiresAt, expiresInSeconds, singleUse}. userIds are
// an OBF URL's candidates, in order of preference.
func (a *api) createCallbackURL(c *gin.Context) {
	who := caller(c)
	if err := callbacks.RoleMayCreate(who); err != nil {
		fail(c, a.Logger, err)
		return
	}
	in, ok := decoded(a, c, a.CallbackURLs.DecodeCreate)
	if !ok {
		return
	}
	made, err := a.CallbackURLs.Create(c.Request.Context(), who, in)
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	noStore(c)
	body := gin.H{"success": true, "url": made.URL, "id": made.Claims.ID, "kind": made.Claims.Kind,
		"expiresAt": made.Claims.Expires.UTC().Format(time.RFC3339), "singleUse": made.Claims.Once,
		"expiresInSeconds": int(made.Claims.Expires.Sub(a.Now()).Round(time.Second).Seconds())}
	if len(made.Claims.Users) > 0 {
		body["userIds"] = made.Claims.Users
	} else {
		body["userId"] = made.Claims.User
	}
	if !made.Claims.Meeting.IsZero() {
		body["meetingId"] = made.Claims.Meeting
	}
	writeJSON(c, http.StatusOK, body) // the URL as it is, & not \u0026
}

// revokeCallbackURL: POST /api/callback-urls/revoke {url} (or, admins, {id}).
func (a *api) revokeCallbackURL(c *gin.Context) {
	in, ok := decoded(a, c, callbacks.DecodeRevoke)
	if !ok {
		return
	}
	res, err := a.CallbackURLs.Revoke(c.Request.Context(), caller(c), in)
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	noStore(c)
	writeJSON(c, http.StatusOK, gin.H{"success": true, "id": res.ID, "revoked": res.Revoked,
		"expiresAt": res.ExpiresAt.UTC().Format(time.RFC3339)})
}

// redeemCallbackURL: GET /api/callbacks/{kind}?user=…&exp=…&id=…&sig=…, as
// a bot platform calls it (no headers of its own): the token as text/plain.
// The signature is checked before the failed-authentication guard is
// asked: bot platforms fetch from shared addresses, so a URL whose
// signature verifies is answered whatever else its address sent; only a
// forged one counts against the address, and once the address is over its
// budget a forged one is answered 429 (see forgedCallback). An expired or
// spent URL is not counted as forged.
func (a *api) redeemCallbackURL(c *gin.Context) {
	ans, err := a.CallbackURLs.Redeem(c.Request.Context(), c.Param("kind"), c.Request.URL.Query())
	if err != nil {
		fail(c, a.Logger, a.forgedCallback(c, err))
		return
	}
	noStore(c)
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(ans.Token.Reveal()))
}

// attendeeZoomTokens: POST /api/callbacks/attendee/zoom-tokens, Attendee's
// signed zoom_tokens callback → {zak_token, join_token, app_privilege_token,
// onbehalf_token}, null where nothing applies.
// As for a signed URL, a callback whose signature verifies is answered
// whatever else its address sent (Attendee calls from shared addresses).
func (a *api) attendeeZoomTokens(c *gin.Context) {
	body, err := readBody(c, attendeeBodyLimit)
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	payload, err := a.Attendee.Verify(c.GetHeader(callbacks.AttendeeSignatureHeader), body)
	if err != nil {
		fail(c, a.Logger, a.forgedCallback(c, err))
		return
	}
	req, err := a.Attendee.Parse(payload)
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	toks, err := a.Attendee.ZoomTokens(c.Request.Context(), req)
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	reveal := func(v *secret.Value) any {
		if v == nil {
			return nil
		}
		return v.Reveal()
	}
	noStore(c)
	writeJSON(c, http.StatusOK, gin.H{"zak_token": reveal(toks.ZAK), "join_token": reveal(toks.JoinToken),
		"app_privilege_token": reveal(toks.AppPrivilegeToken), "onbehalf_token": reveal(toks.OnBehalfToken)})
}

// forgedCallback is the answer to a refused signed callback: a forged
// signature from an address over its failed-authentication budget is
// answered 429 without counting (the guard says how long to wait), one
// within it is counted against the address and answered as it was refused.
// Any other refusal (expired, spent, malformed) is not the guard's: it
// passes through. Checking the signature first costs one HMAC, what the
// guard's own bookkeeping costs; in exchange a hostile tenant of a bot
// platform's shared address cannot lock every other tenant's bot out.
func (a *api) forgedCallback(c *gin.Context, err error) error {
	if a.AuthGuard == nil || !errors.Is(err, callbacks.ErrForged) {
		return err
	}
	addr := a.clientAddr(c)
	if ok, wait := a.AuthGuard.Allow(addr); !ok {
		return gate.TooManyFailures(wait)
	}
	a.AuthGuard.Failed(addr)
	return err
}
