package channels

import (
	"net/http"
	"sync"
)

// Scope types.
const (
	ScopeHTTP      = "http"
	ScopeWebsocket = "websocket"
	ScopeChannel   = "channel"
)

// Scope describes one connection (or, for a background consumer, one named channel) for the
// whole of its life. The server fills it in before calling the application; middleware adds
// values with Set; routers fill URLRoute. An application may read it from any goroutine.
type Scope struct {
	// Type is ScopeHTTP, ScopeWebsocket or ScopeChannel.
	Type string
	// Scheme is "http" or "https" for HTTP, "ws" or "wss" for WebSocket.
	Scheme string
	// HTTPVersion is "1.0" or "1.1".
	HTTPVersion string
	// Method is the HTTP method ("GET" for a WebSocket handshake).
	Method string
	// Path is the percent-decoded request path, e.g. "/ws/chat/lobby/".
	Path string
	// RawPath is the path as the client sent it, still percent-encoded.
	RawPath string
	// RootPath is the prefix under which the application is mounted ("" at the root). Routers
	// that nest under a prefix move the matched part from Path to RootPath.
	RootPath string
	// QueryString is the raw query, without the leading '?'.
	QueryString string
	// Headers are the request headers, keys in canonical form.
	Headers http.Header
	// Client is the remote address, "host:port" ("" when unknown, e.g. a unix socket).
	Client string
	// Server is the local address, "host:port".
	Server string
	// Subprotocols are the WebSocket subprotocols the client offered, in its order.
	Subprotocols []string
	// Channel is the channel name of a ScopeChannel scope (a background consumer).
	Channel string
	// URLRoute holds the named parameters a URL router matched, e.g. {"room_name": "lobby"}.
	URLRoute map[string]string

	mu     sync.RWMutex
	values map[any]any
}

// Param returns the URL route parameter name, or "" when the route has none by that name.
func (s *Scope) Param(name string) string {
	return s.URLRoute[name]
}

// Set stores a value under key, for middleware to hand things (a session, a user) to the
// application. Use an unexported key type in your package, as with context.WithValue.
func (s *Scope) Set(key, value any) {
	s.mu.Lock()
	if s.values == nil {
		s.values = make(map[any]any, 4)
	}
	s.values[key] = value
	s.mu.Unlock()
}

// Value returns the value stored under key by Set, or nil.
func (s *Scope) Value(key any) any {
	s.mu.RLock()
	v := s.values[key]
	s.mu.RUnlock()
	return v
}

// Clone returns a copy of s that can be changed without touching s: the headers, subprotocols,
// route parameters and values are copied too.
func (s *Scope) Clone() *Scope {
	c := s.Derive()
	c.Headers = s.Headers.Clone()
	c.Subprotocols = append([]string(nil), s.Subprotocols...)
	return c
}

// Derive returns a copy of s for a router or middleware that changes some of its fields
// before passing it on. Like Django's dict(scope, ...), the copy shares the Headers map and
// the Subprotocols slice with s, so neither may be changed in place (use Clone for that);
// the route parameters and the values stored with Set are copied. Routers use it: a
// WebSocket keeps its scope for its whole life, and one copy of the headers per connection
// is enough.
func (s *Scope) Derive() *Scope {
	c := &Scope{
		Type:         s.Type,
		Scheme:       s.Scheme,
		HTTPVersion:  s.HTTPVersion,
		Method:       s.Method,
		Path:         s.Path,
		RawPath:      s.RawPath,
		RootPath:     s.RootPath,
		QueryString:  s.QueryString,
		Headers:      s.Headers,
		Client:       s.Client,
		Server:       s.Server,
		Channel:      s.Channel,
		Subprotocols: s.Subprotocols,
	}
	if s.URLRoute != nil {
		c.URLRoute = make(map[string]string, len(s.URLRoute))
		for k, v := range s.URLRoute {
			c.URLRoute[k] = v
		}
	}
	s.mu.RLock()
	if len(s.values) > 0 {
		c.values = make(map[any]any, len(s.values))
		for k, v := range s.values {
			c.values[k] = v
		}
	}
	s.mu.RUnlock()
	return c
}
