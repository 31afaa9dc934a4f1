package multichat

import (
	"bytes"
	"encoding/binary"
	"image/png"
	"net/http"
	"path/filepath"
	"testing"
)

// TestFavicon: /favicon.ico is a valid ICO holding one 32×32 PNG, cacheable, for anyone.
func TestFavicon(t *testing.T) {
	p := startProcess(t, "memory://", filepath.Join(t.TempDir(), "multichat.db"))
	st, _, body := newBrowserish(t, p.base).get("/favicon.ico")
	if st != http.StatusOK {
		t.Fatalf("GET /favicon.ico: status %d", st)
	}
	b := []byte(body)
	le := binary.LittleEndian
	if len(b) < 22 || le.Uint16(b[0:]) != 0 || le.Uint16(b[2:]) != 1 || le.Uint16(b[4:]) != 1 {
		t.Fatalf("not an ICO with one image: % x", b[:min(len(b), 22)])
	}
	size, offset := le.Uint32(b[14:]), le.Uint32(b[18:])
	if b[6] != faviconSize || b[7] != faviconSize || int(offset)+int(size) != len(b) {
		t.Fatalf("ICO entry: %d×%d, %d bytes at %d of %d", b[6], b[7], size, offset, len(b))
	}
	img, err := png.Decode(bytes.NewReader(b[offset:]))
	if err != nil {
		t.Fatalf("the ICO's image is not a PNG: %v", err)
	}
	if r := img.Bounds(); r.Dx() != faviconSize || r.Dy() != faviconSize {
		t.Errorf("image %v", r)
	}
	resp, err := http.Get(p.base + "/favicon.ico")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct, cc := resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"); ct != "image/x-icon" || cc != "public, max-age=86400" {
		t.Errorf("Content-Type %q, Cache-Control %q", ct, cc)
	}
}
