package services_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/store"
	"github.com/zoomtoken/tokenserver/internal/zoom"
	"github.com/zoomtoken/tokenserver/services"
)

const appRedirect = "https://app.example/oauth/zoom"

// appCode is a code Zoom gave the app on its own redirect, for zoomUser.
func appCode(t *testing.T, w *world, zoomUser string) (string, secret.Value) {
	t.Helper()
	app := w.app
	app.RedirectURL = appRedirect
	v := zoom.NewPKCEVerifier()
	u, err := app.ConsentURL("app-state", v)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := w.fz.Consent(u, zoomUser)
	return code, v
}

func TestConnectFromAppCode(t *testing.T) {
	w := newWorld(t, nil)
	st := store.NewMemoryStore(w.clk.Now)
	kicks := 0
	cs, err := services.NewConnections(services.ConnectionsConfig{Zoom: w.zc, App: w.app, Store: st, Keyring: w.keys,
		Events: w.ev, Now: w.clk.Now, Logger: slog.New(slog.NewTextHandler(w.logs, nil)),
		RedirectURLs: []string{appRedirect}, RecordEvents: true, EventRecorded: func() { kicks++ }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	alice := caller(t, "alice@partner.example", services.RoleParticipant)
	bob := caller(t, "bob@example.com", services.RoleParticipant)

	code, v := appCode(t, w, "ZU_alice")
	for _, c := range []struct {
		name string
		who  services.Identity
		req  services.ConnectRequest
		kind error
		word string
	}{
		{"another's sub, not admin", bob, services.ConnectRequest{Code: code, RedirectURI: appRedirect, Verifier: v, Sub: "alice@partner.example"}, apperr.ErrForbidden, "Only an admin"},
		{"an unlisted redirect", alice, services.ConnectRequest{Code: code, RedirectURI: "https://evil.example/cb", Verifier: v}, apperr.ErrInvalidInput, "ZOOM_OAUTH_REDIRECT_URLS"},
		{"no code", alice, services.ConnectRequest{RedirectURI: appRedirect}, apperr.ErrInvalidInput, "authorizationCode"},
		{"a short verifier", alice, services.ConnectRequest{Code: code, RedirectURI: appRedirect, Verifier: secret.New("short")}, apperr.ErrInvalidInput, "codeVerifier"},
	} {
		_, err := cs.Connect(ctx, c.who, c.req)
		if !errors.Is(err, c.kind) || !strings.Contains(apperr.PublicMessage(err), c.word) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// Refused before Zoom was asked: the code still works.
	conn, err := cs.Connect(ctx, alice, services.ConnectRequest{Code: code, RedirectURI: appRedirect, Verifier: v})
	if err != nil || conn.Sub != "alice@partner.example" || conn.ZoomUserID != "ZU_alice" || conn.Status != store.StatusConnected {
		t.Fatalf("connect: %v, %v", conn, err)
	}
	// Bob's code connected under alice's sub (by an admin): the Zoom user is not the sub.
	bcode, bv := appCode(t, w, "ZU_bob")
	admin := services.Identity{Subject: "api-key:x", Role: services.RoleAdmin, Method: "api_key"}
	if _, err := cs.Connect(ctx, admin, services.ConnectRequest{Code: bcode, RedirectURI: appRedirect, Verifier: bv, Sub: "alice@partner.example"}); !errors.Is(err, apperr.ErrForbidden) {
		t.Errorf("bob's grant under alice's sub: %v", err)
	}
	es, err := st.ClaimEvents(ctx, w.clk.Now(), w.clk.Now(), 10)
	if err != nil || len(es) != 1 || es[0].Type != services.EventConnected || es[0].Sub != "alice@partner.example" || kicks != 1 {
		t.Fatalf("events: %+v, %v, kicks %d", es, err, kicks)
	}
	if d := string(es[0].Data); !strings.Contains(d, `"zoomUserId":"ZU_alice"`) || strings.Contains(strings.ToLower(d), "token") {
		t.Errorf("event data: %s", d)
	}
}
