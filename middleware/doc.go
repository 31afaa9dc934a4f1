// Package middleware holds gochannels middleware that works on scopes and, where it makes
// sense, on net/http requests: Cookies (parse the Cookie header once into the scope),
// OriginValidator and AllowedHostsOriginValidator (refuse WebSocket handshakes and HTTP
// requests from origins that are not allowed; OriginValidatorWith with a response of your own),
// Deny (refuse a scope the ASGI way; DenyWith with a channels.Denial of your own) and CSRF
// (double-submit-cookie protection for net/http forms). AccessLog writes a log line per
// scope; it is built on channels.Observe.
//
// Like every middleware constructor in this module, each takes the application it wraps
// first: Cookies(app), OriginValidator(app, allowed...), CSRF(next, opts).
//
// The session and authentication middleware live in the sessions and auth packages; auth.Stack
// puts Cookies, sessions.Middleware and auth.Middleware together, like Django Channels'
// AuthMiddlewareStack.
package middleware
