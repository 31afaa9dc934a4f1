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
package channels
