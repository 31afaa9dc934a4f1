package consumer

import (
	"log/slog"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// Option configures an application built by New, Websocket, JSONWebsocket or HTTP.
type Option func(*options)

type options struct {
	layer       layers.Layer
	logger      *slog.Logger
	mailboxCap  int
	invalidJSON InvalidJSONPolicy
	maxBody     int64
	detach      bool
	queueBytes  int
	overflow    channels.OverflowPolicy
	overflowSet bool
	acks        bool // WithAcks
}

// DefaultMaxBodySize is the largest request body an HTTP consumer collects unless
// WithMaxBodySize says otherwise; a larger body is answered with 413.
const DefaultMaxBodySize = 10 << 20

func buildOptions(opts []Option) *options {
	o := &options{logger: slog.Default(), mailboxCap: channels.DefaultMailboxCapacity, maxBody: DefaultMaxBodySize}
	for _, opt := range opts {
		if opt != nil {
			opt(o)
		}
	}
	return o
}

// WithLayer gives each consumer instance a channel on l (its ChannelName) and makes the
// layer shortcuts (Send, GroupAdd, GroupDiscard, GroupSend) and Groups work. Without it a
// consumer still runs, with no channel name.
func WithLayer(l layers.Layer) Option { return func(o *options) { o.layer = l } }

// WithLogger sets the logger for failed handlers and refused messages (slog.Default() when
// not set or nil).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithMailboxCapacity sets how many of the scope's own events may wait for a consumer when
// its Receiver is not an Injector and the consumer makes its own queue
// (channels.DefaultMailboxCapacity by default). Channel-layer messages in that queue are
// bounded by bytes, as on the server (see WithEventQueueBytes).
func WithMailboxCapacity(n int) Option { return func(o *options) { o.mailboxCap = n } }

// WithEventQueueBytes bounds the channel-layer messages waiting for one consumer instance
// by their estimated size (channels.MessageSize), overriding the server's
// channels.Server.EventQueueBytes for this application's connections; n <= 0 keeps the
// server's bound (channels.DefaultEventQueueBytes, 1 MiB, for a queue the consumer makes
// itself). Past it, the overflow policy applies (WithOverflowPolicy).
func WithEventQueueBytes(n int) Option { return func(o *options) { o.queueBytes = n } }

// WithOverflowPolicy sets what happens when a consumer instance's channel-layer messages
// would pass its byte bound, overriding channels.Server.EventOverflow for this
// application's connections: channels.OverflowClose (the server's default) closes the
// WebSocket with 1008 "event queue full", so the client knows it missed messages and no
// later message reaches it; channels.OverflowDropNewest and channels.OverflowDropOldest keep
// it open and drop messages (counted by the layer and in ops metrics, logged for the 1st,
// 2nd, 4th, 8th... drop), for streams such as tickers where only the latest values matter.
func WithOverflowPolicy(p channels.OverflowPolicy) Option {
	return func(o *options) { o.overflow, o.overflowSet = p, true }
}

// WithoutIdleGoroutine lets a WebSocket consumer (Websocket, JSONWebsocket) give up its
// goroutine between events once it has handled its connect: when the Receiver it is served
// with is a channels.Detacher (the server's own), the consumer's events and channel-layer
// messages are then handled as they arrive, one at a time and in order, on a goroutine that
// exists only while there is work, and Serve returns channels.ErrDetached at once. Hooks,
// handlers and failure policy are unchanged. An idle connection then costs no goroutine
// stack. The ctx given to the hooks stays the one Serve got.
//
// Use it only when nothing between the server and the consumer acts when Serve returns, or
// cancels the context it passed on, while passing the server's Receiver through unchanged
// (routers and the origin checks of package middleware are fine). A middleware that wraps
// the Receiver, such as an access log or metrics, keeps the consumer on its goroutine unless
// its Receiver forwards channels.Detacher.
func WithoutIdleGoroutine() Option { return func(o *options) { o.detach = true } }

// WithInvalidJSON sets what a JSON WebSocket consumer does with a text frame that is not
// valid JSON, when its type has no ReceiveInvalidJSON hook. The default is InvalidJSONClose.
func WithInvalidJSON(p InvalidJSONPolicy) Option { return func(o *options) { o.invalidJSON = p } }

// WithMaxBodySize bounds the request body an HTTP consumer collects before calling Handle;
// a larger body is answered with 413 Content Too Large. n <= 0 means DefaultMaxBodySize.
func WithMaxBodySize(n int64) Option {
	return func(o *options) {
		if n <= 0 {
			n = DefaultMaxBodySize
		}
		o.maxBody = n
	}
}

// InvalidJSONPolicy is what a JSON WebSocket consumer does with a text frame that is not
// valid JSON.
type InvalidJSONPolicy int

const (
	// InvalidJSONClose closes the connection with 1007 (invalid payload data). The default.
	InvalidJSONClose InvalidJSONPolicy = iota
	// InvalidJSONReply sends {"error":"invalid JSON"} to the client and carries on.
	InvalidJSONReply
	// InvalidJSONIgnore logs the frame at debug level, drops it and carries on.
	InvalidJSONIgnore
)
