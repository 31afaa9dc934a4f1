package jsclient_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gochannels/gochannels/jsclient"
)

func do(t *testing.T, method string, header map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, jsclient.Path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	jsclient.Handler().ServeHTTP(rec, req)
	return rec.Result()
}

func TestHandlerGet(t *testing.T) {
	resp := do(t, http.MethodGet, nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Content-Type"); got != "text/javascript; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	if got := resp.Header.Get("ETag"); got != jsclient.ETag() || !strings.HasPrefix(got, `"`) {
		t.Errorf("ETag %q, want %q", got, jsclient.ETag())
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
		t.Errorf("Cache-Control %q", got)
	}
	if !bytes.Equal(body, jsclient.Source()) || !bytes.Contains(body, []byte("export class GoChannels")) {
		t.Errorf("body of %d bytes is not the module", len(body))
	}
}

func TestHandlerHead(t *testing.T) {
	resp := do(t, http.MethodHead, nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("ETag") != jsclient.ETag() {
		t.Fatalf("HEAD: %d, %d bytes, ETag %q", resp.StatusCode, len(body), resp.Header.Get("ETag"))
	}
	if resp.Header.Get("Content-Length") == "" {
		t.Errorf("HEAD without Content-Length")
	}
}

func TestHandlerNotModified(t *testing.T) {
	for _, inm := range []string{jsclient.ETag(), `"other", ` + jsclient.ETag(), "W/" + jsclient.ETag(), "*"} {
		resp := do(t, http.MethodGet, map[string]string{"If-None-Match": inm})
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Errorf("If-None-Match %s: %d with %d bytes, want 304 and none", inm, resp.StatusCode, len(body))
		}
	}
	resp := do(t, http.MethodGet, map[string]string{"If-None-Match": `"stale"`})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a stale ETag: %d, want 200", resp.StatusCode)
	}
}

func TestHandlerMethods(t *testing.T) {
	resp := do(t, http.MethodPost, nil)
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestSourceIsACopy(t *testing.T) {
	s := jsclient.Source()
	s[0] ^= 0xff
	if bytes.Equal(s, jsclient.Source()) {
		t.Fatal("Source returned the embedded bytes themselves")
	}
}
