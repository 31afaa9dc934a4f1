// Package bareserver is a bare reference broadcast server for measuring gochannels against
// what the hardware does. It is NOT part of the framework and nothing in the framework uses
// it: it exists so that the load tool (tools/cmd/chatload -server bare) can put an honest
// ceiling beside examples/chat in the same run.
//
// It speaks the wire protocol of examples/chat (the Django Channels tutorial): a WebSocket at
// /ws/chat/{room}/, the client sends {"message": m}, and every member of the room, the
// sender included, receives {"message": m}. Nothing else: no consumers, no channel layer, no
// middleware, no Origin check, one process only.
//
// Its shape is the minimum such a server needs:
//   - gobwas/ws frames on the raw net.Conn (no net/http on the WebSocket path);
//   - one reader goroutine per connection, which decodes the message once, encodes the
//     outgoing frame once, and appends that one shared frame to every member's queue;
//   - one writer goroutine per connection, which takes everything queued at once and writes
//     it with one writev (net.Buffers): a batch of frames per flush, no copy into a buffer;
//   - rooms are copy-on-write member slices: a broadcast takes no lock on the room.
//
// # Slow clients
//
// Each connection's queue is bounded in bytes (Config.QueueBytes, default 1 MiB). A frame
// that would take a queue past it drops that queue and closes the connection with 1008
// "slow client", the same code and reason examples/chat uses; a write that takes longer than
// Config.WriteTimeout does the same. Both are counted (Stats.SlowCloses, and
// bare_slow_client_closes_total at /metrics) and logged: a connected client receives every
// message of its room in order, or it is closed.
//
// Besides the WebSocket it answers GET /metrics (Prometheus text: the counters of Stats),
// which chatload reads for its "limits hit". The command's -pprof flag serves net/http/pprof
// and the runtime/metrics counters on a second, loopback-only listener (internal/debugserver, as
// examples/chat's -pprof does).
//
// A client that connects but never completes its handshake is cut after
// Config.HandshakeTimeout; Serve waits for it at shutdown.
package bareserver
