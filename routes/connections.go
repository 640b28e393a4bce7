package routes

import (
	"bytes"
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/store"
	"github.com/zoomtoken/tokenserver/internal/wire"
	"github.com/zoomtoken/tokenserver/services"
)

// Connections is what the connection routes need of the domain
// (*services.Connections).
type Connections interface {
	Authorize(ctx context.Context, caller services.Identity) (url string, expiresIn time.Duration, err error)
	Complete(ctx context.Context, state, code, errParam string) (store.Connection, error)
	List(ctx context.Context, caller services.Identity) ([]store.Connection, error)
	Get(ctx context.Context, caller services.Identity, sub string) (store.Connection, error)
	Delete(ctx context.Context, caller services.Identity, sub string) error
	Connect(ctx context.Context, caller services.Identity, r services.ConnectRequest) (store.Connection, error)
}

// connectBodyLimit: an authorization code, a redirect URL, a verifier and a sub fit well within it.
const connectBodyLimit = 16 << 10

// connectRequest is the body of POST /api/connections.
type connectRequest struct {
	AuthorizationCode string `json:"authorizationCode"`
	RedirectURI       string `json:"redirectUri"`
	CodeVerifier      string `json:"codeVerifier"`
	Sub               string `json:"sub"`
}

// createConnection: POST /api/connections: an authorization code the app
// got on its own redirect becomes the caller's connection (an admin's: sub's).
func (a *api) createConnection(c *gin.Context) {
	const op = "connect a Zoom account"
	body, err := readBody(c, connectBodyLimit)
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	var in connectRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		fail(c, a.Logger, apperr.InvalidInput(op, apperr.FieldError{Field: "body",
			Reason: "must be a JSON object of authorizationCode, redirectUri, codeVerifier and sub (strings)"}))
		return
	}
	conn, err := a.Connections.Connect(c.Request.Context(), caller(c), services.ConnectRequest{Code: in.AuthorizationCode,
		RedirectURI: in.RedirectURI, Verifier: secret.New(in.CodeVerifier), Sub: in.Sub})
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	noStore(c)
	c.PureJSON(http.StatusCreated, gin.H{"success": true, "connection": wire.NewConnection(conn)})
}

// authorizeConnection: GET /api/connections/zoom/authorize, for the
// caller's own sub: {authorizeUrl, expiresInSeconds}, or a 302 to it for a
// browser (Accept: text/html).
func (a *api) authorizeConnection(c *gin.Context) {
	u, exp, err := a.Connections.Authorize(c.Request.Context(), caller(c))
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	noStore(c)
	if strings.Contains(c.GetHeader("Accept"), "text/html") {
		c.Redirect(http.StatusFound, u)
		return
	}
	writeJSON(c, http.StatusOK, gin.H{"success": true, "authorizeUrl": u, "expiresInSeconds": int(exp.Seconds())})
}

// connectionCallback: GET /api/connections/zoom/callback, where Zoom sends
// the user back. It answers a page a person reads: what happened, and what
// to do when it failed.
func (a *api) connectionCallback(c *gin.Context) {
	q := c.Request.URL.Query()
	conn, err := a.Connections.Complete(c.Request.Context(), q.Get("state"), q.Get("code"), q.Get("error"))
	noStore(c)
	c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	page := callbackPage{Title: "Zoom account connected"}
	status := http.StatusOK
	if err != nil {
		status = http.StatusBadRequest
		if apperr.Code(err) == apperr.CodeInternal {
			status = http.StatusInternalServerError
			a.Logger.Error("connection callback failed", "err", err)
		}
		page = callbackPage{Title: "Zoom account not connected", Failed: true, Message: apperr.PublicMessage(err)}
	} else {
		page.Message = "This server can now get Zoom tokens for " + conn.Email + " (Zoom user " + conn.ZoomUserID + "). You can close this window."
	}
	c.Status(status)
	c.Header("Content-Type", "text/html; charset=utf-8")
	_ = callbackTemplate.Execute(c.Writer, page)
}

type callbackPage struct {
	Title   string
	Message string
	Failed  bool
}

var callbackTemplate = template.Must(template.New("callback").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}
h1{font-size:1.4rem}.fail{color:#a40000}.ok{color:#0a6b2b}</style></head>
<body><h1 id="title" class="{{if .Failed}}fail{{else}}ok{{end}}">{{.Title}}</h1>
<p id="message">{{.Message}}</p>
{{if .Failed}}<p>What to do: use a link from <code>GET /api/connections/zoom/authorize</code> within 10 minutes, once;
allow the access Zoom asks for; the Zoom app must be a General app with the scope <code>user:read:token</code>.</p>{{end}}
</body></html>`))

// listConnections: GET /api/connections: the caller's own; an admin's, all.
func (a *api) listConnections(c *gin.Context) {
	cs, err := a.Connections.List(c.Request.Context(), caller(c))
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	noStore(c)
	writeJSON(c, http.StatusOK, wire.NewConnections(cs))
}

// getConnection: GET /api/connections/{sub}.
func (a *api) getConnection(c *gin.Context) {
	conn, err := a.Connections.Get(c.Request.Context(), caller(c), c.Param("sub"))
	if err != nil {
		fail(c, a.Logger, err)
		return
	}
	noStore(c)
	writeJSON(c, http.StatusOK, gin.H{"success": true, "connection": wire.NewConnection(conn)})
}

// deleteConnection: DELETE /api/connections/{sub}: revoked at Zoom, then forgotten.
func (a *api) deleteConnection(c *gin.Context) {
	sub := c.Param("sub")
	if err := a.Connections.Delete(c.Request.Context(), caller(c), sub); err != nil {
		fail(c, a.Logger, err)
		return
	}
	noStore(c)
	writeJSON(c, http.StatusOK, gin.H{"success": true, "sub": sub, "deleted": true})
}
