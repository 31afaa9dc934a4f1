package router

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gochannels/gochannels/channels"
)

// recorder is a Sender that keeps what the application sent.
type recorder struct {
	mu   sync.Mutex
	sent []channels.Message
}

func (r *recorder) Send(_ context.Context, msg channels.Message) error {
	r.mu.Lock()
	r.sent = append(r.sent, msg)
	r.mu.Unlock()
	return nil
}

func (r *recorder) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var t []string
	for _, m := range r.sent {
		t = append(t, m.Type())
	}
	return t
}

// hit is what a test application saw.
type hit struct {
	name  string
	scope *channels.Scope
}

// app returns an Application that records the scope it was given in *got.
func app(name string, got *hit) channels.Application {
	return channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		*got = hit{name, scope}
		return nil
	})
}

func serve(t *testing.T, a channels.Application, scope *channels.Scope, events ...channels.Message) (*recorder, error) {
	t.Helper()
	box := channels.NewMailbox(len(events) + 1)
	for _, ev := range events {
		if err := box.Inject(ev); err != nil {
			t.Fatal(err)
		}
	}
	box.Close(nil)
	rec := &recorder{}
	err := a.Serve(context.Background(), scope, box, rec)
	return rec, err
}

func wsScope(path string) *channels.Scope {
	return &channels.Scope{Type: channels.ScopeWebsocket, Path: path}
}

func TestProtocolType(t *testing.T) {
	var got hit
	r := ProtocolType{"http": app("http", &got), "websocket": app("ws", &got)}
	if _, err := serve(t, r, &channels.Scope{Type: "websocket"}); err != nil || got.name != "ws" {
		t.Fatalf("websocket: %v %v", got.name, err)
	}
	if _, err := serve(t, r, &channels.Scope{Type: "http"}); err != nil || got.name != "http" {
		t.Fatalf("http: %v %v", got.name, err)
	}
	_, err := serve(t, r, &channels.Scope{Type: "lifespan"})
	if !errors.Is(err, ErrNoRoute) || !strings.Contains(err.Error(), `"lifespan"`) || !strings.Contains(err.Error(), "http, websocket") {
		t.Fatalf("unknown type: %v", err)
	}
}

func TestChannelName(t *testing.T) {
	var got hit
	r := ChannelName{"background-tasks": app("bg", &got), "thumbnails": app("th", &got)}
	if names := r.Names(); !slices.Equal(names, []string{"background-tasks", "thumbnails"}) {
		t.Fatalf("Names = %v", names)
	}
	if _, err := serve(t, r, &channels.Scope{Type: channels.ScopeChannel, Channel: "thumbnails"}); err != nil || got.name != "th" {
		t.Fatalf("got %v %v", got.name, err)
	}
	_, err := serve(t, r, &channels.Scope{Type: channels.ScopeChannel, Channel: "nope"})
	if !errors.Is(err, ErrNoRoute) || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "background-tasks, thumbnails") {
		t.Fatalf("unknown channel: %v", err)
	}
	if _, err := serve(t, r, wsScope("/")); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("websocket scope: %v", err)
	}
}

func TestURLParametersAndTrailingSlash(t *testing.T) {
	var got hit
	r := URL(
		Path("/ws/chat/{room_name}/", app("chat", &got)),
		Path("/", app("root", &got)),
		Path("/static/{file...}", app("static", &got)),
		Path("/a/{x}/b/{y}", app("ab", &got)),
	)
	cases := []struct {
		path   string
		name   string
		params map[string]string
	}{
		{"/ws/chat/lobby/", "chat", map[string]string{"room_name": "lobby"}},
		{"/", "root", nil},
		{"/static/css/site.css", "static", map[string]string{"file": "css/site.css"}},
		{"/static/", "static", map[string]string{"file": ""}},
		{"/a/1/b/2", "ab", map[string]string{"x": "1", "y": "2"}},
	}
	for _, c := range cases {
		got = hit{}
		scope := wsScope(c.path)
		if _, err := serve(t, r, scope, channels.Message{"type": "websocket.connect"}); err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		if got.name != c.name || !maps.Equal(got.scope.URLRoute, c.params) {
			t.Errorf("%s: routed to %q with %v, want %q with %v", c.path, got.name, got.scope.URLRoute, c.name, c.params)
		}
		if len(c.params) == 0 && got.scope != scope {
			t.Errorf("%s: scope cloned without need", c.path)
		}
		if len(c.params) > 0 && scope.URLRoute != nil {
			t.Errorf("%s: the caller's scope was changed", c.path)
		}
	}
	for _, miss := range []string{"/ws/chat/lobby", "/ws/chat//", "/ws/chat/a/b/", "/static", "/a/1/b", "/a/1/b/2/", "", "/x"} {
		got = hit{}
		rec, err := serve(t, r, wsScope(miss), channels.Message{"type": "websocket.connect"})
		if err != nil || got.name != "" {
			t.Errorf("%q: routed to %q, err %v", miss, got.name, err)
		}
		if !slices.Equal(rec.types(), []string{"websocket.close"}) {
			t.Errorf("%q: sent %v, want a refusal", miss, rec.types())
		}
	}
}

func TestURLPercentDecoding(t *testing.T) {
	var got hit
	r := URL(Path("/room/{name}/x", app("room", &got)), Path("/café/{id}", app("cafe", &got)))
	scope := &channels.Scope{Type: "http", Path: "/room/a/b c/x", RawPath: "/room/a%2Fb%20c/x"}
	if _, err := serve(t, r, scope); err != nil || got.name != "room" || got.scope.Param("name") != "a/b c" {
		t.Fatalf("got %q %v %v", got.name, got.scope.URLRoute, err)
	}
	scope = &channels.Scope{Type: "http", Path: "/café/7", RawPath: "/caf%C3%A9/7"}
	if _, err := serve(t, r, scope); err != nil || got.name != "cafe" || got.scope.Param("id") != "7" {
		t.Fatalf("got %q %v %v", got.name, got.scope.URLRoute, err)
	}
	r2 := URL(Path("/a b/{x}", app("space", &got)))
	if _, err := serve(t, r2, &channels.Scope{Type: "http", Path: "/a b/1", RawPath: "/a%20b/1"}); err != nil || got.name != "space" {
		t.Fatalf("escaped literal: got %q, %v", got.name, err)
	}
	got = hit{}
	rec, _ := serve(t, r, &channels.Scope{Type: "http", Path: "/room/?/x", RawPath: "/room/%zz/x"})
	if got.name != "" || len(rec.sent) != 2 || rec.sent[0]["status"] != 404 {
		t.Fatalf("bad escape: routed to %q, sent %v", got.name, rec.sent)
	}
}

func TestURLInclude(t *testing.T) {
	var got hit
	inner := URL(Path("/chat/{room_name}/", app("chat", &got)), Path("/", app("index", &got)))
	r := URL(
		Include("/ws/", inner),
		Include("/org/{org}", URL(Path("/repo/{repo}", app("repo", &got)))),
		Include("/", URL(Path("/fallback", app("fallback", &got)))),
	)
	scope := &channels.Scope{Type: "websocket", Path: "/ws/chat/lobby/", RawPath: "/ws/chat/lobby/", URLRoute: map[string]string{"outer": "1"}}
	if _, err := serve(t, r, scope); err != nil || got.name != "chat" {
		t.Fatalf("got %q, %v", got.name, err)
	}
	s := got.scope
	if s.RootPath != "/ws" || s.Path != "/chat/lobby/" || s.RawPath != "/chat/lobby/" {
		t.Fatalf("root %q path %q raw %q", s.RootPath, s.Path, s.RawPath)
	}
	if !maps.Equal(s.URLRoute, map[string]string{"outer": "1", "room_name": "lobby"}) {
		t.Fatalf("params %v", s.URLRoute)
	}
	if scope.RootPath != "" || scope.Path != "/ws/chat/lobby/" || len(scope.URLRoute) != 1 {
		t.Fatal("the caller's scope was changed")
	}

	if _, err := serve(t, r, wsScope("/ws/")); err != nil || got.name != "index" || got.scope.RootPath != "/ws" {
		t.Fatalf("got %q %q, %v", got.name, got.scope.RootPath, err)
	}
	scope = &channels.Scope{Type: "http", Path: "/org/go team/repo/x", RawPath: "/org/go%20team/repo/x", RootPath: "/mount"}
	if _, err := serve(t, r, scope); err != nil || got.name != "repo" {
		t.Fatalf("got %q, %v", got.name, err)
	}
	s = got.scope
	if s.RootPath != "/mount/org/go team" || s.Path != "/repo/x" || s.RawPath != "/repo/x" || s.Param("org") != "go team" || s.Param("repo") != "x" {
		t.Fatalf("root %q path %q raw %q params %v", s.RootPath, s.Path, s.RawPath, s.URLRoute)
	}
	if _, err := serve(t, r, wsScope("/fallback")); err != nil || got.name != "fallback" || got.scope.RootPath != "" {
		t.Fatalf("got %q, %v", got.name, err)
	}
	// "/wsx/..." does not match the "/ws/" prefix; "/ws" does not match it either (trailing
	// slash), and falls through to the root include, whose router answers not found.
	for _, miss := range []string{"/wsx/chat/a/", "/ws", "/org/a"} {
		got = hit{}
		rec, err := serve(t, r, wsScope(miss), channels.Message{"type": "websocket.connect"})
		if err != nil || got.name != "" || !slices.Equal(rec.types(), []string{"websocket.close"}) {
			t.Errorf("%q: routed to %q, sent %v, err %v", miss, got.name, rec.types(), err)
		}
	}
}

func TestURLIncludeWithoutSlashMatchesBarePrefix(t *testing.T) {
	var got hit
	r := URL(Include("/api", ProtocolType{"http": app("api", &got)}))
	if _, err := serve(t, r, &channels.Scope{Type: "http", Path: "/api"}); err != nil || got.name != "api" || got.scope.Path != "" || got.scope.RootPath != "/api" {
		t.Fatalf("got %q %+v %v", got.name, got.scope, err)
	}
	if _, err := serve(t, r, &channels.Scope{Type: "http", Path: "/api/v1"}); err != nil || got.scope.Path != "/v1" {
		t.Fatalf("got %+v %v", got.scope, err)
	}
}

func TestURLNotFound(t *testing.T) {
	var logs bytes.Buffer
	r := URL(Path("/only", channels.ApplicationFunc(func(context.Context, *channels.Scope, channels.Receiver, channels.Sender) error { return nil })))
	r.Logger = slog.New(slog.NewTextHandler(&logs, nil))

	rec, err := serve(t, r, &channels.Scope{Type: "http", Path: "/missing"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.sent) != 2 || rec.sent[0].Type() != channels.TypeHTTPResponseStart || rec.sent[0]["status"] != 404 ||
		rec.sent[1].Type() != channels.TypeHTTPResponseBody || string(rec.sent[1].Bytes("body")) != "Not Found" {
		t.Fatalf("sent %v", rec.sent)
	}
	// WebSocket: the refusal comes after the connect event.
	rec, err = serve(t, r, wsScope("/missing/ws"), channels.Message{"type": "websocket.connect"})
	if err != nil || !slices.Equal(rec.types(), []string{"websocket.close"}) {
		t.Fatalf("sent %v, %v", rec.types(), err)
	}
	// A client gone before connecting: nothing to send, no error.
	rec, err = serve(t, r, wsScope("/missing/gone"))
	if err != nil || len(rec.sent) != 0 {
		t.Fatalf("sent %v, %v", rec.types(), err)
	}
	_, err = serve(t, r, &channels.Scope{Type: channels.ScopeChannel, Channel: "tasks"})
	if !errors.Is(err, ErrNoRoute) || !strings.Contains(err.Error(), "ChannelName") {
		t.Fatalf("channel scope: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "path=/missing") || !strings.Contains(lines[0], "type=http") || !strings.Contains(lines[1], "type=websocket") {
		t.Fatalf("log:\n%s", logs.String())
	}
}

func TestParsePatternErrors(t *testing.T) {
	bad := map[string]string{
		"ws/chat/":        `start with "/"`,
		"":                `start with "/"`,
		"/room-{id}/":     "whole segment",
		"/{a}{b}":         "whole segment",
		"/{id":            "whole segment",
		"/id}":            "whole segment",
		"/{}":             "parameter name",
		"/{a-b}":          "parameter name",
		"/{a}/{a}":        "twice",
		"/{rest...}/more": "last segment",
		"/{...}":          "parameter name",
	}
	for pattern, want := range bad {
		_, err := ParsePattern(pattern)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), fmt.Sprintf("%q", pattern)) {
			t.Errorf("ParsePattern(%q) = %v, want an error about %q", pattern, err, want)
		}
	}
	if _, err := parsePattern("/a/{rest...}", true); err == nil {
		t.Error("Include accepted {rest...}")
	}
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(fmt.Sprint(r), "/room-{id}") {
			t.Fatalf("Path did not panic clearly: %v", r)
		}
	}()
	Path("/room-{id}", channels.ApplicationFunc(nil))
}

func TestPatternMatch(t *testing.T) {
	p := MustParsePattern("/ws/chat/{room_name}/")
	if p.String() != "/ws/chat/{room_name}/" {
		t.Fatal(p.String())
	}
	m, ok := p.Match("/ws/chat/lobby/")
	if !ok || m["room_name"] != "lobby" {
		t.Fatalf("%v %v", m, ok)
	}
	if _, ok := p.Match("/ws/chat/lobby"); ok {
		t.Fatal("matched without the trailing slash")
	}
	// Match takes a decoded path: no second decoding.
	m, ok = p.Match("/ws/chat/a%20b/")
	if !ok || m["room_name"] != "a%20b" {
		t.Fatalf("%v %v", m, ok)
	}
}

func TestURLPanicsOnZeroRoute(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	URL(Route{})
}

func BenchmarkURLMatch(b *testing.B) {
	noop := channels.ApplicationFunc(func(context.Context, *channels.Scope, channels.Receiver, channels.Sender) error { return nil })
	var routes []Route
	for i := 0; i < 20; i++ {
		routes = append(routes, Path(fmt.Sprintf("/api/v1/thing%d/{id}/", i), noop))
	}
	routes = append(routes, Path("/ws/chat/{room_name}/", noop), Include("/nested/", URL(Path("/a/{x}/b", noop))))
	r := URL(routes...)
	cases := map[string]*channels.Scope{
		"first":        {Type: "websocket", Path: "/api/v1/thing0/42/", RawPath: "/api/v1/thing0/42/"},
		"after20":      {Type: "websocket", Path: "/ws/chat/lobby/", RawPath: "/ws/chat/lobby/"},
		"nested":       {Type: "websocket", Path: "/nested/a/1/b", RawPath: "/nested/a/1/b"},
		"noparams":     {Type: "websocket", Path: "/ws/chat/lobby/"},
		"encodedparam": {Type: "websocket", Path: "/ws/chat/a b/", RawPath: "/ws/chat/a%20b/"},
	}
	for name, scope := range cases {
		// The whole routing decision, including the scope clone for the parameters.
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, ok := r.resolve(scope); !ok {
					b.Fatal("no match")
				}
			}
		})
		// Matching alone.
		b.Run(name+"/matchonly", func(b *testing.B) {
			path, decode := scope.Path, false
			if scope.RawPath != "" {
				path, decode = scope.RawPath, true
			}
			var buf [8]param
			params := buf[:0]
			b.ReportAllocs()
			for b.Loop() {
				if i, _ := r.find(0, path, decode, &params); i < 0 {
					b.Fatal("no match")
				}
			}
		})
	}
}
