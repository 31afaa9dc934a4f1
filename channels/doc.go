// Package channels is the core of gochannels: the vocabulary every other package speaks
// (Scope, Message, Application, Receiver, Sender, Mailbox) and the server that turns HTTP/1.1
// and WebSocket connections into scopes.
//
// The model follows Django Channels and ASGI. Each connection becomes a Scope, which describes
// it (type, path, headers, client address, values set by middleware). An Application is called
// once per connection with the scope, a Receiver of events (for a WebSocket:
// "websocket.connect", "websocket.receive", "websocket.disconnect") and a Sender for events it
// emits ("websocket.accept", "websocket.send", "websocket.close"). It returns when the
// connection is over.
//
// Most applications are not written against this interface directly: the router package sends
// scopes to applications by protocol and path, and the consumer package turns a Go struct with
// handler methods into an Application, one instance per connection.
//
// Middleware is an Application that wraps another. Every constructor of middleware in this
// module takes the wrapped application (or http.Handler) first: X(app, options...). One
// that watches a connection's traffic (a log line, metrics) does it with Observe, which
// keeps the optional interfaces of the server's Receiver and Sender (Injector, Detacher,
// TextSender) that wrapping them by hand would lose.
//
// # Delivery from the channel layer
//
// The channel layer pushes a consumer's messages into the same queue as its socket events
// (Injector). On the server that queue is bounded by memory, not by count: the layer messages
// waiting for one connection by Server.EventQueueBytes (1 MiB by default, as estimated by
// MessageSize), its outgoing frames by Server.OutboundQueueBytes, so a connection whose
// application keeps up loses nothing even in bursts of thousands of messages. The bound counts
// the events waiting: the application's handler takes them in batches of up to 32, and the
// events of the batch in hand no longer count, so a connection holds at most EventQueueBytes
// plus those 32 events. A connection past its event bound is closed with 1008 "event queue
// full" after the events already queued, so no later message reaches it and its stream has no
// hole; Server.EventOverflow (or consumer.WithOverflowPolicy per application) may drop the
// newest or oldest messages instead. See OverflowPolicy, IsSlowClient and SlowCloseKind. This
// is the Go side only: a Django sender (channels_redis) still gets ChannelFull from a full
// Redis channel, and the Python side's capacity rules are unchanged.
//
// One message type is reserved: TypeClose ("gochannels.close", with "code" and "reason"),
// sent to a connection's channel or a group it is in, closes that connection from any
// process, Django included; the server carries it out for every application.
//
// # Refusing a handshake
//
// A "websocket.close" before accept refuses with HTTP 403 (503 for 1013). For a status,
// headers and body of the application's own, it sends "websocket.http.response.start" and
// "websocket.http.response.body" (ASGI's denial response) or returns a *Denial.
package channels
