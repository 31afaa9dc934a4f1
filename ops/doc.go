// Package ops holds what running gochannels in production needs beside the application:
// Prometheus metrics (connections, messages, bytes, close codes, failures, HTTP statuses and
// channel-layer operations), collectors that export the layers' and workers' own counters at
// scrape time, and the /healthz and /readyz endpoints load balancers probe.
//
// Everything is built around the public contracts, so it works with any server:
// Metrics.Instrument wraps a channels.Application, Metrics.InstrumentLayer wraps a
// layers.Layer, and the endpoints are plain http.Handlers to mount beside the server in a
// net/http mux. The Example shows the whole wiring of a production process.
//
// # Metrics
//
// With the default namespace "gochannels":
//
//	gochannels_connections_open{type}                   scopes in progress (http, websocket, channel)
//	gochannels_connections_total{type}                  scopes started
//	gochannels_messages_received_total{type}            websocket.receive events
//	gochannels_messages_sent_total{type}                websocket.send events the server took
//	gochannels_bytes_received_total{type}               text/bytes of websocket.receive, http.request bodies
//	gochannels_bytes_sent_total{type}                   text/bytes of websocket.send, http.response.body bodies
//	gochannels_layer_messages_total{type,result}        channel-layer messages pushed into scopes: delivered, mailbox_full (dropped by a drop policy), overflow (closed the connection), closed
//	gochannels_websocket_closes_total{code,side}        WebSocket closes by code and by who closed first
//	gochannels_websocket_slow_client_closes_total       closes with 1008 "slow client" or "event queue full"
//	gochannels_websocket_slow_closes_total{reason}      the same by reason: outbound ("slow client"), events ("event queue full")
//	gochannels_websocket_handshake_refusals_total       handshakes the application refused (close before accept)
//	gochannels_application_failures_total{type,kind}    panic, error (returned), close_1011 (sent by the application)
//	gochannels_http_responses_total{class}              1xx … 5xx, unknown
//	gochannels_layer_operations_total{op}               layer calls by op
//	gochannels_layer_operation_errors_total{op}         failed layer calls (ErrChannelFull excluded)
//	gochannels_layer_channel_full_total{op}             layer calls refused with ErrChannelFull
//	gochannels_layer_operation_duration_seconds{op}     latency histogram (receive includes its wait)
//	gochannels_layer_listen_messages_total{result}      Listen deliveries: delivered, dropped
//
// The side label of a close is "application" (it sent websocket.close, returned or
// panicked), "client" (the peer's close frame, or the connection dropped) or "server" (the
// server's own closes: slow client, idle timeout, shutdown, protocol errors). The server
// reports a close to the application only as a websocket.disconnect event, so the server's
// closes are told apart from the client's by their code and reason (see the channels.Server
// documentation); a client that sends exactly one of those pairs is counted as the server.
// Close codes a client chooses from the private ranges are bucketed ("3xxx", "4xxx") so
// that clients cannot create unbounded series. Instrument adds what it concluded to the
// websocket.disconnect event as "closed_by" ("server" or "client", ClosedByKey), for the
// middleware and the application inside it; a server that sets "closed_by" itself is
// believed.
//
// The per-message figures (messages and bytes received and sent, layer_messages_total) are
// counted in each scope's own tallies, not in shared counters, and summed at each scrape:
// what the ended scopes left plus what every scope in progress holds at that moment, so
// /metrics is exact at every scrape (no batching delay) and a delivery costs one
// uncontended atomic add per figure. A scrape walks the scopes in progress under a lock
// that scope starts and ends also take briefly.
//
// Responses an http.Handler writes itself (channels.FromHTTPHandler on a real server) are
// counted by status class when the server is mounted through Metrics.InstrumentHandler.
//
// # Running a process
//
// Service runs a channels.Server with /metrics, /healthz and /readyz beside it and drains
// on shutdown: /readyz fails first, then after DrainDelay the server closes every WebSocket
// with 1001 and waits for the consumers, bounded by ShutdownTimeout. Options holds the
// settings every command shares and RegisterFlags makes them flags (-addr host:port or
// unix:/path, -proxy-headers, -access-log, -drain-delay, -shutdown-timeout, -tls-cert,
// -tls-key); Listen opens the address. The channel layer comes from the -layer flag
// layers.Flag defines: OpenLayer opens it, instruments it, exports its counters and logs its
// URL (redacted), with the layer packages' own logs (go-redis's) sent through the same slog
// logger. The programs under examples/ are wired this way.
package ops
