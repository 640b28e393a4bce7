package realtime

import "github.com/zishang520/engine.io/v2/engine"

// clientAddr is the address a connection's limits, failed-credential
// guard and logs go by (gate.TrustedProxies.ClientAddr: the rule REST
// applies too).
func (s *Server) clientAddr(eio engine.Socket) string {
	var forwarded []string
	if ctx := eio.Request(); ctx != nil && ctx.Request() != nil {
		forwarded = ctx.Request().Header.Values("X-Forwarded-For")
	}
	return s.cfg.TrustedProxies.ClientAddr(eio.RemoteAddress(), forwarded)
}
