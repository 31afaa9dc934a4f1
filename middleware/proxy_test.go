package middleware

import (
	"context"
	"testing"

	"github.com/gochannels/gochannels/channels"
)

func TestProxyHeaders(t *testing.T) {
	trusted := []string{"10.0.0.0/8", "127.0.0.1", "::1", TrustUnixSocket}
	for _, tc := range []struct {
		name, typ, peer string
		headers         []string
		client, scheme  string
	}{
		{"untrusted peer keeps everything", "http", "203.0.113.9:4000",
			[]string{"X-Forwarded-For", "1.2.3.4", "X-Forwarded-Proto", "https"}, "203.0.113.9:4000", "http"},
		{"trusted peer, one hop", "http", "127.0.0.1:4000",
			[]string{"X-Forwarded-For", "198.51.100.7", "X-Forwarded-Proto", "https"}, "198.51.100.7:0", "https"},
		{"spoofed left entries are skipped", "http", "10.1.2.3:4000",
			[]string{"X-Forwarded-For", "6.6.6.6, 198.51.100.7, 10.9.9.9"}, "198.51.100.7:0", "http"},
		{"several headers form one list", "http", "10.1.2.3:4000",
			[]string{"X-Forwarded-For", "6.6.6.6", "X-Forwarded-For", "198.51.100.7:5555"}, "198.51.100.7:0", "http"},
		{"all trusted: left-most", "http", "10.1.2.3:4000",
			[]string{"X-Forwarded-For", "10.0.0.5, 10.0.0.6"}, "10.0.0.5:0", "http"},
		{"garbage stops the walk", "http", "10.1.2.3:4000",
			[]string{"X-Forwarded-For", "198.51.100.7, not-an-ip"}, "10.1.2.3:4000", "http"},
		{"ipv6 client", "http", "[::1]:4000",
			[]string{"X-Forwarded-For", "[2001:db8::1]:443"}, "[2001:db8::1]:0", "http"},
		{"websocket wss", "websocket", "127.0.0.1:1",
			[]string{"X-Forwarded-Proto", "https"}, "127.0.0.1:1", "wss"},
		{"right-most proto wins", "websocket", "127.0.0.1:1",
			[]string{"X-Forwarded-Proto", "https, http"}, "127.0.0.1:1", "ws"},
		{"unknown proto ignored", "http", "127.0.0.1:1",
			[]string{"X-Forwarded-Proto", "gopher"}, "127.0.0.1:1", "http"},
		{"unix socket peer", "http", "@",
			[]string{"X-Forwarded-For", "198.51.100.7"}, "198.51.100.7:0", "http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scope := httpScope(tc.headers...)
			scope.Type, scope.Client = tc.typ, tc.peer
			if tc.typ == "websocket" {
				scope.Scheme = "ws"
			}
			var got *channels.Scope
			app := ProxyHeaders(channels.ApplicationFunc(func(ctx context.Context, s *channels.Scope, receive channels.Receiver, send channels.Sender) error {
				got = s
				return nil
			}), trusted...)
			if err := app.Serve(context.Background(), scope, channels.NewMailbox(1), nil); err != nil {
				t.Fatal(err)
			}
			wantScheme := tc.scheme
			if tc.typ == "websocket" && tc.scheme == "http" {
				wantScheme = "ws"
			}
			if got.Client != tc.client || got.Scheme != wantScheme {
				t.Errorf("Client %q Scheme %q, want %q %q", got.Client, got.Scheme, tc.client, wantScheme)
			}
			if scope.Client != tc.peer || (got != scope && len(scope.Headers) == 0) {
				t.Errorf("the original scope was changed: Client %q", scope.Client)
			}
		})
	}
}

func TestProxyHeadersBadConfig(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("a bad trusted entry did not panic")
		}
	}()
	ProxyHeaders(channels.ApplicationFunc(nil), "10.0.0.0/33")
}
