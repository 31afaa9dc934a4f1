// Package consumer turns a Go struct into a channels.Application, one instance per
// connection, in the manner of Django Channels' consumers.
//
// A consumer type embeds one of the bases — WebsocketConsumer, JSONWebsocketConsumer,
// HTTPConsumer, or the generic Consumer (any scope; background workers) — and defines hooks
// and handlers as methods. A constructor makes the application; each scope it serves gets a
// new(T):
//
//	type ChatConsumer struct{ consumer.JSONWebsocketConsumer }
//
//	func (c *ChatConsumer) Groups() []string { return []string{"chat_" + c.Scope().Param("room_name")} }
//	func (c *ChatConsumer) ReceiveJSON(ctx context.Context, content json.RawMessage) error { ... }
//	func (c *ChatConsumer) ChatMessage(ctx context.Context, msg channels.Message) error { ... }
//
//	app := consumer.JSONWebsocket[ChatConsumer](consumer.WithLayer(layer))
//
// # Dispatch
//
// A channel-layer message (or, for a generic consumer, any event) of type "chat.message" calls
// the method ChatMessage(ctx context.Context, msg channels.Message) error: each "."- or
// "_"-separated word capitalised (HandlerName). The consumer type is inspected with reflection
// once; handlers are then called through typed function values, and the handler for each
// message type is cached, so dispatch costs a map lookup (or, for the type dispatched last, a
// comparison of strings) and a call, with no allocation (BenchmarkDispatch). Every exported method that takes a channels.Message must have the
// handler shape, and every hook its documented signature: otherwise the constructor panics
// with a *ShapeError that says which method is wrong and what was expected (Check returns
// the same error). Each hook has an interface of its own (Grouper, Connecter, Disconnecter,
// FrameReceiver, JSONReceiver, InvalidJSONReceiver, BinaryReceiver, RequestHandler,
// HTTPDisconnecter), so that a consumer can have the compiler check the hooks it defines:
//
//	var _ consumer.JSONReceiver = (*ChatConsumer)(nil)
//
// A message with no handler is an error naming the type and the method looked for
// (*NoHandlerError); what follows depends on the kind of consumer, as do failing and
// panicking handlers: a WebSocket is closed with 1011, an HTTP response ends (500 when not
// started), a generic consumer logs and goes on. Failures are logged with log/slog (consumer
// type, hook, message type, error, and the stack for a panic); they never take down the
// process or other connections.
//
// # One event at a time
//
// The consumer's loop runs in the goroutine that calls Serve. Its connection's events and
// the messages sent to its channel on the layer (ChannelName, opened with layers.Listen when
// WithLayer is given) arrive through the same Receiver: the server's is a *channels.Mailbox,
// which the layer injects into; any other Receiver is pumped into a mailbox of the
// consumer's own. So hooks and handlers never run concurrently and need no locking.
//
// The layer messages waiting for one consumer are bounded by memory (the server's
// EventQueueBytes, 1 MiB by default, or WithEventQueueBytes), so a consumer that keeps up
// loses nothing in a burst. One that falls behind past the bound is closed with 1008 "event
// queue full" after the messages already queued (its Disconnect hook gets 1008), unless
// WithOverflowPolicy says to drop the newest or the oldest messages instead.
//
// # Groups
//
// Groups named by a Groups() []string method are joined before Connect (before Handle for
// HTTP, before the first event for a generic consumer). They, and every group joined with
// GroupAdd, are left after Disconnect, however the scope ends: disconnect event, closed
// receiver, or canceled context.
//
// # Refusing and closing
//
// Connect refuses a WebSocket by returning ErrDeny (HTTP 403), a *channels.CloseError, or a
// *channels.Denial for a response of the application's own (status, headers, body; see
// WebsocketConsumer.Deny). A channels.TypeClose message ("gochannels.close", with "code" and
// "reason") sent to the consumer's channel or to a group it is in closes the connection from
// any process; the server (or the consumer base, on a Receiver of its own) carries it out,
// and no handler is needed.
//
// # Presence and recovery
//
// PresenceAdd joins a group with presence information; Presence and PresenceCount tell who is
// in a group; "presence.join" and "presence.leave" messages (PresenceOptions.Events) go to
// PresenceJoin and PresenceLeave methods. In a group with history (see package layers) each
// message carries a position: a handler adds it to the frame it sends (AddPosition), the
// browser client remembers it, and on reconnect gives it back in the resume query
// parameter. JoinResumed, called from Connect, joins the groups the application names, each
// since the client's position (GroupAddSince): the missed messages go through the handlers
// in order, then a "recovered" frame, before any newer message, and the newer messages
// already replayed are skipped; or an "unrecoverable" frame says the client must reload. A
// bad resume parameter refuses the handshake with HTTP 400.
//
// From then on the consumer tracks each such group's positions (GroupAddTracked does it for a
// group joined without one, and JoinResumed uses it for the groups the client gave no
// position for): its messages reach the handlers in offset order, each once, whatever order
// the layer delivered them in. A message whose offset leaves a gap after the last one handled
// (on the Redis layer, two processes sending to the group can have a later message reach a
// member first; an inbox over capacity loses messages) has the missing messages read from the
// group's history, one History call of at most MaxGapFill messages, and handled first; a copy
// arriving later is skipped. Consecutive offsets cost four map lookups (the position keys,
// the group) and no layer call. A gap that cannot be filled (larger than MaxGapFill, no
// longer kept, a failed read) and a message of a new epoch (the stream was lost) are never
// skipped silently: they go to the consumer's MessagesLost hook (LostMessagesHandler) or, by
// default, to the client as the "unrecoverable" frame a failed resume gets, positioned right
// before the message that revealed the loss, which follows. GapStats counts fills, duplicates
// and losses. Messages without a position (a group without history, or sent by Python's
// channels_redis) pass through untouched.
//
// # When the channel layer is down
//
// A Redis layer rides out a short outage by itself: Send and GroupSend wait and retry, in
// order, for a few seconds (the layer's send_timeout), and only then fail with an error
// wrapping layers.ErrUnavailable. A handshake that cannot open the consumer's channel or join
// its Groups then is refused with HTTP 503 and Retry-After (the close code 1013, try again
// later), never 403, and logged as a warning; a hook or handler that returns such an error
// closes its WebSocket with 1013 rather than 1011.
//
// One message that cannot be delivered need not cost the client its connection. A handler
// that gets layers.ErrUnavailable from GroupSend can tell the client and go on:
//
//	func (c *ChatConsumer) ReceiveJSON(ctx context.Context, v any) error {
//		err := c.GroupSend(ctx, c.room, channels.Message{"type": "chat.message", "text": v})
//		if errors.Is(err, layers.ErrUnavailable) {
//			return c.SendJSON(ctx, map[string]string{"error": "UNAVAILABLE"}) // the socket stays open
//		}
//		return err
//	}
//
// The layer gave up on that message; the client may send it again later.
//
// # Acknowledgements
//
// With WithAcks, a JSON consumer answers each client frame that carries a top-level "gc_id"
// once ReceiveJSON has returned: {"gochannels": "ack", "id": ...} for nil, or
// {"gochannels": "nack", "id", "code", "message", "retry_after"} for an error. A handler
// refuses one frame and keeps the connection by returning a *SendError (its code, message
// and retry-after); an error wrapping layers.ErrUnavailable is answered with code
// "unavailable" and keeps the connection too. The browser client (package jsclient) shows
// such sends as pending, acknowledged or failed.
package consumer
