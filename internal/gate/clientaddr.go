package gate

import (
	"net"
	"net/netip"
	"strings"
)

// TrustedProxies (TRUSTED_PROXIES) are the load balancers whose
// X-Forwarded-For names the client. Empty: none, the peer is the client.
type TrustedProxies []netip.Prefix

// ClientAddr is the address a request or a connection is limited, guarded
// and logged by, for REST and Socket.IO alike: the peer's (remoteAddr,
// host:port); or, when the peer is a trusted proxy, the rightmost address
// of forwardedFor (every X-Forwarded-For line, in order, so that a proxy
// that adds a line of its own rather than appending cannot leave the
// client's line read as the whole list) that is not itself a trusted proxy
// (the first, when all are). A header that is not a list of addresses is
// ignored, and so is any header from a peer that is not trusted: a client
// cannot choose its own address.
func (p TrustedProxies) ClientAddr(remoteAddr string, forwardedFor []string) string {
	peer := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		peer = h
	}
	if len(p) == 0 || len(forwardedFor) == 0 {
		return peer
	}
	if ip, err := netip.ParseAddr(peer); err != nil || !p.trusted(ip) {
		return peer
	}
	items := strings.Split(strings.Join(forwardedFor, ","), ",")
	for i := len(items) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(strings.TrimSpace(items[i]))
		if err != nil {
			return peer
		}
		if i == 0 || !p.trusted(ip) {
			return ip.Unmap().String()
		}
	}
	return peer
}

func (p TrustedProxies) trusted(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, pr := range p {
		if pr.Contains(ip) {
			return true
		}
	}
	return false
}
