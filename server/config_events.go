package main

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/zoomtoken/tokenserver/internal/secret"
)

// minEventsSecretLen is the shortest EVENTS_SECRET accepted, in bytes.
const minEventsSecretLen = 32

// AppOAuth is the app's own OAuth flow and its events (docs/API.md, docs/CONFIGURATION.md).
type AppOAuth struct {
	// RedirectURLs: ZOOM_OAUTH_REDIRECT_URLS, the app's own redirect URLs
	// whose codes POST /api/connections accepts.
	RedirectURLs []string
	// EventsURL: where events are POSTed; empty: off. EventsSecret signs them.
	EventsURL    string
	EventsSecret secret.Value
}

// loadAppOAuth reads ZOOM_OAUTH_REDIRECT_URLS, EVENTS_URL and EVENTS_SECRET.
func loadAppOAuth(p *parser, c *Config) {
	for _, u := range splitList(p.getenv("ZOOM_OAUTH_REDIRECT_URLS")) {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || pu.Fragment != "" || pu.User != nil {
			p.bad("ZOOM_OAUTH_REDIRECT_URLS", fmt.Sprintf("%q is not an absolute http(s) URL without a fragment, as registered on the General app", u))
			continue
		}
		c.App.RedirectURLs = append(c.App.RedirectURLs, u)
	}
	raw, sec := strings.TrimSpace(p.getenv("EVENTS_URL")), p.getenv("EVENTS_SECRET")
	switch {
	case raw == "" && sec == "":
		return
	case raw == "":
		p.bad("EVENTS_URL", "is required with EVENTS_SECRET: where events are POSTed")
		return
	case len(sec) < minEventsSecretLen:
		p.bad("EVENTS_SECRET", fmt.Sprintf("must be at least %d bytes with EVENTS_URL (it signs every event), e.g. $(openssl rand -hex 32)", minEventsSecretLen))
	}
	if why := eventsURLProblem(raw); why != "" {
		p.bad("EVENTS_URL", why)
		return
	}
	c.App.EventsURL, c.App.EventsSecret = raw, secret.New(sec)
}

// eventsURLProblem says why raw may not receive events: it must be https,
// or http to a loopback or private address (for development).
func eventsURLProblem(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "must be an absolute https URL"
	}
	if u.User != nil {
		return "must not hold a user or password: events are authenticated by their signature (EVENTS_SECRET)"
	}
	if u.Scheme == "https" {
		return ""
	}
	h := u.Hostname()
	if h == "localhost" {
		return ""
	}
	ip := net.ParseIP(h)
	if ip != nil && (ip.IsLoopback() || ip.IsPrivate()) {
		return ""
	}
	return "must be https: events travel over the network and http would show them to anyone on the path (http is allowed to a loopback or private address only, for development)"
}
