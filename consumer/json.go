package consumer

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gochannels/gochannels/channels"
)

// JSONWebsocketConsumer is the base of a WebSocket consumer that speaks JSON text frames.
// Embed it and build the application with JSONWebsocket. Besides the WebsocketConsumer hooks
// (except Receive) the struct may define:
//
//	ReceiveJSON(ctx context.Context, content json.RawMessage) error   // one valid JSON text frame
//	ReceiveInvalidJSON(ctx context.Context, frame []byte, err error) error // a text frame that is not JSON
//	ReceiveBinary(ctx context.Context, data []byte) error              // a binary frame
//
// Their interfaces, JSONReceiver, InvalidJSONReceiver and BinaryReceiver, let the compiler
// check them, as for the other hooks.
//
// Invalid JSON: without a ReceiveInvalidJSON hook the policy set by WithInvalidJSON applies;
// by default the connection closes with 1007 (invalid payload data). Binary frames: without a
// ReceiveBinary hook the connection closes with 1003 (unsupported data). Either way, one bad
// frame ends at most its own connection, never the process.
type JSONWebsocketConsumer struct {
	WebsocketConsumer
}

func (j *JSONWebsocketConsumer) jsonBase() *JSONWebsocketConsumer { return j }

// SendJSON encodes v with encoding/json and sends it as one text frame.
func (j *JSONWebsocketConsumer) SendJSON(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("consumer: SendJSON: encode %T: %w", v, err)
	}
	// b is not used again, so the text can share its bytes.
	return j.SendText(ctx, unsafe.String(unsafe.SliceData(b), len(b)))
}

// SendSharedJSON sends, as one text frame, the JSON that enc makes of msg, a channel-layer
// message: as SendJSON(ctx, f(msg)) with enc's function f, but encoded once for every
// consumer of the process that sends the same msg through enc. The members of a group in one
// process receive one and the same Message from the layer, so a group message fanned out to
// N local sockets is encoded once instead of N times.
func (j *JSONWebsocketConsumer) SendSharedJSON(ctx context.Context, enc *SharedJSON, msg channels.Message) error {
	text, err := enc.Text(msg)
	if err != nil {
		return err
	}
	return j.SendText(ctx, text)
}

// SharedJSON encodes channel-layer messages to JSON frames once per message rather than once
// per consumer (see SendSharedJSON). It remembers the frames of the last messages it encoded,
// keyed by the identity of the Message (the map, not its contents), so its function must
// depend only on the message, and the messages must not change once sent (layers hand them
// to their receivers as read-only values). A SharedJSON is safe for concurrent use; make one
// per kind of frame, e.g. a package-level variable beside the handler that uses it.
//
// Finding a remembered frame takes no lock (the members of a room all ask for the same
// frame at once); only storing a new one does.
type SharedJSON struct {
	f func(channels.Message) any

	// front is a direct-mapped table in front of index, by a hash of the message's identity:
	// a frame found there costs one atomic load and a comparison, where the sync.Map walks
	// its trie. Only the writers, holding mu, store into it (a new entry takes its slot) and
	// clear it (an evicted entry leaves its slot), so it holds no entry the ring does not.
	front [sharedJSONFront]atomic.Pointer[sharedJSONEntry]

	// index maps the identity of a cached message to its *sharedJSONEntry. A sync.Map's
	// Load takes no lock; only the writers, holding mu, store and delete.
	index sync.Map

	mu    sync.Mutex
	ring  [sharedJSONSlots]*sharedJSONEntry // the cached entries, oldest at next
	next  int                               // the slot the next new entry takes
	bytes int                               // sum of the cached texts' lengths
}

// sharedJSONEntry is one cached frame, immutable once stored. It holds the message itself,
// so that the map's address cannot be reused by another message while the entry is in the
// index: an entry found under a live map's address is that map's.
type sharedJSONEntry struct {
	msg  channels.Message
	text string
}

// Bounds of a SharedJSON's cache: enough entries to span the messages in flight between the
// first and the last member of a group to handle them (a consumer's mailbox holds 128, and a
// process serving many busy rooms has thousands of distinct messages in flight: with 256
// slots, 10 rooms of 100 under full load re-encoded most frames), and a byte budget that
// keeps large messages from being held long.
const (
	sharedJSONSlots     = 4096
	sharedJSONFront     = 1 << sharedJSONFrontBits
	sharedJSONFrontBits = 12
	sharedJSONMaxBytes  = 1 << 20 // total text bytes kept
	sharedJSONMaxText   = 64 << 10
)

// NewSharedJSON returns a SharedJSON whose frames are the JSON encoding (encoding/json) of
// f(msg). f must depend on msg alone.
func NewSharedJSON(f func(msg channels.Message) any) *SharedJSON {
	return &SharedJSON{f: f}
}

// Text returns the JSON encoding of f(msg), computing it only when msg is not one of the
// messages encoded lately.
func (s *SharedJSON) Text(msg channels.Message) (string, error) {
	if msg == nil {
		return s.encode(msg)
	}
	id := *(*unsafe.Pointer)(unsafe.Pointer(&msg)) // the map's identity
	if e := s.front[frontSlot(id)].Load(); e != nil && e.id() == id {
		return e.text, nil
	}
	if e, ok := s.index.Load(id); ok {
		return e.(*sharedJSONEntry).text, nil
	}
	text, err := s.encode(msg)
	if err != nil || len(text) > sharedJSONMaxText {
		return text, err
	}
	s.mu.Lock()
	if _, ok := s.index.Load(id); !ok { // another consumer may have encoded it meanwhile
		s.storeLocked(id, &sharedJSONEntry{msg: msg, text: text})
	}
	s.mu.Unlock()
	return text, nil
}

// id returns the identity of the entry's message (the map's address).
func (e *sharedJSONEntry) id() unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&e.msg)) }

// frontSlot returns the slot of SharedJSON.front for the message at id (Fibonacci hashing
// of its address).
func frontSlot(id unsafe.Pointer) int {
	return int((uint64(uintptr(id)) * 0x9E3779B97F4A7C15) >> (64 - sharedJSONFrontBits))
}

func (s *SharedJSON) encode(msg channels.Message) (string, error) {
	v := s.f(msg)
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("consumer: SharedJSON: encode %T: %w", v, err)
	}
	// b is not used again, so the text can share its bytes.
	return unsafe.String(unsafe.SliceData(b), len(b)), nil
}

// storeLocked caches e as the frame of the map at id, evicting the oldest entries as
// needed. s.mu is held.
func (s *SharedJSON) storeLocked(id unsafe.Pointer, e *sharedJSONEntry) {
	for {
		if old := s.ring[s.next]; old != nil {
			s.front[frontSlot(old.id())].CompareAndSwap(old, nil)
			s.index.Delete(old.id())
			s.bytes -= len(old.text)
			s.ring[s.next] = nil
		}
		if s.bytes+len(e.text) <= sharedJSONMaxBytes {
			break
		}
		s.next = (s.next + 1) % sharedJSONSlots // evict further until the text fits
	}
	s.ring[s.next] = e
	s.index.Store(id, e)
	s.front[frontSlot(id)].Store(e)
	s.bytes += len(e.text)
	s.next = (s.next + 1) % sharedJSONSlots
}

// JSONWebsocket returns an Application that serves each WebSocket scope with a new T, which
// embeds JSONWebsocketConsumer. It behaves as Websocket, and decodes text frames as JSON
// for ReceiveJSON; see JSONWebsocketConsumer for the hooks and the bad-input policy.
//
// JSONWebsocket panics with a *ShapeError when T's hooks or handlers have the wrong
// signature, or T defines Receive (which a JSON consumer never calls).
func JSONWebsocket[T any, P interface {
	*T
	jsonBase
}](opts ...Option) channels.Application {
	return Websocket[T, P](opts...)
}

// invalidJSONReply is the frame InvalidJSONReply sends.
const invalidJSONReply = `{"error":"invalid JSON"}`

func receiveJSON[P any](ctx context.Context, ti *typeInfo[P], o *options, p P, w *WebsocketConsumer, text string, isText bool, data []byte) error {
	if !isText {
		if ti.receiveBinary != nil {
			return protect(func() error { return ti.receiveBinary(p, ctx, data) })
		}
		w.Logger().Debug("consumer: binary frame refused by a JSON consumer", "consumer", ti.name, "bytes", len(data))
		return w.CloseReason(ctx, channels.CloseUnsupportedData, "binary frames are not supported")
	}
	raw := []byte(text)
	if !json.Valid(raw) {
		err := fmt.Errorf("consumer %s: text frame of %d bytes is not valid JSON", ti.name, len(raw))
		if ti.receiveInvalidJSON != nil {
			return protect(func() error { return ti.receiveInvalidJSON(p, ctx, raw, err) })
		}
		switch o.invalidJSON {
		case InvalidJSONReply:
			w.Logger().Debug("consumer: invalid JSON answered with an error frame", "consumer", ti.name, "error", err)
			return w.SendText(ctx, invalidJSONReply)
		case InvalidJSONIgnore:
			w.Logger().Debug("consumer: invalid JSON ignored", "consumer", ti.name, "error", err)
			return nil
		default:
			w.Logger().Debug("consumer: invalid JSON closes the connection", "consumer", ti.name, "error", err)
			return w.CloseReason(ctx, channels.CloseInvalidPayload, "invalid JSON")
		}
	}
	if o.acks {
		return receiveAcked(ctx, ti, p, w, raw) // see WithAcks
	}
	if ti.receiveJSON == nil {
		return nil
	}
	return protect(func() error { return ti.receiveJSON(p, ctx, raw) })
}
