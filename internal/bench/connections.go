package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
)

const benchJWTSecret = "bench-secret-0123456789abcdef0123456789"

// connectionsBench measures minting through users' own grants: the p50 of a
// join through a connection whose access token is cached, beside an S2S
// join; then n users whose access tokens have expired, one join each at
// once: every one refreshes, none may fail.
func connectionsBench(bin string, dur time.Duration, reps, n int, add func(result)) error {
	sb := sandbox.New(sandbox.Options{})
	if err := sb.Start(); err != nil {
		return err
	}
	defer sb.Close()
	srv, stop, err := startConnectionsServer(bin, sb)
	if err != nil {
		return err
	}
	defer stop()
	if err := cachedConnectionJoins(srv.url, dur, reps, add); err != nil {
		return err
	}
	return expiredConnectionJoins(sb, srv.url, n, add)
}

// startConnectionsServer starts a server with users' OAuth connections
// (the sandbox's general app, a SQLite store in a temporary directory);
// stop ends it and removes the directory.
func startConnectionsServer(bin string, sb *sandbox.Sandbox) (*server, func(), error) {
	port, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	redirect := "http://127.0.0.1:" + port + "/api/connections/zoom/callback"
	sb.AllowRedirect(redirect)
	gid, gsecret := sb.GeneralApp()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	dir, err := os.MkdirTemp("", "tokenbench-conn")
	if err != nil {
		return nil, nil, err
	}
	srv, err := startServer(bin, sb, "PORT="+port, "AUTH_JWT_SECRET="+benchJWTSecret,
		"ZOOM_OAUTH_CLIENT_ID="+gid, "ZOOM_OAUTH_CLIENT_SECRET="+gsecret, "ZOOM_OAUTH_REDIRECT_URL="+redirect,
		"ZOOM_AUTHORIZE_URL="+sb.AuthorizeURL(), "ZOOM_REVOKE_URL="+sb.RevokeURL(),
		"CONNECTIONS_KEY=k1:"+base64.StdEncoding.EncodeToString(key), "DATABASE_URL=sqlite:"+filepath.Join(dir, "c.db"))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	return srv, func() { srv.stop(); _ = os.RemoveAll(dir) }, nil
}

// joinAs is one REST join for user, as load runs it.
func joinAs(base, user string) func(int) error {
	return func(int) error {
		return post(base+"/api/meetings/join", map[string]any{"meetingId": meeting, "participantUserId": user})
	}
}

// cachedConnectionJoins: one connected user, its access token cached,
// against S2S: the p50 of each, median over reps runs of dur.
func cachedConnectionJoins(base string, dur time.Duration, reps int, add func(result)) error {
	if err := connect(base, "cached@partner.example"); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if err := joinAs(base, "cached@partner.example")(0); err != nil {
		return fmt.Errorf("join through the connection: %w", err)
	}
	_, _ = load(1, time.Second, joinAs(base, "cached@partner.example")) // warm up
	var p50C, p50A []float64
	var errs int64
	for r := 0; r < reps; r++ {
		lc, ec := load(1, dur, joinAs(base, "cached@partner.example"))
		la, ea := load(1, dur, joinAs(base, "s2s@example.com"))
		errs += ec + ea
		p50C = append(p50C, ms(pct(lc, .5)))
		p50A = append(p50A, ms(pct(la, .5)))
	}
	add(result{name: "join, 1 caller: p50 via connection (cached) / via account (S2S)",
		value:  fmt.Sprintf("%.2f ms / %.2f ms (difference %.2f ms; errors %d)", median(p50C), median(p50A), median(p50C)-median(p50A), errs),
		target: "within 1 ms of S2S"})
	return nil
}

// expiredConnectionJoins: n users whose access tokens expire in 2 s,
// connected, then one join each at once, after they expired: every one
// refreshes, none may fail.
func expiredConnectionJoins(sb *sandbox.Sandbox, base string, n int, add func(result)) error {
	sb.SetUserAccessTokenExpiresIn(2)
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("expired%d@partner.example", i)
	}
	if err := forAll(users, 16, func(u string) error { return connect(base, u) }); err != nil {
		return fmt.Errorf("connect %d users: %w", n, err)
	}
	time.Sleep(3 * time.Second)
	before := sb.Stats()
	start := time.Now()
	var failed atomic.Int64
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if joinAs(base, u)(0) != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	after := sb.Stats()
	add(result{name: fmt.Sprintf("%d connections with expired access tokens, one join each at once", n),
		value: fmt.Sprintf("%d refreshes, %d failed, %d refresh tokens spent twice; all answered in %s",
			after.Refreshes-before.Refreshes, failed.Load(), after.RefreshTokenReuse, wall.Round(time.Millisecond)),
		target: fmt.Sprintf("%d refreshes, none failed", n)})
	return nil
}

// connect runs the consent flow for user as a browser would: the server's
// authorize link, the sandbox's consent form (Allow), the callback.
func connect(base, user string) error {
	req, _ := http.NewRequest("GET", base+"/api/connections/zoom/authorize", nil)
	req.Header.Set("Authorization", "Bearer "+signHS256(benchJWTSecret, map[string]any{"sub": user, "exp": time.Now().Add(time.Hour).Unix()}))
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	var a struct {
		AuthorizeURL string `json:"authorizeUrl"`
	}
	err = json.NewDecoder(resp.Body).Decode(&a)
	resp.Body.Close()
	if err != nil || a.AuthorizeURL == "" {
		return fmt.Errorf("authorize: HTTP %d %v", resp.StatusCode, err)
	}
	page, err := getBody(a.AuthorizeURL)
	if err != nil {
		return err
	}
	m := regexp.MustCompile(`name="request" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		return errors.New("no consent form")
	}
	u, _ := url.Parse(a.AuthorizeURL)
	form := url.Values{"request": {m[1]}, "user": {user}, "decision": {"allow"}}
	noRedirect := &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noRedirect.PostForm(u.Scheme+"://"+u.Host+"/oauth/authorize/decide", form)
	if err != nil {
		return err
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if loc == "" {
		return fmt.Errorf("consent: HTTP %d without a redirect", resp.StatusCode)
	}
	page, err = getBody(loc)
	if err != nil {
		return err
	}
	if !strings.Contains(page, "can now get Zoom tokens") {
		return errors.New("the callback page did not say connected")
	}
	return nil
}

func getBody(u string) (string, error) {
	resp, err := client.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET: HTTP %d", resp.StatusCode)
	}
	return string(b), err
}

// forAll runs fn on every item with w workers; the first error wins.
func forAll(items []string, w int, fn func(string) error) error {
	next := make(chan string)
	errc := make(chan error, w)
	var wg sync.WaitGroup
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range next {
				if err := fn(it); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	for _, it := range items {
		select {
		case next <- it:
		case err := <-errc:
			close(next)
			wg.Wait()
			return err
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}
