package middleware

import (
	"context"
	"maps"
	"net/http"
	"testing"

	"github.com/gochannels/gochannels/channels"
)

func TestParseCookies(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  map[string]string
	}{
		{"none", nil, map[string]string{}},
		{"one", []string{"sessionid=abc"}, map[string]string{"sessionid": "abc"}},
		{"several", []string{"a=1; b=2;c=3"}, map[string]string{"a": "1", "b": "2", "c": "3"}},
		{"several headers", []string{"a=1", "b=2"}, map[string]string{"a": "1", "b": "2"}},
		{"first wins", []string{"a=1; a=2"}, map[string]string{"a": "1"}},
		{"quoted with space", []string{`a="x y"`}, map[string]string{"a": "x y"}},
		{"quoted plain", []string{`a="xy"`}, map[string]string{"a": "xy"}},
		{"bare name", []string{"a=1; no-equals; b=2"}, map[string]string{"a": "1", "no-equals": "", "b": "2"}},
		{"bad name skipped", []string{"a b=1; c=3"}, map[string]string{"c": "3"}},
		{"empty value", []string{"a="}, map[string]string{"a": ""}},
		{"garbage", []string{";;;==;\x00\xff"}, map[string]string{}},
		{"base64 and dots", []string{"s=eyJ.ab-_"}, map[string]string{"s": "eyJ.ab-_"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, l := range tt.lines {
				h.Add("Cookie", l)
			}
			if got := ParseCookies(h); !maps.Equal(got, tt.want) {
				t.Errorf("ParseCookies(%q) = %v, want %v", tt.lines, got, tt.want)
			}
		})
	}
}

func TestCookiesMiddleware(t *testing.T) {
	var got map[string]string
	app := Cookies(channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		got = CookiesFrom(scope)
		return nil
	}))
	serve(t, app, wsScope("Cookie", "sessionid=xyz; csrftoken=t"))
	if got["sessionid"] != "xyz" || got["csrftoken"] != "t" || len(got) != 2 {
		t.Fatalf("cookies = %v", got)
	}
}

func TestCookiesFromParsesOnce(t *testing.T) {
	s := wsScope("Cookie", "a=1")
	first := CookiesFrom(s)
	s.Headers.Set("Cookie", "a=2")
	if CookiesFrom(s)["a"] != "1" || first["a"] != "1" {
		t.Fatal("CookiesFrom parsed the headers again")
	}
}
