package middleware

import (
	"slices"
	"testing"

	"github.com/gochannels/gochannels/channels"
)

// Django's tests for is_same_domain (utils_tests/test_http.py).
func TestIsSameDomain(t *testing.T) {
	for _, p := range [][2]string{
		{"example.com", "example.com"},
		{"example.com", ".example.com"},
		{"foo.example.com", ".example.com"},
		{"example.com:8888", "example.com:8888"},
		{"example.com:8888", ".example.com:8888"},
		{"foo.example.com:8888", ".example.com:8888"},
		{"example.com", "EXAMPLE.COM"},
	} {
		if !IsSameDomain(p[0], p[1]) {
			t.Errorf("IsSameDomain(%q, %q) = false, want true", p[0], p[1])
		}
	}
	for _, p := range [][2]string{
		{"example2.com", "example.com"},
		{"foo.example.com", "example.com"},
		{"example.com:9999", "example.com:8888"},
		{"foo.example.com:8888", ""},
		{"badexample.com", ".example.com"},
		{"example.com.evil.org", ".example.com"},
	} {
		if IsSameDomain(p[0], p[1]) {
			t.Errorf("IsSameDomain(%q, %q) = true, want false", p[0], p[1])
		}
	}
}

func TestOriginAllowed(t *testing.T) {
	tests := []struct {
		origin   string
		patterns []string
		want     bool
	}{
		// Host patterns (ALLOWED_HOSTS style): any scheme and port.
		{"http://example.com", []string{"example.com"}, true},
		{"https://example.com:8443", []string{"example.com"}, true},
		{"http://EXAMPLE.com", []string{"example.com"}, true},
		{"http://example.com", []string{"EXAMPLE.COM"}, true},
		{"http://www.example.com", []string{"example.com"}, false},
		{"http://www.example.com", []string{".example.com"}, true},
		{"http://a.b.example.com", []string{".example.com"}, true},
		{"http://example.com", []string{".example.com"}, true},
		{"http://badexample.com", []string{".example.com"}, false},
		{"http://example.com.evil.org", []string{".example.com"}, false},
		{"http://evil.org", []string{"example.com", ".example.org"}, false},
		{"http://evil.org", []string{"example.com", "evil.org"}, true},
		// Host patterns with a port: that port, explicit or the scheme's default.
		{"http://localhost:8000", []string{"localhost:8000"}, true},
		{"http://localhost:8001", []string{"localhost:8000"}, false},
		{"http://localhost", []string{"localhost:8000"}, false},
		{"http://localhost", []string{"localhost:80"}, true},
		{"https://app.example.com:8443", []string{".example.com:8443"}, true},
		// IPv6 and IPv4.
		{"http://[::1]:8000", []string{"[::1]"}, true},
		{"http://[::1]:8000", []string{"[::1]:8000"}, true},
		{"http://[::2]:8000", []string{"[::1]"}, false},
		{"http://127.0.0.1:8000", []string{"127.0.0.1"}, true},
		// Patterns with a scheme: scheme, host and port, as Django's OriginValidator.
		{"https://example.com", []string{"https://example.com"}, true},
		{"https://example.com:443", []string{"https://example.com"}, true},
		{"http://example.com", []string{"https://example.com"}, false},
		{"https://example.com:8443", []string{"https://example.com"}, false},
		{"https://example.com:8443", []string{"https://example.com:8443"}, true},
		{"https://sub.example.com", []string{"https://.example.com"}, true},
		{"http://example.com", []string{"http://example.com:80"}, true},
		// Anything.
		{"http://anything.org", []string{"*"}, true},
		{"null", []string{"*"}, true},
		// Not a usable origin.
		{"null", []string{"example.com", ".example.com"}, false},
		{"example.com", []string{"example.com"}, false},
		{"http://", []string{"example.com"}, false},
		{"://example.com", []string{"example.com"}, false},
		{"http://exa mple.com", []string{"exa mple.com"}, false},
		{"http://example.com", nil, false},
		{"http://example.com", []string{""}, false},
		// Missing origin.
		{"", []string{"example.com"}, false},
		{"", []string{"*"}, true},
		{"", []string{AllowMissingOrigin}, true},
		{"http://example.com", []string{AllowMissingOrigin}, false},
	}
	for _, tt := range tests {
		if got := OriginAllowed(tt.origin, tt.patterns...); got != tt.want {
			t.Errorf("OriginAllowed(%q, %q) = %v, want %v", tt.origin, tt.patterns, got, tt.want)
		}
	}
}

func TestOriginValidatorWebsocket(t *testing.T) {
	tests := []struct {
		name    string
		scope   *channels.Scope
		allowed []string
		want    bool
	}{
		{"allowed", wsScope("Origin", "http://example.com"), []string{"example.com"}, true},
		{"refused", wsScope("Origin", "http://evil.org"), []string{"example.com"}, false},
		{"missing refused", wsScope(), []string{"example.com"}, false},
		{"missing allowed explicitly", wsScope(), []string{"example.com", AllowMissingOrigin}, true},
		{"missing allowed by star", wsScope(), []string{"*"}, true},
		{"two origins refused", wsScope("Origin", "http://example.com", "Origin", "http://example.com"), []string{"example.com"}, false},
		{"null refused", wsScope("Origin", "null"), []string{"example.com"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := &acceptApp{}
			rec := serve(t, OriginValidator(inner, tt.allowed...), tt.scope)
			if tt.want {
				if !inner.ran || !slices.Equal(rec.types(), []string{channels.TypeWebsocketAccept}) {
					t.Fatalf("ran=%v sent %v, want accept", inner.ran, rec.types())
				}
				return
			}
			if inner.ran {
				t.Fatal("refused scope reached the application")
			}
			if !slices.Equal(rec.types(), []string{channels.TypeWebsocketClose}) {
				t.Fatalf("sent %v, want one websocket.close", rec.types())
			}
		})
	}
}

func TestOriginValidatorHTTP(t *testing.T) {
	tests := []struct {
		name  string
		scope *channels.Scope
		want  bool
	}{
		{"no origin passes", httpScope(), true},
		{"good origin", httpScope("Origin", "https://www.example.com"), true},
		{"bad origin", httpScope("Origin", "https://evil.org"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := &acceptApp{}
			rec := serve(t, OriginValidator(inner, ".example.com"), tt.scope)
			if inner.ran != tt.want {
				t.Fatalf("ran = %v, want %v", inner.ran, tt.want)
			}
			if !tt.want {
				if !slices.Equal(rec.types(), []string{channels.TypeHTTPResponseStart, channels.TypeHTTPResponseBody}) {
					t.Fatalf("sent %v", rec.types())
				}
				if st, _ := rec.msgs[0].Int("status"); st != 403 {
					t.Fatalf("status %d, want 403", st)
				}
			}
		})
	}
}

func TestOriginValidatorChannelScope(t *testing.T) {
	inner := &acceptApp{}
	serve(t, OriginValidator(inner, "example.com"), &channels.Scope{Type: channels.ScopeChannel, Channel: "tasks"})
	if !inner.ran {
		t.Fatal("channel scope was refused")
	}
}

func TestAllowedHostsOriginValidatorDefaults(t *testing.T) {
	for origin, want := range map[string]bool{
		"http://localhost:8000":     true,
		"http://app.localhost":      true,
		"http://127.0.0.1:8000":     true,
		"http://[::1]:8000":         true,
		"http://example.com":        false,
		"http://localhost.evil.org": false,
	} {
		inner := &acceptApp{}
		serve(t, AllowedHostsOriginValidator(inner), wsScope("Origin", origin))
		if inner.ran != want {
			t.Errorf("origin %q: ran = %v, want %v", origin, inner.ran, want)
		}
	}
}

func TestDenyClientGoneFirst(t *testing.T) {
	mb := channels.NewMailbox(2)
	mb.Close(channels.Message{"type": channels.TypeWebsocketDisconnect})
	rec := &recorder{}
	if err := Deny(t.Context(), wsScope(), mb, rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.types()) != 0 {
		t.Fatalf("sent %v to a gone client", rec.types())
	}
	if err := Deny(t.Context(), &channels.Scope{Type: channels.ScopeChannel}, mb, rec); err == nil {
		t.Fatal("Deny of a channel scope returned nil")
	}
}
