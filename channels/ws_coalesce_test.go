package channels

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/gochannels/gochannels/internal/wsproto"
)

// TestAppendIovecsCoalesces checks that a batch is written byte for byte as its frames, with
// the small frames copied into runs of one segment each and the large ones left as they are.
func TestAppendIovecsCoalesces(t *testing.T) {
	text := func(s string) outFrame {
		var f outFrame
		f.hn = uint8(len(wsproto.AppendHeader(f.hdr[:0], ws.OpText, true, len(s))))
		f.body = []byte(s)
		return f
	}
	big := strings.Repeat("x", coalesceMaxFrame+1)
	batch := []outFrame{
		text("a"), text("bb"), {head: wsproto.AppendFrame(nil, ws.OpPing, nil)},
		text(big),
		text("ccc"), text("dddd"),
	}
	var want []byte
	for i := range batch {
		f := &batch[i]
		want = append(append(append(want, f.hdr[:f.hn]...), f.head...), f.body...)
	}
	for _, tc := range []struct {
		name string
		cb   *[]byte
		segs int
	}{
		{"coalesced", coalescePool.Get().(*[]byte), 4}, // run, big's header and body, run
		{"without a buffer", nil, 11},
		{"small buffer", func() *[]byte { b := make([]byte, 0, 8); return &b }(), 8},
	} {
		bufs := appendIovecs(nil, batch, tc.cb)
		var got []byte
		for _, b := range bufs {
			got = append(got, b...)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: wrote %q, want %q", tc.name, got, want)
		}
		if len(bufs) != tc.segs {
			t.Errorf("%s: %d segments, want %d", tc.name, len(bufs), tc.segs)
		}
	}
}
