// Package worker hosts background consumers: channel-scope applications served on named
// channels of a channel layer, as Django Channels' runworker does.
//
// For each channel a Worker calls the application once with the scope
// {Type: "channel", Channel: name}; the scope's Receiver yields the messages sent to that
// channel (layer.Receive), one at a time. The usual application is a router.ChannelName of
// generic consumers built with consumer.New, which dispatch each message by its type:
//
//	app := router.ChannelName{"background-tasks": consumer.New[Tasks](consumer.WithLayer(l))}
//	w := &worker.Worker{Layer: l, Application: app}
//	err := w.Run(ctx) // until ctx is done, then a graceful stop
//
// # Delivery
//
// Each message is handled once, by one application instance: a channel served with
// Concurrency n runs n instances, each with its own receive loop on the channel, and the
// layer hands each message to one receiver. A receive loop asks the layer for a message only
// when its instance is ready for one (no read-ahead), so several workers — in one process or
// many, Go or Django — share a channel's work fairly. Delivery is at most once, as in Django: a
// handler that fails loses its message (it is logged and counted, never retried).
//
// # Failures
//
// A failing or panicking application never stops the worker: the failure is logged with the
// channel and the message type and counted, and an application instance that ends is started
// again for its channel, with capped exponential backoff when it keeps failing. A layer
// error in Receive (Redis away) is logged once per outage and retried with capped backoff.
//
// # Stopping
//
// Stop (or the end of Run's context) stops receiving, lets the messages in flight finish
// within StopTimeout, then cancels the applications' context. A receive never loses a message
// to a stop: each layer Receive runs under a short deadline of its own rather than being
// canceled, and a message it returns is still handed to the application.
//
// # Clients cannot reach a worker channel
//
// Nothing a client sends names a channel: the server turns connections into "http" and
// "websocket" scopes only, URL routes and consumers decide every channel and group name
// themselves, and a consumer's own channel is a random process-specific name. Worker channels
// are reachable only by code that calls layer.Send with their name (a view or consumer of the
// application, or a trusted process on the same layer). The examples/background program and
// this package's tests check this against crafted paths, scopes and messages.
//
// # Commands
//
// Main turns an application into a runworker command in a few lines (see cmd/runworker):
// channel names as arguments, -layer (layers.Flag: default $CHANNEL_LAYER_URL), -concurrency,
// -log-level, -stop-timeout; one slog stream on stderr, go-redis's lines included.
package worker
