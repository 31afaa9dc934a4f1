package router_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/router"
)

// FuzzPattern compiles arbitrary patterns and matches arbitrary paths against them, alone and
// through a URL router with Path and Include routes. Nothing may panic; a match must name
// exactly the pattern's parameters; Include must split the path without losing any of it.
func FuzzPattern(f *testing.F) {
	seeds := [][3]string{
		{"/ws/chat/{room_name}/", "/ws/chat/lobby/", ""},
		{"/files/{path...}", "/files/a/b/c", ""},
		{"/api/{v}", "/api/v1", "/api/v%2F1"},
		{"/{a}/{b}/{c...}", "/x/y/", ""},
		{"/", "/", ""},
		{"/{x}", "//", "/%zz"},
		{"/a/{x...}/b", "/a/b", ""},
		{"/{é}/", "/é/", "/%C3%A9/"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, pattern, path, rawPath string) {
		p, err := router.ParsePattern(pattern)
		if err != nil {
			if !strings.Contains(err.Error(), "router:") {
				t.Fatalf("error %q does not say where it comes from", err)
			}
			return
		}
		if p.String() != pattern {
			t.Fatalf("String() = %q, want %q", p.String(), pattern)
		}
		params, ok := p.Match(path)
		if ok {
			for name := range params {
				if !strings.Contains(pattern, "{"+name+"}") && !strings.Contains(pattern, "{"+name+"...}") {
					t.Fatalf("pattern %q matched %q with a parameter %q it does not have", pattern, path, name)
				}
			}
			if strings.Count(pattern, "{") != len(params) {
				t.Fatalf("pattern %q matched %q with parameters %v", pattern, path, params)
			}
		}
		route(t, pattern, path, rawPath)
	})
}

// route serves one HTTP scope through URL(Path(pattern), Include(pattern)) and checks what
// the matched application receives.
func route(t *testing.T, pattern, path, rawPath string) {
	var got *channels.Scope
	record := channels.ApplicationFunc(func(_ context.Context, s *channels.Scope, _ channels.Receiver, _ channels.Sender) error {
		got = s
		return nil
	})
	scope := &channels.Scope{Type: channels.ScopeHTTP, Path: path, RawPath: rawPath, Method: "GET"}
	sink := channels.SendFunc(func(context.Context, channels.Message) error { return nil })
	mb := channels.NewMailbox(4)
	mb.Close(channels.Message{"type": channels.TypeHTTPDisconnect})
	routes := []router.Route{router.Path(pattern, record)}
	if !strings.Contains(pattern, "...}") { // a rest parameter cannot end a prefix
		routes = append(routes, router.Include(pattern, record))
	}
	for _, r := range routes {
		got = nil
		_ = router.URL(r).Serve(context.Background(), scope, mb, sink)
		if got == nil || rawPath != "" {
			continue
		}
		if got.RootPath+got.Path != scope.RootPath+scope.Path {
			t.Fatalf("pattern %q, path %q: routed as root %q + path %q", pattern, path, got.RootPath, got.Path)
		}
	}
}
