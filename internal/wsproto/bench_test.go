package wsproto

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

func BenchmarkCompress4K(b *testing.B) {
	p := bytes.Repeat([]byte("gochannels benchmark text "), 160)[:4096]
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	var dst []byte
	for b.Loop() {
		dst = Compress(dst[:0], p, 1)
	}
}

func BenchmarkDecompress4K(b *testing.B) {
	p := bytes.Repeat([]byte("gochannels benchmark text "), 160)[:4096]
	c := Compress(nil, p, 1)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decompress(c, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReaderFragmented reads a 1 MiB message sent in 256-byte frames: the buffer must
// grow geometrically, not frame by frame.
func BenchmarkReaderFragmented(b *testing.B) {
	var in bytes.Buffer
	msg := bytes.Repeat([]byte("x"), 1<<20)
	for i := 0; i < len(msg); i += 256 {
		op := ws.OpContinuation
		if i == 0 {
			op = ws.OpBinary
		}
		in.Write(masked(op, i+256 >= len(msg), msg[i:i+256]))
	}
	raw := in.Bytes()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		r := Reader{MaxFrame: 1 << 20, MaxMessage: 1 << 20}
		f, err := r.Next(bytes.NewReader(raw))
		if err != nil || len(f.Payload) != len(msg) {
			b.Fatal(err)
		}
	}
}
