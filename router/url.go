package router

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/gochannels/gochannels/channels"
)

// Pattern is a compiled path pattern. Patterns start with "/" and are split into segments at
// "/"; a segment is literal text, "{name}" (one non-empty path segment, captured under name),
// or, as the last segment only, "{name...}" (the rest of the path, slashes included, possibly
// empty). Parameters take whole segments: "/room-{id}/" is not a pattern. A trailing "/" is
// part of the pattern: "/ws/chat/{room_name}/" matches "/ws/chat/lobby/" but not
// "/ws/chat/lobby". Names are letters, digits and "_", and unique within a pattern.
//
// Matching works on the raw (percent-encoded) path when the scope has one, so that an encoded
// "/" (%2F) stays inside its segment; literal segments are compared, and parameters captured,
// after percent-decoding.
type Pattern struct {
	raw      string
	segs     []segment
	nparams  int
	trailing bool   // prefix patterns only: the path must continue with "/"
	lit      string // the pattern up to its first parameter: every match starts with it
}

type segment struct {
	lit   string
	param string // "" for a literal
	rest  bool   // {name...}
}

// ParsePattern compiles a path pattern (see Pattern) and reports what is wrong with a bad one.
func ParsePattern(pattern string) (*Pattern, error) {
	return parsePattern(pattern, false)
}

// MustParsePattern is ParsePattern that panics on a bad pattern, for patterns fixed in code.
func MustParsePattern(pattern string) *Pattern {
	p, err := ParsePattern(pattern)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the pattern as written.
func (p *Pattern) String() string { return p.raw }

func parsePattern(pattern string, prefix bool) (*Pattern, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("router: bad path pattern %q: %s", pattern, fmt.Sprintf(format, args...))
	}
	if !strings.HasPrefix(pattern, "/") {
		return nil, bad("it must start with \"/\"")
	}
	p := &Pattern{raw: pattern, lit: pattern}
	if i := strings.IndexByte(pattern, '{'); i >= 0 {
		p.lit = pattern[:i]
	}
	body := pattern[1:]
	if prefix && strings.HasSuffix(body, "/") {
		p.trailing = true
		body = body[:len(body)-1]
	}
	if prefix && body == "" {
		return p, nil // mounted at the root: no segments
	}
	names := map[string]bool{}
	parts := strings.Split(body, "/")
	for i, part := range parts {
		if !strings.ContainsAny(part, "{}") {
			p.segs = append(p.segs, segment{lit: part})
			continue
		}
		if len(part) < 2 || part[0] != '{' || part[len(part)-1] != '}' || strings.Count(part, "{") != 1 || strings.Count(part, "}") != 1 {
			return nil, bad("segment %q: a parameter must be a whole segment, {name} or {name...}", part)
		}
		name := part[1 : len(part)-1]
		rest := false
		if n, ok := strings.CutSuffix(name, "..."); ok {
			if prefix {
				return nil, bad("{%s} cannot be used in an Include prefix", name)
			}
			if i != len(parts)-1 {
				return nil, bad("{%s} must be the last segment", name)
			}
			name, rest = n, true
		}
		if !validParamName(name) {
			return nil, bad("parameter name %q: use letters, digits and _", name)
		}
		if names[name] {
			return nil, bad("parameter %q appears twice", name)
		}
		names[name] = true
		p.segs = append(p.segs, segment{param: name, rest: rest})
		p.nparams++
	}
	return p, nil
}

func validParamName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

type param struct{ name, value string }

// Match reports whether path (percent-decoded, as Scope.Path) matches the whole pattern, and
// returns the parameters.
func (p *Pattern) Match(path string) (map[string]string, bool) {
	var buf [8]param
	params := buf[:0]
	end, ok := p.match(path, false, false, &params)
	if !ok || end != len(path) {
		return nil, false
	}
	m := make(map[string]string, len(params))
	for _, kv := range params {
		m[kv.name] = kv.value
	}
	return m, true
}

// match matches p against the start of path (all of it unless prefix) and returns how much of
// path it took. With decode, path is percent-encoded: segments are decoded before comparing
// and capturing. Parameters are appended to params.
func (p *Pattern) match(path string, decode, prefix bool, params *[]param) (int, bool) {
	if p.quickReject(path, decode) {
		return 0, false
	}
	end := 0 // path[:end] is matched; path[end] is '/' while segments remain
	for _, seg := range p.segs {
		if end >= len(path) || path[end] != '/' {
			return 0, false
		}
		start := end + 1
		if seg.rest {
			v, ok := unescape(path[start:], decode)
			if !ok {
				return 0, false
			}
			*params = append(*params, param{seg.param, v})
			end = len(path)
			break
		}
		if j := strings.IndexByte(path[start:], '/'); j >= 0 {
			end = start + j
		} else {
			end = len(path)
		}
		v, ok := unescape(path[start:end], decode)
		if !ok {
			return 0, false
		}
		if seg.param == "" {
			if v != seg.lit {
				return 0, false
			}
			continue
		}
		if v == "" {
			return 0, false
		}
		*params = append(*params, param{seg.param, v})
	}
	if !prefix {
		return end, end == len(path)
	}
	if end == len(path) {
		return end, !p.trailing
	}
	return end, path[end] == '/'
}

// quickReject reports whether path certainly does not start with the pattern's literal
// prefix: it differs from it before any "%" escape (decoding leaves the text before the first
// "%" as it is), or it is too short.
func (p *Pattern) quickReject(path string, decode bool) bool {
	lit := p.lit
	n := min(len(lit), len(path))
	c := 0
	for c < n && path[c] == lit[c] {
		c++
	}
	if c == len(lit) {
		return false
	}
	if decode && c < len(path) && strings.IndexByte(path[:c+1], '%') >= 0 {
		return false
	}
	return true
}

func unescape(s string, decode bool) (string, bool) {
	if !decode || strings.IndexByte(s, '%') < 0 {
		return s, true
	}
	v, err := url.PathUnescape(s)
	return v, err == nil
}

// Route is one entry of a URL router: made by Path or Include.
type Route struct {
	pattern *Pattern
	app     channels.Application
	include bool
}

// Path routes the scopes whose whole path matches pattern (see Pattern) to app, with the
// pattern's parameters added to scope.URLRoute. It panics on a bad pattern, with a message
// saying what is wrong (as regexp.MustCompile does); use ParsePattern to check one first.
func Path(pattern string, app channels.Application) Route {
	p, err := parsePattern(pattern, false)
	if err != nil {
		panic(err)
	}
	if app == nil {
		panic(fmt.Sprintf("router: Path %q with a nil application", pattern))
	}
	return Route{pattern: p, app: app}
}

// Include routes the scopes whose path starts with prefix (whole segments; it may hold
// {name} parameters) to app, usually another URL router. The matched part moves from
// scope.Path (and RawPath) to the end of scope.RootPath, so that app matches what follows:
// under Include("/api", inner) or Include("/api/", inner), the path "/api/rooms/1" reaches
// inner as "/rooms/1" with RootPath "/api". With a trailing "/" the prefix matches only paths
// that continue after it; without one it also matches the bare prefix (the inner path is
// then ""). It panics on a bad prefix.
func Include(prefix string, app channels.Application) Route {
	p, err := parsePattern(prefix, true)
	if err != nil {
		panic(err)
	}
	if app == nil {
		panic(fmt.Sprintf("router: Include %q with a nil application", prefix))
	}
	return Route{pattern: p, app: app, include: true}
}

// URLRouter routes HTTP and WebSocket scopes by path, trying its routes in order. Scopes no
// route matches are answered as not found: a WebSocket is refused (HTTP 403) after its
// "websocket.connect" event, an HTTP request gets 404 "Not Found"; either way one line is
// logged. Other scope types are an error wrapping ErrNoRoute.
type URLRouter struct {
	// Logger logs the scopes no route matches; nil means slog.Default().
	Logger *slog.Logger

	routes []Route
}

// URL returns a router over routes (made with Path and Include), tried in order.
func URL(routes ...Route) *URLRouter {
	for i, r := range routes {
		if r.pattern == nil {
			panic(fmt.Sprintf("router: URL route %d is a zero Route; make routes with Path or Include", i))
		}
	}
	return &URLRouter{routes: routes}
}

// Serve implements channels.Application.
func (r *URLRouter) Serve(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
	if scope.Type != channels.ScopeHTTP && scope.Type != channels.ScopeWebsocket {
		return fmt.Errorf("%w: URL router cannot route a %q scope (channel %q); route channel scopes with ChannelName", ErrNoRoute, scope.Type, scope.Channel)
	}
	route, inner, ok := r.resolve(scope)
	if !ok {
		return notFound(ctx, r.Logger, scope, receive, send)
	}
	return route.app.Serve(ctx, inner, receive, send)
}

// resolve finds the first matching route and the scope to hand to it: the same scope when
// nothing changes, otherwise a derived copy (sharing the headers, see
// channels.Scope.Derive) with parameters and paths updated.
func (r *URLRouter) resolve(scope *channels.Scope) (*Route, *channels.Scope, bool) {
	path, decode := scope.Path, false
	if scope.RawPath != "" {
		path, decode = scope.RawPath, true
	}
	var buf [8]param
	for i := 0; i < len(r.routes); i++ {
		params := buf[:0]
		i, end := r.find(i, path, decode, &params)
		if i < 0 {
			break
		}
		route := &r.routes[i]
		if len(params) == 0 && (!route.include || end == 0) {
			return route, scope, true
		}
		inner := scope.Derive()
		if len(params) > 0 {
			if inner.URLRoute == nil {
				inner.URLRoute = make(map[string]string, len(params))
			}
			for _, kv := range params {
				inner.URLRoute[kv.name] = kv.value
			}
		}
		if route.include && end > 0 {
			if !moveToRoot(inner, path[:end], path[end:], decode) {
				continue
			}
		}
		return route, inner, true
	}
	return nil, nil, false
}

// find returns the index of the first route from start on that matches path, how much of
// path it took, and its parameters in *params; -1 when none matches.
func (r *URLRouter) find(start int, path string, decode bool, params *[]param) (int, int) {
	for i := start; i < len(r.routes); i++ {
		route := &r.routes[i]
		*params = (*params)[:0]
		if end, ok := route.pattern.match(path, decode, route.include, params); ok {
			return i, end
		}
	}
	return -1, 0
}

// moveToRoot moves the matched part of the path to RootPath.
func moveToRoot(s *channels.Scope, matched, rest string, decode bool) bool {
	if !decode {
		s.RootPath += matched
		s.Path = rest
		return true
	}
	dm, ok1 := unescape(matched, true)
	dr, ok2 := unescape(rest, true)
	if !ok1 || !ok2 {
		return false
	}
	s.RootPath += dm
	if strings.HasPrefix(s.Path, dm) {
		s.Path = s.Path[len(dm):]
	} else {
		s.Path = dr
	}
	s.RawPath = rest
	return true
}
