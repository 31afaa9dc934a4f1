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
package channels
