package realtime

import (
	"net/netip"
	"strings"

	"github.com/zishang520/engine.io/v2/engine"
)

// clientAddr is the address a connection's limits, failed-credential
// guard and logs go by: the peer's; or, when the peer is one of
// TrustedProxies, the one X-Forwarded-For names, read from the right and
// skipping trusted proxies (the rule gin's ClientIP applies to REST, so
// both transports see one client alike). A header that is not a list of
// addresses is ignored, and so is any header from a peer that is not
// trusted: a client cannot choose its own address.
func (s *Server) clientAddr(eio engine.Socket) string {
	peer := hostOf(eio.RemoteAddress())
	if len(s.cfg.TrustedProxies) == 0 {
		return peer
	}
	ip, err := netip.ParseAddr(peer)
	if err != nil || !s.trustedProxy(ip) {
		return peer
	}
	ctx := eio.Request()
	if ctx == nil || ctx.Request() == nil {
		return peer
	}
	// Every X-Forwarded-For line, in order: a proxy that adds its own line
	// rather than appending to the client's must not leave the client's
	// line to be read as the whole list.
	if addr, ok := s.forwardedFor(strings.Join(ctx.Request().Header.Values("X-Forwarded-For"), ",")); ok {
		return addr
	}
	return peer
}

// forwardedFor is the client that header names: its rightmost address
// that is not a trusted proxy (or its first, when all are).
func (s *Server) forwardedFor(header string) (string, bool) {
	if header == "" {
		return "", false
	}
	items := strings.Split(header, ",")
	for i := len(items) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(strings.TrimSpace(items[i]))
		if err != nil {
			return "", false
		}
		if i == 0 || !s.trustedProxy(ip) {
			return ip.Unmap().String(), true
		}
	}
	return "", false
}

func (s *Server) trustedProxy(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
