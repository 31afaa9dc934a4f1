package middleware

import (
	"context"
	"net/http"

	"github.com/gochannels/gochannels/channels"
)

type cookiesKey struct{}

// Cookies returns middleware that parses the scope's Cookie header(s) once and stores the
// result in the scope, where CookiesFrom finds it. It works for every scope type; a scope
// without a Cookie header gets an empty map.
func Cookies(app channels.Application) channels.Application {
	return channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		CookiesFrom(scope)
		return app.Serve(ctx, scope, receive, send)
	})
}

// CookiesFrom returns the cookies the client sent with the scope's request, by name. When the
// Cookies middleware has not run yet it parses the headers now and stores the result, so the
// headers are parsed at most once per scope. Parsing uses net/http's own (lenient) parser: a
// malformed pair is skipped and the rest are kept. When a name appears more than once the
// first value wins, as with (*http.Request).Cookie. The map must not be modified.
func CookiesFrom(scope *channels.Scope) map[string]string {
	if m, ok := scope.Value(cookiesKey{}).(map[string]string); ok {
		return m
	}
	m := ParseCookies(scope.Headers)
	scope.Set(cookiesKey{}, m)
	return m
}

// ParseCookies parses the Cookie headers in h with net/http's parser and returns the cookies
// by name (the first value wins for a repeated name). It never returns nil.
func ParseCookies(h http.Header) map[string]string {
	lines := h.Values("Cookie")
	if len(lines) == 0 {
		return map[string]string{}
	}
	r := http.Request{Header: http.Header{"Cookie": lines}}
	cs := r.Cookies()
	m := make(map[string]string, len(cs))
	for _, c := range cs {
		if _, dup := m[c.Name]; !dup {
			m[c.Name] = c.Value
		}
	}
	return m
}
