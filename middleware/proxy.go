package middleware

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/gochannels/gochannels/channels"
)

// TrustUnixSocket is an entry for ProxyHeaders' trusted list that trusts peers connected
// over a unix socket (their Scope.Client is "" or "@"): a reverse proxy on the same host.
const TrustUnixSocket = "unix"

// ProxyHeaders returns middleware that, for scopes whose direct peer is a trusted proxy,
// takes the client's address from X-Forwarded-For and the scheme from X-Forwarded-Proto,
// so that logs, origin checks and applications see the real client. Scopes from any other
// peer pass unchanged, headers and all.
//
// trusted lists the proxies: CIDR prefixes ("10.0.0.0/8", "fd00::/8"), single addresses
// ("127.0.0.1") and TrustUnixSocket. It panics on an entry that is none of these, a
// configuration error to catch at start-up.
//
// # Why only trusted peers, and why the right-most untrusted entry
//
// Any client can send X-Forwarded-For and X-Forwarded-Proto; believing them from an
// arbitrary peer lets it pose as any address (defeating rate limits, allow lists and audit
// logs) or claim https. So the headers are read only when the TCP peer itself is one of
// your proxies. Each proxy appends the address it saw to X-Forwarded-For, so the list reads
// client, proxy1, proxy2, …; the entries to the left of what your own proxies appended are
// whatever the client sent. ProxyHeaders therefore walks the list from the right, skipping
// trusted proxies, and takes the first address that is not trusted: the one your outermost
// proxy saw. An entry that is not an IP address stops the walk and the scope keeps the
// direct peer's address. Several X-Forwarded-For headers are read as one list, in order.
//
// X-Forwarded-Proto is read the same way: its right-most value, set by the nearest proxy,
// when it is "http", "https", "ws" or "wss"; it sets Scope.Scheme to http/https for HTTP
// scopes and ws/wss for WebSocket scopes. Other values are ignored.
//
// The new address is "ip:0" (the client's port is not forwarded). The scope is copied
// (channels.Scope.Derive) before it is changed.
func ProxyHeaders(app channels.Application, trusted ...string) channels.Application {
	tr := parseTrusted(trusted)
	return channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		if scope.Type == channels.ScopeChannel || !tr.peerTrusted(scope.Client) {
			return app.Serve(ctx, scope, receive, send)
		}
		client, hasClient := tr.forwardedClient(scope.Headers.Values("X-Forwarded-For"))
		scheme := forwardedScheme(scope.Headers.Values("X-Forwarded-Proto"), scope.Type)
		if !hasClient && scheme == "" {
			return app.Serve(ctx, scope, receive, send)
		}
		s := scope.Derive()
		if hasClient {
			s.Client = net.JoinHostPort(client.String(), "0")
		}
		if scheme != "" {
			s.Scheme = scheme
		}
		return app.Serve(ctx, s, receive, send)
	})
}

type trustedProxies struct {
	prefixes []netip.Prefix
	unix     bool
}

func parseTrusted(list []string) *trustedProxies {
	t := &trustedProxies{}
	for _, e := range list {
		e = strings.TrimSpace(e)
		if e == TrustUnixSocket {
			t.unix = true
			continue
		}
		if p, err := netip.ParsePrefix(e); err == nil {
			t.prefixes = append(t.prefixes, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			panic(fmt.Sprintf("middleware: ProxyHeaders: trusted proxy %q is not a CIDR prefix, an IP address or %q", e, TrustUnixSocket))
		}
		a = a.Unmap()
		t.prefixes = append(t.prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	return t
}

func (t *trustedProxies) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerTrusted reports whether the direct peer (Scope.Client) is a trusted proxy.
func (t *trustedProxies) peerTrusted(client string) bool {
	if client == "" || client == "@" {
		return t.unix
	}
	a, ok := parseHostAddr(client)
	return ok && t.contains(a)
}

// forwardedClient returns the right-most untrusted address of X-Forwarded-For (the
// left-most entry when every one is trusted).
func (t *trustedProxies) forwardedClient(headers []string) (netip.Addr, bool) {
	var entries []string
	for _, h := range headers {
		entries = append(entries, strings.Split(h, ",")...)
	}
	var last netip.Addr
	found := false
	for i := len(entries) - 1; i >= 0; i-- {
		e := strings.TrimSpace(entries[i])
		if e == "" {
			continue
		}
		a, ok := parseHostAddr(e)
		if !ok {
			return netip.Addr{}, false
		}
		last, found = a.Unmap(), true
		if !t.contains(a) {
			return last, true
		}
	}
	return last, found
}

// parseHostAddr parses "ip", "ip:port", "[ipv6]" or "[ipv6]:port".
func parseHostAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a, true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// forwardedScheme maps the right-most X-Forwarded-Proto value to the scope's scheme, or ""
// when there is none or it is not one the scope type can have.
func forwardedScheme(headers []string, scopeType string) string {
	if len(headers) == 0 {
		return ""
	}
	v := headers[len(headers)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	secure := false
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "https", "wss":
		secure = true
	case "http", "ws":
	default:
		return ""
	}
	switch {
	case scopeType == channels.ScopeWebsocket && secure:
		return "wss"
	case scopeType == channels.ScopeWebsocket:
		return "ws"
	case secure:
		return "https"
	}
	return "http"
}
