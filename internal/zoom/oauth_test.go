package zoom_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/internal/zoom/zoomtest"
)

const (
	appID     = "general-app-id"
	appSecret = "general-app-secret"
	redirect  = "https://tokens.example/api/connections/zoom/callback"
)

func newOAuth(t *testing.T, qps float64) (*zoom.Client, *zoomtest.Server, zoom.OAuthApp) {
	t.Helper()
	fz := zoomtest.New(appID, appSecret)
	t.Cleanup(fz.Close)
	fz.AddUser(zoomtest.User{ID: "ZU_alice", Email: "alice@partner.example", AccountID: "acc-partner"})
	fz.AddUser(zoomtest.User{ID: "ZU_bob", Email: "bob@other.example", AccountID: "acc-other"})
	// No S2S app: user OAuth only.
	z, err := zoom.New(zoom.Config{OAuthURL: fz.TokenURL(), APIURL: fz.APIURL(), QPS: qps, BackoffBase: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	app := zoom.OAuthApp{ClientID: appID, ClientSecret: secret.New(appSecret), RedirectURL: redirect,
		AuthorizeURL: fz.AuthorizeURL() + "?prompt=login", TokenURL: fz.TokenURL(), RevokeURL: fz.RevokeURL()}
	if err := app.Validate(); err != nil {
		t.Fatal(err)
	}
	return z, fz, app
}

// connect runs consent and the code exchange for user.
func connect(t *testing.T, z *zoom.Client, fz *zoomtest.Server, app zoom.OAuthApp, user string) zoom.Grant {
	t.Helper()
	v := zoom.NewPKCEVerifier()
	u, err := app.ConsentURL("st-1", v)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := fz.Consent(u, user)
	g, err := z.ExchangeCode(context.Background(), app, code, v)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// noTokenIn fails if err's text holds any token or code the fake issued.
func noTokenIn(t *testing.T, fz *zoomtest.Server, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, tok := range fz.Issued() {
		if strings.Contains(err.Error(), tok) || strings.Contains(apperr.PublicMessage(err), tok) {
			t.Fatalf("an error holds a token: %v", err)
		}
	}
}

func TestConsentURL(t *testing.T) {
	_, _, app := newOAuth(t, 100)
	v := zoom.NewPKCEVerifier()
	if n := len(v.Reveal()); n != 43 {
		t.Fatalf("verifier is %d characters, want 43", n)
	}
	raw, err := app.ConsentURL("state-xyz", v)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	q := u.Query()
	want := map[string]string{"response_type": "code", "client_id": appID, "redirect_uri": redirect,
		"state": "state-xyz", "code_challenge": zoom.PKCEChallenge(v), "code_challenge_method": "S256", "prompt": "login"}
	for k, w := range want {
		if q.Get(k) != w {
			t.Errorf("%s = %q, want %q", k, q.Get(k), w)
		}
	}
	if strings.Contains(raw, v.Reveal()) {
		t.Fatal("the consent URL holds the verifier")
	}
	// RFC 7636 appendix B.
	if got := zoom.PKCEChallenge(secret.New("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")); got != "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" {
		t.Fatalf("challenge = %q", got)
	}
}

func TestExchangeCode(t *testing.T) {
	z, fz, app := newOAuth(t, 100)
	ctx := context.Background()
	v := zoom.NewPKCEVerifier()
	u, _ := app.ConsentURL("s", v)
	code, state := fz.Consent(u, "ZU_alice")
	if state != "s" {
		t.Fatalf("state %q", state)
	}
	g, err := z.ExchangeCode(ctx, app, code, v)
	if err != nil {
		t.Fatal(err)
	}
	if g.AccessToken.Empty() || g.RefreshToken.Empty() || g.ExpiresIn != 3599*time.Second || !zoom.HasTokenScope(g.Scopes) {
		t.Fatalf("grant %+v", g)
	}
	// A code is single use.
	_, err = z.ExchangeCode(ctx, app, code, v)
	if !errors.Is(err, apperr.ErrInvalidInput) || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("code reused: %v", err)
	}
	noTokenIn(t, fz, err)
	// The verifier is checked: another one is refused.
	code2, _ := fz.Consent(u, "ZU_alice")
	if _, err := z.ExchangeCode(ctx, app, code2, zoom.NewPKCEVerifier()); !errors.Is(err, apperr.ErrInvalidInput) {
		t.Fatalf("wrong verifier: %v", err)
	}
	// Basic auth with the app's credentials: a wrong secret is the app's fault.
	bad := app
	bad.ClientSecret = secret.New("wrong")
	code3, _ := fz.Consent(u, "ZU_alice")
	_, err = z.ExchangeCode(ctx, bad, code3, v)
	if !errors.Is(err, apperr.ErrZoomAuth) || !strings.Contains(apperr.PublicMessage(err), "ZOOM_OAUTH_CLIENT_SECRET") {
		t.Fatalf("wrong secret: %v", err)
	}
	if fz.Counts().BadClient != 1 || fz.Counts().Exchanges != 1 {
		t.Fatalf("counts %+v", fz.Counts())
	}
}

func TestRefreshRotates(t *testing.T) {
	z, fz, app := newOAuth(t, 100)
	ctx := context.Background()
	g1 := connect(t, z, fz, app, "ZU_alice")
	g2, err := z.Refresh(ctx, app, g1.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if g2.RefreshToken == g1.RefreshToken || g2.AccessToken == g1.AccessToken {
		t.Fatal("refresh did not rotate")
	}
	// The old refresh token is dead: invalid_grant is the connection lost.
	_, err = z.Refresh(ctx, app, g1.RefreshToken)
	if !errors.Is(err, apperr.ErrConnectionLost) || apperr.Code(err) != "connection_lost" {
		t.Fatalf("spent refresh token: %v", err)
	}
	noTokenIn(t, fz, err)
	if c := fz.Counts(); c.Refreshes != 1 || c.RefreshReused != 1 {
		t.Fatalf("counts %+v", c)
	}
	if _, err := z.Refresh(ctx, app, g2.RefreshToken); err != nil {
		t.Fatalf("the new refresh token: %v", err)
	}
}

func TestMeAndRevoke(t *testing.T) {
	z, fz, app := newOAuth(t, 100)
	ctx := context.Background()
	g := connect(t, z, fz, app, "ZU_alice")
	me, err := z.Me(ctx, g.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if me != (zoom.ZoomUser{ID: "ZU_alice", Email: "alice@partner.example", AccountID: "acc-partner"}) {
		t.Fatalf("me = %+v", me)
	}
	if _, err := z.Me(ctx, secret.New("not-a-token")); !errors.Is(err, apperr.ErrZoomRejected) {
		t.Fatalf("me with a bad token: %v", err)
	}
	if err := z.Revoke(ctx, app, g.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if got := fz.RevokedTokens(); len(got) != 1 || got[0] != g.RefreshToken.Reveal() {
		t.Fatal("the revoke endpoint did not get the refresh token")
	}
	if _, err := z.Refresh(ctx, app, g.RefreshToken); !errors.Is(err, apperr.ErrConnectionLost) {
		t.Fatalf("refresh after revoke: %v", err)
	}
	// Revoking again: Zoom no longer knows it; not an error.
	if err := z.Revoke(ctx, app, secret.New("unknown")); err != nil {
		t.Fatalf("revoke unknown: %v", err)
	}
}

// staticSource is a user's access token, counting invalidations; on
// Invalidate it switches to next.
type staticSource struct {
	mu          sync.Mutex
	cur, next   secret.Value
	invalidated int
}

func (s *staticSource) Token(context.Context) (secret.Value, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur, nil
}

func (s *staticSource) Invalidate(failed secret.Value) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if failed == s.cur {
		s.invalidated++
		s.cur = s.next
	}
}

func TestMintAsUsesTheUsersToken(t *testing.T) {
	z, fz, app := newOAuth(t, 100)
	ctx := context.Background()
	g := connect(t, z, fz, app, "ZU_alice")
	src := &staticSource{cur: g.AccessToken, next: g.AccessToken}
	tok, err := z.MintAs(ctx, src, "acc-partner", obf("alice@partner.example"))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Value.Empty() || tok.Type != zoom.TokenOnBehalf || tok.UserID.String() != "alice@partner.example" {
		t.Fatalf("token %+v", tok)
	}
	m := fz.Mints()
	if len(m) != 1 || m[0].User != "ZU_alice" || m[0].Type != "onbehalf" {
		t.Fatalf("mints %+v", m)
	}
	// A refused access token (124) is handed back once, and the call retried.
	g2, _ := z.Refresh(ctx, app, g.RefreshToken)
	src = &staticSource{cur: g.AccessToken, next: g2.AccessToken}
	fz.FailMints(1)
	if _, err := z.MintAs(ctx, src, "acc-partner", zak("alice@partner.example")); err != nil || src.invalidated != 1 {
		t.Fatalf("after a 124: %v, invalidated %d", err, src.invalidated)
	}
	// Refused twice: the user's grant is named, not the S2S app.
	fz.FailMints(2)
	_, err = z.MintAs(ctx, src, "acc-partner", zak("alice@partner.example"))
	if !errors.Is(err, apperr.ErrZoomAuth) || strings.Contains(apperr.PublicMessage(err), "Server-to-Server") {
		t.Fatalf("refused twice: %v", err)
	}
}

func TestWithoutS2S(t *testing.T) {
	z, _, _ := newOAuth(t, 100)
	if z.HasS2S() {
		t.Fatal("HasS2S without an S2S app")
	}
	if _, err := z.Mint(context.Background(), zak("alice@partner.example")); !errors.Is(err, apperr.ErrNotConnected) {
		t.Fatalf("Mint without S2S: %v", err)
	}
	if err := z.Check(context.Background()); !errors.Is(err, apperr.ErrNotConnected) {
		t.Fatalf("Check without S2S: %v", err)
	}
	if h := z.Health(context.Background()); h.Err != nil {
		t.Fatalf("readiness without S2S: %v", h.Err)
	}
	for _, partial := range []zoom.Config{
		{AccountID: "a"}, {ClientID: "c"}, {ClientSecret: secret.New("s")}, {AccountID: "a", ClientID: "c"},
	} {
		partial.OAuthURL, partial.APIURL = "https://zoom.us/oauth/token", "https://api.zoom.us/v2"
		if _, err := zoom.New(partial); err == nil || !strings.Contains(err.Error(), "all three") {
			t.Errorf("partial S2S %+v: %v", partial, err)
		}
	}
}

// Zoom counts per account: each account gets the whole ZOOM_QPS, and calls
// of one account are spaced by it.
func TestMintAsPacesPerAccount(t *testing.T) {
	const qps = 20
	z, fz, app := newOAuth(t, qps)
	alice := connect(t, z, fz, app, "ZU_alice")
	bob := connect(t, z, fz, app, "ZU_bob")
	const each = 6
	var wg sync.WaitGroup
	var failed atomic.Int64
	start := time.Now()
	for range each {
		wg.Go(func() {
			if _, err := z.MintAs(context.Background(), &staticSource{cur: alice.AccessToken}, "acc-partner", zak("alice@partner.example")); err != nil {
				failed.Add(1)
			}
		})
		wg.Go(func() {
			if _, err := z.MintAs(context.Background(), &staticSource{cur: bob.AccessToken}, "acc-other", zak("bob@other.example")); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failed.Load() != 0 {
		t.Fatalf("%d mints failed", failed.Load())
	}
	// One shared limiter needs at least (2*each-1)/qps = 550 ms, whatever
	// the load; per account, 250 ms.
	if elapsed >= 520*time.Millisecond {
		t.Fatalf("two accounts took %v: they share one pace", elapsed)
	}
	// Each account's calls are spread at its pace (on average: arrival
	// times at the fake jitter under load).
	first, last, n := map[string]time.Time{}, map[string]time.Time{}, map[string]int{}
	for _, m := range fz.Mints() {
		if n[m.Account] == 0 {
			first[m.Account] = m.At
		}
		last[m.Account] = m.At
		n[m.Account]++
	}
	for acct, k := range n {
		if avg := last[acct].Sub(first[acct]) / time.Duration(k-1); avg < time.Second/qps*8/10 {
			t.Fatalf("account %s: calls %v apart on average, under its pace", acct, avg)
		}
	}
}
