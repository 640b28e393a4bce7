package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

// Users' OAuth connections end to end: a server in zoom mode (S2S and the
// sandbox's General app, connections in SQLite) talks real HTTP to a
// sandbox; the tests follow the connect flow as a browser would (the
// authorize link, the consent form, the redirect to the callback).

const callbackRoute = "/api/connections/zoom/callback"

// newKey is a CONNECTIONS_KEY entry: id:base64(32 random bytes).
func newKey(t *testing.T, id string) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return id + ":" + base64.StdEncoding.EncodeToString(b)
}

// freePort picks a loopback port for a server whose redirect URL must be
// known before it starts.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// connEnv is a zoom-mode environment with S2S and the sandbox's General app,
// connections kept in the SQLite file db sealed with keys.
func connEnv(t *testing.T, sb *sandbox.Sandbox, db, keys string) map[string]string {
	t.Helper()
	env := zoomEnv(sb)
	port := freePort(t)
	cb := "http://127.0.0.1:" + port + callbackRoute
	sb.AllowRedirect(cb)
	id, sec := sb.GeneralApp()
	env["PORT"] = port
	env["ZOOM_OAUTH_CLIENT_ID"], env["ZOOM_OAUTH_CLIENT_SECRET"], env["ZOOM_OAUTH_REDIRECT_URL"] = id, sec, cb
	env["ZOOM_AUTHORIZE_URL"], env["ZOOM_REVOKE_URL"] = sb.AuthorizeURL(), sb.RevokeURL()
	env["CONNECTIONS_KEY"] = keys
	env["DATABASE_URL"] = "sqlite:" + db
	return env
}

// connServer starts a zoom-mode server with connections on db.
func connServer(t *testing.T, sb *sandbox.Sandbox, db, keys string) *testServer {
	t.Helper()
	return startServer(t, sb, connEnv(t, sb, db, keys))
}

// page is what a callback (or consent) page showed.
type page struct {
	Status  int
	URL     string
	Title   string
	Message string
	Body    string
}

var (
	titleRe   = regexp.MustCompile(`(?s)id="title"[^>]*>(.*?)</h1>`)
	messageRe = regexp.MustCompile(`(?s)id="message"[^>]*>(.*?)</p>`)
	actionRe  = regexp.MustCompile(`<form[^>]*method="post"[^>]*action="([^"]+)"`)
	requestRe = regexp.MustCompile(`name="request" value="([^"]+)"`)
)

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{Timeout: 30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func getPage(t *testing.T, u string) page {
	t.Helper()
	resp, err := noRedirect.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(resp.Request.URL.Path, callbackRoute) { // the server's page, not the sandbox's
		resp = checkedResponse(t, resp)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	p := page{Status: resp.StatusCode, URL: u, Body: string(b)}
	if m := titleRe.FindStringSubmatch(p.Body); m != nil {
		p.Title = html.UnescapeString(m[1])
	}
	if m := messageRe.FindStringSubmatch(p.Body); m != nil {
		p.Message = html.UnescapeString(m[1])
	}
	return p
}

// authorizeURL asks the server for sub's connect link.
func (ts *testServer) authorizeURL(t *testing.T, sub string) string {
	t.Helper()
	r := ts.do("GET", "/api/connections/zoom/authorize", nil, bearer(t, sub, ""))
	u, _ := r.Body["authorizeUrl"].(string)
	if r.Status != 200 || u == "" || r.Body["expiresInSeconds"] != float64(600) {
		t.Fatalf("authorize = %d %s", r.Status, r.Raw)
	}
	return u
}

// consent opens the consent page at authorizeURL and posts its form as its
// #allow or #deny button would, signed in as email; it answers the
// redirect's target (the server's callback URL).
func consent(t *testing.T, authorizeURL, email, decision string) string {
	t.Helper()
	cp := getPage(t, authorizeURL)
	act, req := actionRe.FindStringSubmatch(cp.Body), requestRe.FindStringSubmatch(cp.Body)
	if cp.Status != 200 || act == nil || req == nil || !strings.Contains(cp.Body, `name="user"`) ||
		!strings.Contains(cp.Body, `id="allow"`) || !strings.Contains(cp.Body, `id="deny"`) {
		t.Fatalf("consent page = %d:\n%s", cp.Status, cp.Body)
	}
	base, _ := url.Parse(authorizeURL)
	action, _ := base.Parse(html.UnescapeString(act[1]))
	resp, err := noRedirect.PostForm(action.String(), url.Values{"request": {html.UnescapeString(req[1])},
		"user": {email}, "decision": {decision}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || loc == "" {
		t.Fatalf("consent %s = %d %s", decision, resp.StatusCode, b)
	}
	return loc
}

// connect runs the whole flow for sub, signing in at the consent page as
// email; decision is "allow" or "deny". It answers the callback page.
func (ts *testServer) connect(t *testing.T, sub, email, decision string) page {
	t.Helper()
	cb := consent(t, ts.authorizeURL(t, sub), email, decision)
	if !strings.HasPrefix(cb, ts.URL+callbackRoute+"?") {
		t.Fatalf("consent redirected to %s, not to the server's callback", cb)
	}
	return getPage(t, cb)
}

// mustConnect connects email (its own sub) and checks the success page.
func (ts *testServer) mustConnect(t *testing.T, email string) page {
	t.Helper()
	p := ts.connect(t, email, email, "allow")
	if p.Status != 200 || p.Title != "Zoom account connected" || !strings.Contains(p.Message, email) {
		t.Fatalf("callback page = %d %q %q\n%s\nlogs:\n%s", p.Status, p.Title, p.Message, p.Body, ts.Logs)
	}
	return p
}

// join asks for an OBF for user, as that user.
func (ts *testServer) join(t *testing.T, user string) reply {
	t.Helper()
	return ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": user}, bearer(t, user, ""))
}

func wantJoin(t *testing.T, r reply, via string) {
	t.Helper()
	if r.Status != 200 || r.Body["via"] != via || r.Body["obfToken"] == nil {
		t.Fatalf("join = %d %s; want 200 via %q", r.Status, r.Raw, via)
	}
}

func connectionsOf(r reply) []map[string]any {
	var out []map[string]any
	list, _ := r.Body["connections"].([]any)
	for _, c := range list {
		if m, ok := c.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// expireAccessTokens connects email with access tokens that live 2 s, then
// sets them back to an hour (so the refresh the test causes yields a
// lasting token) and waits until the first one has expired, at the server
// (which refreshes at half the life) and at the sandbox.
func connectExpired(t *testing.T, ts *testServer, email string) {
	t.Helper()
	ts.SB.SetUserAccessTokenExpiresIn(2)
	ts.mustConnect(t, email)
	ts.SB.SetUserAccessTokenExpiresIn(3600)
	time.Sleep(2100 * time.Millisecond)
}

func TestConnectionFlow(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := connServer(t, sb, filepath.Join(t.TempDir(), "c.db"), newKey(t, "k1"))
	const ann, bob, pat = "ann@partner.example", "bob@partner.example", "pat@example.com"

	t.Run("a partner user without a connection is not_connected", func(t *testing.T) {
		r := ts.join(t, bob)
		if r.Status != 409 || r.Body["code"] != "not_connected" {
			t.Fatalf("join = %d %s", r.Status, r.Raw)
		}
		u, _ := r.Body["authorizeUrl"].(string)
		if !strings.HasPrefix(u, sb.AuthorizeURL()+"?") {
			t.Errorf("the user's own join lacks authorizeUrl: %s", r.Raw)
		}
		r = ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": bob}, adminKey)
		if r.Status != 409 || r.Body["code"] != "not_connected" || r.Body["authorizeUrl"] != nil {
			t.Errorf("admin's join for %s = %d %s; want 409 not_connected without authorizeUrl", bob, r.Status, r.Raw)
		}
	})

	t.Run("deny", func(t *testing.T) {
		p := ts.connect(t, bob, bob, "deny")
		if p.Status != 400 || p.Title != "Zoom account not connected" || !strings.Contains(p.Message, "denied") {
			t.Fatalf("deny page = %d %q %q", p.Status, p.Title, p.Message)
		}
		if r := ts.join(t, bob); r.Status != 409 || r.Body["code"] != "not_connected" {
			t.Errorf("join after deny = %d %s", r.Status, r.Raw)
		}
	})

	ok := t.Run("connect", func(t *testing.T) {
		before := sb.Stats().CodeExchanges
		p := ts.connect(t, ann, ann, "allow")
		if p.Status != 200 || p.Title != "Zoom account connected" || !strings.Contains(p.Message, ann) {
			t.Fatalf("callback page = %d %q %q\n%s", p.Status, p.Title, p.Message, p.Body)
		}
		if got := sb.Stats().CodeExchanges - before; got != 1 {
			t.Errorf("code exchanges = %d, want 1", got)
		}
	})
	if !ok {
		t.Fatal("the connect flow fails; the rest needs a connection")
	}

	t.Run("the JSON authorize link, and a 302 for a browser", func(t *testing.T) {
		h := bearer(t, bob, "")
		h["Accept"] = "text/html"
		req, _ := http.NewRequest("GET", ts.URL+"/api/connections/zoom/authorize", nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		checkedResponse(t, resp).Body.Close()
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), sb.AuthorizeURL()+"?") {
			t.Fatalf("authorize for a browser = %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		q, _ := url.Parse(resp.Header.Get("Location"))
		v := q.Query()
		if v.Get("state") == "" || v.Get("code_challenge_method") != "S256" || v.Get("code_challenge") == "" {
			t.Errorf("authorize link lacks state or PKCE S256: %s", q)
		}
		if r := ts.do("GET", "/api/connections/zoom/authorize", nil, adminKey); r.Status != 403 {
			t.Errorf("an API key (no user) got a link: %d %s", r.Status, r.Raw)
		}
	})

	t.Run("who sees what", func(t *testing.T) {
		own := connectionsOf(ts.do("GET", "/api/connections", nil, bearer(t, ann, "")))
		if len(own) != 1 || own[0]["sub"] != ann || own[0]["status"] != "connected" || own[0]["accountId"] != sandbox.PartnerAccountID {
			t.Fatalf("own list = %v", own)
		}
		if other := connectionsOf(ts.do("GET", "/api/connections", nil, bearer(t, pat, ""))); len(other) != 0 {
			t.Errorf("another user's list shows %v", other)
		}
		for _, h := range []map[string]string{adminKey, bearer(t, "root@example.com", "admin")} {
			if all := connectionsOf(ts.do("GET", "/api/connections", nil, h)); len(all) != 1 || all[0]["sub"] != ann {
				t.Errorf("admin list = %v", all)
			}
			if r := ts.do("GET", "/api/connections/"+ann, nil, h); r.Status != 200 || field(r.Body, "connection", "status") != "connected" {
				t.Errorf("admin get = %d %s", r.Status, r.Raw)
			}
		}
		if r := ts.do("GET", "/api/connections/"+ann, nil, bearer(t, ann, "")); r.Status != 200 || field(r.Body, "connection", "email") != ann {
			t.Errorf("own get = %d %s", r.Status, r.Raw)
		}
		if r := ts.do("GET", "/api/connections/"+ann, nil, bearer(t, pat, "")); r.Status != 403 && r.Status != 404 {
			t.Errorf("another user's get = %d %s", r.Status, r.Raw)
		}
		if r := ts.do("DELETE", "/api/connections/"+ann, nil, bearer(t, pat, "")); r.Status != 403 && r.Status != 404 {
			t.Errorf("another user's delete = %d %s", r.Status, r.Raw)
		}
		for _, c := range connectionsOf(ts.do("GET", "/api/connections", nil, adminKey)) {
			for k, v := range c {
				if s, ok := v.(string); ok && strings.HasPrefix(s, "sbx_") {
					t.Errorf("a connection shows a token in %s", k)
				}
			}
		}
	})

	t.Run("mint via the connection, else via the account", func(t *testing.T) {
		wantJoin(t, ts.join(t, ann), "connection")
		wantJoin(t, ts.join(t, pat), "account")
		r := ts.do("POST", "/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": ann}, adminKey)
		wantJoin(t, r, "connection")
	})

	t.Run("a replayed state is refused", func(t *testing.T) {
		before := sb.Stats().CodeExchanges
		cb := consent(t, ts.authorizeURL(t, bob), bob, "allow")
		if p := getPage(t, cb); p.Status != 200 || p.Title != "Zoom account connected" {
			t.Fatalf("first callback = %d %q %q", p.Status, p.Title, p.Message)
		}
		asked := sb.Stats().TokenRequests
		p := getPage(t, cb)
		if p.Status != 400 || p.Title != "Zoom account not connected" || !strings.Contains(p.Message, "link is unknown, was already used") {
			t.Fatalf("replayed callback = %d %q %q", p.Status, p.Title, p.Message)
		}
		if sb.Stats().TokenRequests != asked {
			t.Error("the replayed state's code was sent to Zoom")
		}
		if got := sb.Stats().CodeExchanges - before; got != 1 {
			t.Errorf("code exchanges = %d, want 1", got)
		}
		// The same code with a fresh state of the same caller: the code is spent.
		u, _ := url.Parse(cb)
		q := u.Query()
		fresh, _ := url.Parse(ts.authorizeURL(t, bob))
		q.Set("state", fresh.Query().Get("state"))
		u.RawQuery = q.Encode()
		if p := getPage(t, u.String()); p.Status == 200 || p.Title != "Zoom account not connected" {
			t.Errorf("a spent code with a fresh state = %d %q %q", p.Status, p.Title, p.Message)
		}
	})

	t.Run("a foreign or expired state is refused", func(t *testing.T) {
		cb := consent(t, ts.authorizeURL(t, "cy@partner.example"), "cy@partner.example", "allow")
		u, _ := url.Parse(cb)
		q := u.Query()
		q.Set("state", strings.Repeat("A", 43))
		u.RawQuery = q.Encode()
		if p := getPage(t, u.String()); p.Status != 400 || !strings.Contains(p.Message, "link is unknown") {
			t.Errorf("a forged state = %d %q %q", p.Status, p.Title, p.Message)
		}
		// A link retired by newer ones (at most 5 open per caller) is expired.
		old := ts.authorizeURL(t, "dee@partner.example")
		for range 5 {
			ts.authorizeURL(t, "dee@partner.example")
		}
		if p := getPage(t, consent(t, old, "dee@partner.example", "allow")); p.Status != 400 || !strings.Contains(p.Message, "link is unknown") {
			t.Errorf("a retired state = %d %q %q", p.Status, p.Title, p.Message)
		}
		// A link made for one caller, consented to as another Zoom user.
		p := ts.connect(t, "eve@partner.example", "fay@partner.example", "allow")
		if p.Status != 403 && p.Status != 400 || p.Title != "Zoom account not connected" || !strings.Contains(p.Message, "fay@partner.example") {
			t.Errorf("a link used by another Zoom user = %d %q %q", p.Status, p.Title, p.Message)
		}
		for _, sub := range []string{"cy@partner.example", "dee@partner.example", "eve@partner.example", "fay@partner.example"} {
			if r := ts.do("GET", "/api/connections/"+sub, nil, adminKey); r.Status != 404 {
				t.Errorf("%s got a connection: %d %s", sub, r.Status, r.Raw)
			}
		}
	})
	ts.assertNoSecretsLogged()
}

// 100 concurrent joins for a user whose access token expired: one refresh.
func TestConnectionConcurrentRefresh(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := connServer(t, sb, filepath.Join(t.TempDir(), "c.db"), newKey(t, "k1"))
	const ann = "ann@partner.example"
	connectExpired(t, ts, ann)
	before := sb.Stats()
	var wg sync.WaitGroup
	replies := make([]reply, 100)
	for i := range replies {
		wg.Go(func() { replies[i] = ts.join(t, ann) })
	}
	wg.Wait()
	for _, r := range replies {
		wantJoin(t, r, "connection")
	}
	after := sb.Stats()
	if got := after.Refreshes - before.Refreshes; got != 1 {
		t.Errorf("refreshes = %d, want exactly 1", got)
	}
	if after.RefreshTokenReuse != 0 {
		t.Errorf("a refresh token was spent twice (%d)", after.RefreshTokenReuse)
	}
	ts.assertNoSecretsLogged()
}

// Two processes share one SQLite file: no refresh token is spent twice.
func TestConnectionTwoProcessesShareStore(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	db, key := filepath.Join(t.TempDir(), "c.db"), newKey(t, "k1")
	a := connServer(t, sb, db, key)
	b := connServer(t, sb, db, key)
	const ann = "ann@partner.example"

	// The state lives in the process that made the link.
	cb := consent(t, a.authorizeURL(t, "cy@partner.example"), "cy@partner.example", "allow")
	if p := getPage(t, strings.Replace(cb, a.URL, b.URL, 1)); p.Status != 400 || !strings.Contains(p.Message, "link is unknown") {
		t.Errorf("another process's state = %d %q %q", p.Status, p.Title, p.Message)
	}

	connectExpired(t, a, ann)
	wantJoin(t, b.join(t, ann), "connection") // b sees a's connection
	// A refresh takes a while at Zoom: the processes' refreshes overlap.
	sb.SetLatency(30 * time.Millisecond)
	raceRefreshes(t, sb, a, b, ann, 3, 100)
	a.assertNoSecretsLogged()
	b.assertNoSecretsLogged()
}

// invalid_grant: the connection is lost, the user's sockets are told, and
// minting answers 409 connection_lost until the user connects again.
func TestConnectionLost(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := connServer(t, sb, filepath.Join(t.TempDir(), "c.db"), newKey(t, "k1"))
	const ann = "ann@partner.example"
	ts.mustConnect(t, ann)
	wantJoin(t, ts.join(t, ann), "connection")
	sock := authedSocket(t, ts, ann, "")

	sb.RevokeGrant(ann)
	r := ts.join(t, ann)
	if r.Status != 409 || r.Body["code"] != "connection_lost" {
		t.Fatalf("join after the grant was revoked = %d %s", r.Status, r.Raw)
	}
	ev, ok := sock.waitEvent("connection:changed", 10*time.Second)
	if !ok || ev["status"] != "disconnected" || ev["reason"] == nil || ev["reason"] == "" {
		t.Fatalf("connection:changed = %v (received %v)", ev, ok)
	}
	g := ts.do("GET", "/api/connections/"+ann, nil, bearer(t, ann, ""))
	if g.Status != 200 || field(g.Body, "connection", "status") != "disconnected" || str(field(g.Body, "connection", "reason")) == "" ||
		field(g.Body, "connection", "disconnectedAt") == nil {
		t.Fatalf("get after loss = %d %s", g.Status, g.Raw)
	}
	if r := ts.join(t, ann); r.Status != 409 || r.Body["code"] != "connection_lost" {
		t.Errorf("second join after loss = %d %s", r.Status, r.Raw)
	}

	// Connecting again restores it.
	ts.mustConnect(t, ann)
	if ev, ok := sock.waitEvent("connection:changed", 10*time.Second); !ok || ev["status"] != "connected" {
		t.Errorf("connection:changed after reconnecting = %v", ev)
	}
	wantJoin(t, ts.join(t, ann), "connection")
	ts.assertNoSecretsLogged()
}

// DELETE revokes the grant at Zoom, then forgets the connection.
func TestConnectionDelete(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	ts := connServer(t, sb, filepath.Join(t.TempDir(), "c.db"), newKey(t, "k1"))
	const ann, bob = "ann@partner.example", "bob@partner.example"
	ts.mustConnect(t, ann)
	ts.mustConnect(t, bob)
	wantJoin(t, ts.join(t, ann), "connection")

	before := sb.Stats().Revocations
	r := ts.do("DELETE", "/api/connections/"+ann, nil, bearer(t, ann, ""))
	if r.Status != 200 || r.Body["deleted"] != true {
		t.Fatalf("delete = %d %s", r.Status, r.Raw)
	}
	if got := sb.Stats().Revocations - before; got != 1 {
		t.Errorf("revocations at the sandbox = %d, want 1", got)
	}
	if g := ts.do("GET", "/api/connections/"+ann, nil, adminKey); g.Status != 404 {
		t.Errorf("get after delete = %d %s", g.Status, g.Raw)
	}
	if r := ts.join(t, ann); r.Status != 409 || r.Body["code"] != "not_connected" {
		t.Errorf("join after delete = %d %s", r.Status, r.Raw)
	}
	// An admin deletes another's.
	if r := ts.do("DELETE", "/api/connections/"+bob, nil, adminKey); r.Status != 200 {
		t.Errorf("admin delete = %d %s", r.Status, r.Raw)
	}
	if got := sb.Stats().Revocations - before; got != 2 {
		t.Errorf("revocations at the sandbox = %d, want 2", got)
	}
	if all := connectionsOf(ts.do("GET", "/api/connections", nil, adminKey)); len(all) != 0 {
		t.Errorf("connections left: %v", all)
	}
	ts.assertNoSecretsLogged()
}

// No token in the database file or the logs; a key rotation still opens
// the records sealed before it, and re-seals them on the next refresh.
func TestConnectionSecretsAtRestAndKeyRotation(t *testing.T) {
	sb := newSandbox(t, sandbox.Options{})
	dir := t.TempDir()
	db := filepath.Join(dir, "c.db")
	k1, k2 := newKey(t, "k1"), newKey(t, "k2")
	const ann, bob = "ann@partner.example", "bob@partner.example"

	ts := connServer(t, sb, db, k1)
	connectExpired(t, ts, ann)
	assertNoSecretsInDB(t, dir, sb.IssuedSecrets())
	wantJoin(t, ts.join(t, ann), "connection") // a refresh: a rotated refresh token is stored
	ts.mustConnect(t, bob)
	wantJoin(t, ts.join(t, bob), "connection")
	assertNoSecretsInDB(t, dir, sb.IssuedSecrets())
	ts.assertNoSecretsLogged()
	ts.stop()
	assertNoSecretsInDB(t, dir, sb.IssuedSecrets())

	// k2 seals from now on; k1 still opens.
	before := sb.Stats().Refreshes
	ts = connServer(t, sb, db, k2+","+k1)
	wantJoin(t, ts.join(t, ann), "connection")
	if sb.Stats().Refreshes == before {
		t.Fatal("the new process minted without refreshing: the old record was not opened")
	}
	ts.assertNoSecretsLogged()
	ts.stop()

	// k1 gone: ann's record was re-sealed with k2 on that refresh.
	ts = connServer(t, sb, db, k2)
	wantJoin(t, ts.join(t, ann), "connection")
	assertNoSecretsInDB(t, dir, sb.IssuedSecrets())
	ts.assertNoSecretsLogged()
}

// assertNoSecretsInDB greps every file of the database (with -wal, -shm)
// for each secret.
func assertNoSecretsInDB(t *testing.T, dir string, secrets []string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "c.db*"))
	if len(files) == 0 {
		t.Fatal("no database file")
	}
	var refresh int
	for _, s := range secrets {
		if strings.HasPrefix(s, "sbx_rt_") {
			refresh++
		}
	}
	if refresh == 0 {
		t.Fatal("the sandbox lists no refresh token: nothing to look for")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if len(s) >= 8 && bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a secret in the clear (%d chars, starting %q)", filepath.Base(f), len(s), s[:7])
			}
		}
	}
}

// raceRefreshes runs rounds in which both servers' access tokens for user
// have just expired and n joins, split between a and b, start at once: each
// round must refresh, every join must mint through the connection, and no
// refresh token may be spent twice.
func raceRefreshes(t *testing.T, sb *sandbox.Sandbox, a, b *testServer, user string, rounds, n int) {
	t.Helper()
	for round := range rounds {
		// Every access token given so far expires at Zoom, so that both
		// processes find theirs expired and refresh at once. (A short
		// expires_in waited out on the wall clock made a loaded machine's
		// slow request meet its fresh token already expired.)
		sb.ExpireUserAccessTokens()
		before := sb.Stats().Refreshes
		var wg sync.WaitGroup
		replies := make([]reply, n)
		start := make(chan struct{})
		for i := range replies {
			ts := a
			if i%2 == 1 {
				ts = b
			}
			wg.Go(func() { <-start; replies[i] = ts.join(t, user) })
		}
		close(start)
		wg.Wait()
		for _, r := range replies {
			wantJoin(t, r, "connection")
		}
		if got := sb.Stats().Refreshes - before; got < 2 {
			t.Errorf("round %d: %d refreshes; both servers' access tokens should have expired", round, got)
		}
	}
	if n := sb.Stats().RefreshTokenReuse; n != 0 {
		t.Errorf("refresh tokens spent twice: %d", n)
	}
}
