package middleware

import (
	"context"
	"log/slog"
	"net/url"
	"strings"

	"github.com/gochannels/gochannels/channels"
)

// AllowMissingOrigin is a pattern for OriginValidator and AllowedHostsOriginValidator that
// lets a WebSocket handshake without an Origin header through. Browsers always send Origin
// with a WebSocket handshake, so a missing header means a non-browser client (a script, a
// native app, a load tester); by default such handshakes are refused, as in Django Channels,
// unless the list holds "*" or this pattern.
const AllowMissingOrigin = "<missing>"

// DefaultAllowedHosts is what AllowedHostsOriginValidator allows when it is given no hosts:
// the local machine only (Django's ALLOWED_HOSTS default when DEBUG is on).
var DefaultAllowedHosts = []string{".localhost", "127.0.0.1", "[::1]"}

// OriginValidator returns middleware that lets a scope through to app only when its Origin
// header matches one of the allowed patterns, and refuses it with Deny otherwise (a WebSocket
// handshake gets HTTP 403; an HTTP request gets a 403 response). Each refusal is logged at
// info level with the origin.
//
// Patterns follow Django (is_same_domain), compared case-insensitively:
//
//   - "*" allows any origin, and a missing one;
//   - "example.com" allows exactly that host, on any scheme and port;
//   - ".example.com" allows example.com and every subdomain of it;
//   - "localhost:8000" or ".example.com:8443" also requires that port (the origin's explicit
//     port, or 80/443 from its scheme); Django ignores a port in a pattern without a scheme,
//     this is stricter;
//   - "https://example.com" (a pattern with a scheme) requires that scheme, that host pattern
//     and that port (explicit, or the scheme's default), as in Django;
//   - AllowMissingOrigin allows a WebSocket handshake without an Origin header.
//
// An Origin that is not a URL with a host (including "null", which browsers send for
// sandboxed and file: pages) matches only "*". More than one Origin header is refused.
//
// A WebSocket without an Origin header is refused unless "*" or AllowMissingOrigin is listed.
// An HTTP request without Origin is let through, because browsers leave the header out of
// ordinary same-origin navigations; one that carries an Origin must match. Channel scopes
// (background workers) have no origin and always pass.
func OriginValidator(app channels.Application, allowed ...string) channels.Application {
	return OriginValidatorWith(app, nil, allowed...)
}

// OriginValidatorWith is OriginValidator with denied answering the refused scopes instead of
// Deny: DenyWith(&channels.Denial{...}) gives a refused handshake a status, headers and body
// of your own. A nil denied is Deny.
func OriginValidatorWith(app, denied channels.Application, allowed ...string) channels.Application {
	denied = denier(denied)
	v := newOriginMatcher(allowed)
	return channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		if scope.Type == channels.ScopeChannel {
			return app.Serve(ctx, scope, receive, send)
		}
		origins := scope.Headers.Values("Origin")
		ok := false
		switch {
		case len(origins) == 0:
			ok = scope.Type == channels.ScopeHTTP || v.allowMissing
		case len(origins) == 1:
			ok = v.allows(origins[0])
		}
		if ok {
			return app.Serve(ctx, scope, receive, send)
		}
		origin := strings.Join(origins, ", ")
		if len(origins) == 0 {
			origin = "(none)"
		}
		slog.InfoContext(ctx, "origin refused", "origin", origin, "scope", scope.Type, "path", scope.Path, "client", scope.Client)
		return denied.Serve(ctx, scope, receive, send)
	})
}

// AllowedHostsOriginValidator is OriginValidator with host patterns, the way Django Channels
// uses settings.ALLOWED_HOSTS: pass the same host list the site is served under. With no hosts
// it allows DefaultAllowedHosts (the local machine) only.
func AllowedHostsOriginValidator(app channels.Application, allowedHosts ...string) channels.Application {
	return AllowedHostsOriginValidatorWith(app, nil, allowedHosts...)
}

// AllowedHostsOriginValidatorWith is AllowedHostsOriginValidator with denied answering the
// refused scopes instead of Deny (see OriginValidatorWith).
func AllowedHostsOriginValidatorWith(app, denied channels.Application, allowedHosts ...string) channels.Application {
	if len(allowedHosts) == 0 {
		allowedHosts = DefaultAllowedHosts
	}
	return OriginValidatorWith(app, denied, allowedHosts...)
}

// IsSameDomain reports whether host matches pattern as in Django's is_same_domain: a pattern
// that starts with "." matches the domain after the dot and all its subdomains; any other
// pattern must equal host. The pattern is lower-cased; host must already be lower case. An
// empty pattern matches nothing.
func IsSameDomain(host, pattern string) bool {
	if pattern == "" {
		return false
	}
	pattern = strings.ToLower(pattern)
	if pattern[0] == '.' {
		return strings.HasSuffix(host, pattern) || host == pattern[1:]
	}
	return host == pattern
}

// OriginAllowed reports whether the Origin header value origin matches one of the patterns,
// with the rules of OriginValidator. An empty origin is allowed only by "*" or
// AllowMissingOrigin.
func OriginAllowed(origin string, patterns ...string) bool {
	m := newOriginMatcher(patterns)
	if origin == "" {
		return m.allowMissing
	}
	return m.allows(origin)
}

type originPattern struct {
	scheme string // "" when the pattern has none
	host   string // lower case; may start with "."
	port   string // "" when any port will do (pattern without scheme or port)
}

type originMatcher struct {
	any          bool
	allowMissing bool
	patterns     []originPattern
}

func newOriginMatcher(allowed []string) *originMatcher {
	m := &originMatcher{}
	for _, p := range allowed {
		switch p {
		case "*":
			m.any, m.allowMissing = true, true
			continue
		case AllowMissingOrigin:
			m.allowMissing = true
			continue
		case "":
			continue
		}
		m.patterns = append(m.patterns, parseOriginPattern(strings.ToLower(p)))
	}
	return m
}

func parseOriginPattern(p string) originPattern {
	if strings.Contains(p, "://") {
		u, err := url.Parse(p)
		if err != nil || u.Host == "" {
			return originPattern{host: p, scheme: "\x00"} // matches nothing
		}
		port := u.Port()
		if port == "" {
			port = defaultPort(u.Scheme)
		}
		return originPattern{scheme: u.Scheme, host: u.Hostname(), port: port}
	}
	u, err := url.Parse("//" + p)
	if err != nil || u.Host == "" {
		return originPattern{host: p}
	}
	return originPattern{host: u.Hostname(), port: u.Port()}
}

func (m *originMatcher) allows(origin string) bool {
	if m.any {
		return true
	}
	u, err := url.Parse(strings.TrimSpace(origin))
	if err != nil || u.Scheme == "" || u.Host == "" || u.Hostname() == "" {
		return false
	}
	host := strings.ToLower(u.Hostname())
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		port = defaultPort(scheme)
	}
	for _, p := range m.patterns {
		if p.scheme != "" && p.scheme != scheme {
			continue
		}
		if p.port != "" && p.port != port {
			continue
		}
		if p.scheme != "" && p.port == "" && port != "" {
			continue // pattern scheme has no default port, the origin names one
		}
		if IsSameDomain(host, p.host) {
			return true
		}
	}
	return false
}

func defaultPort(scheme string) string {
	switch scheme {
	case "http", "ws":
		return "80"
	case "https", "wss":
		return "443"
	}
	return ""
}
