// Package wsproto holds the RFC 6455 pieces of the gochannels server that do not depend on
// connection state: handshake checks, frame header encoding, message reading and
// reassembly with size limits, close frame payloads and incremental UTF-8 validation.
//
// Reading uses gobwas/ws's low-level header reader and cipher; nothing here starts a
// goroutine or keeps a buffer between messages.
package wsproto
