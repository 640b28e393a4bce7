package main

// What the server says at start, for the person who just ran it: where to
// point a browser, and whether Zoom takes the configured credentials.

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/zoom"
)

// logURLs is the first line after the port is open: the pages to open, at
// an address a browser on this machine reaches (browserHost).
func logURLs(log *slog.Logger, cfg Config, addr net.Addr) {
	base := "http://" + browserHost(addr)
	args := []any{"api", base + "/", "console", base + "/console/", "api_reference", base + "/docs/api/"}
	if cfg.Mode == "sandbox" {
		args = append(args, "browser_example", base+"/examples/browser/")
	}
	args = append(args, "mode", cfg.Mode, "version", version)
	log.Info("starting: open "+base+"/ once it says listening", args...)
}

// credentialsCheckTimeout bounds the check made at start: Zoom may be slow,
// and the check must not outlive a server that stops early.
const credentialsCheckTimeout = 30 * time.Second

// checkCredentials asks Zoom once, in the background, whether it takes the
// configured apps' credentials, so that the most common set-up mistake is
// said at start, not by the first request's 503. It never delays the start,
// and a Zoom that cannot be reached does not stop it: /api/health stays
// unhealthy until an S2S access token is had.
//
// The S2S app: one access-token request through the client (the token, when
// had, is cached for the first mint). The General app: a code exchange with
// a made-up code, made by a quiet client of its own. Zoom checks the client
// before the code (as the OAuth standard orders it), so wrong credentials
// answer invalid_client and right ones invalid_grant; no user is involved
// (docs/ZOOM.md, "What the server checks at start").
func checkCredentials(ctx context.Context, cfg Config, zc *zoom.Client, log *slog.Logger) (stop func()) {
	if cfg.Mode != "zoom" {
		return func() {}
	}
	ctx, cancel := context.WithTimeout(ctx, credentialsCheckTimeout)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if zc.HasS2S() {
			tellCheck(log, "the Server-to-Server app (ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID, ZOOM_CLIENT_SECRET)", zc.Check(ctx), nil)
		}
		if cfg.OAuthClientID != "" {
			err := checkGeneralApp(ctx, cfg)
			tellCheck(log, "the General app (ZOOM_OAUTH_CLIENT_ID, ZOOM_OAUTH_CLIENT_SECRET)", err, apperr.ErrInvalidInput)
		}
	}()
	return func() { cancel(); <-done }
}

// probeCode is the made-up authorization code of the General app's check.
const probeCode = "tokenserver-start-check-not-a-code"

// checkGeneralApp exchanges probeCode with the General app's credentials.
// Its client logs nothing and counts nothing: the refusal of the made-up
// code is expected, and no user's exchange.
func checkGeneralApp(ctx context.Context, cfg Config) error {
	probe, err := zoom.New(zoom.Config{OAuthURL: cfg.ZoomOAuthURL, APIURL: cfg.ZoomAPIURL,
		Logger: slog.New(slog.DiscardHandler), MaxRetries: 1})
	if err != nil {
		return err
	}
	defer probe.Close()
	app := zoom.OAuthApp{ClientID: cfg.OAuthClientID, ClientSecret: cfg.OAuthClientSecret, RedirectURL: cfg.OAuthRedirectURL,
		TokenURL: cfg.ZoomOAuthURL}
	_, err = probe.ExchangeCode(ctx, app, probeCode, zoom.NewPKCEVerifier())
	if err == nil {
		return errors.New("zoom: the made-up code of the start check was accepted")
	}
	return err
}

// tellCheck logs the outcome of one app's check: credentials refused at
// error level, with the same sentence and hint a request would get; Zoom
// not reached as a warning; accepted at info. expected is the refusal that
// means the credentials passed (the General app's made-up code), or nil.
func tellCheck(log *slog.Logger, app string, err error, expected error) {
	switch {
	case err == nil || (expected != nil && errors.Is(err, expected)):
		log.Info("zoom: Zoom accepts the credentials of "+app, "checked", "at start")
	case errors.Is(err, apperr.ErrZoomAuth):
		log.Error("zoom: Zoom refuses the credentials of "+app+"; every request that needs them fails until they are fixed and the server restarted",
			"cause", apperr.PublicMessage(err), "code", apperr.Code(err))
	case errors.Is(err, apperr.ErrZoomRejected):
		log.Warn("zoom: Zoom refused the start check of "+app, "cause", apperr.PublicMessage(err), "code", apperr.Code(err))
	default:
		log.Warn("zoom: could not check the credentials of "+app+" at start (is Zoom reachable?); /api/health says when Zoom answers",
			"cause", apperr.PublicMessage(err), "code", apperr.Code(err))
	}
}
