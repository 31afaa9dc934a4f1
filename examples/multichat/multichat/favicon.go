package multichat

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"sync"
	"time"
)

// faviconSize is the icon's width and height in pixels.
const faviconSize = 32

// favicon is /favicon.ico: a real ICO file (one PNG image, as every current browser reads),
// drawn here rather than kept as a binary file in the repository: a speech bubble in the
// page's accent colour. Browsers ask for /favicon.ico on every page load whatever the page
// links, so it is served rather than left to the 404 page.
var favicon = sync.OnceValue(func() []byte {
	accent := color.NRGBA{R: 0x3b, G: 0x5b, B: 0xdb, A: 0xff}
	img := image.NewNRGBA(image.Rect(0, 0, faviconSize, faviconSize))
	inBubble := func(x, y int) bool {
		// A rounded rectangle (rows 3..22) and a tail under its left part (rows 23..28).
		if y >= 3 && y <= 22 && x >= 2 && x <= 29 {
			cx, cy := min(max(x, 7), 24), min(max(y, 8), 17)
			dx, dy := x-cx, y-cy
			return dx*dx+dy*dy <= 25
		}
		return y > 22 && y <= 28 && x >= 8 && x <= 8+(28-y)*2/3+2
	}
	for y := range faviconSize {
		for x := range faviconSize {
			switch {
			case y >= 11 && y <= 13 && (x >= 9 && x <= 10 || x >= 15 && x <= 16 || x >= 21 && x <= 22):
				img.SetNRGBA(x, y, color.NRGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff}) // three dots
			case inBubble(x, y):
				img.SetNRGBA(x, y, accent)
			}
		}
	}
	var pngData bytes.Buffer
	if err := png.Encode(&pngData, img); err != nil {
		panic("multichat: encode the favicon: " + err.Error()) // an in-memory image always encodes
	}
	// ICONDIR (6 bytes), one ICONDIRENTRY (16 bytes), then the PNG.
	var out bytes.Buffer
	le := binary.LittleEndian
	out.Write(le.AppendUint16(le.AppendUint16(le.AppendUint16(nil, 0), 1), 1))
	out.Write([]byte{faviconSize, faviconSize, 0, 0})
	out.Write(le.AppendUint16(le.AppendUint16(nil, 1), 32))
	out.Write(le.AppendUint32(le.AppendUint32(nil, uint32(pngData.Len())), 6+16))
	out.Write(pngData.Bytes())
	return out.Bytes()
})

// faviconModTime is when the favicon last changed, for conditional requests.
var faviconModTime = time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)

// serveFavicon serves /favicon.ico, cacheable for a day.
func serveFavicon(w http.ResponseWriter, r *http.Request) {
	b := favicon()
	h := w.Header()
	h.Set("Content-Type", "image/x-icon")
	h.Set("Cache-Control", "public, max-age=86400")
	http.ServeContent(w, r, "favicon.ico", faviconModTime, bytes.NewReader(b))
}
