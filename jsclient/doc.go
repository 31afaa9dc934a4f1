// Package jsclient serves gochannels.js, the browser client of gochannels: one dependency-free
// ES module (no build step, no npm) that wraps a WebSocket to a gochannels server. It
//
//   - reconnects with exponential backoff and full jitter (each delay uniform in [0, cap),
//     cap = min(maxDelay, minDelay·2^attempt)), starting again from minDelay once a
//     connection stayed open for stableAfter; retryNow() skips the wait, and a "countdown"
//     event and the retryIn property let a page show "retrying in Ns";
//   - does not reconnect after a permanent close: 1002, 1003, 1007, 1009, 1010, 1008 except
//     the slow-client reasons ("slow client", "event queue full", after which it reconnects
//     and recovers), and the application codes 4000–4499 ("failed" event);
//   - remembers the position of every stream from the "pos" key of the frames it receives,
//     sends them as ?resume= on each reconnect, and turns the server's "recovered" and
//     "unrecoverable" frames into events (on "unrecoverable" the page reloads that stream);
//   - sends with send(obj, {ack: true}), a Promise that resolves when the server acknowledges
//     the frame (consumer.WithAcks) and rejects with a SendFailure on a nack (the server's
//     code, e.g. "unavailable"), when the socket closes first ("closed") or on timeout;
//   - hands the application only its own frames: frames with a top-level "gochannels" key
//     belong to the framework and become events.
//
// Mount the handler beside the application, in a net/http mux:
//
//	mux.Handle(jsclient.Path, jsclient.Handler())
//
// or as a route of a channels.Server's HTTP application:
//
//	router.Path(jsclient.Path, channels.FromHTTPHandler(jsclient.Handler()))
//
// and use it from a page:
//
//	<script type="module">
//	  import { GoChannels } from "/gochannels.js";
//	  const gc = new GoChannels("/ws/chat/lobby/", { minDelay: 500, maxDelay: 30000 });
//	  gc.on("message", (e) => show(e.detail.data));
//	  gc.on("countdown", (e) => status.textContent = `retrying in ${e.detail.seconds}s`);
//	  gc.on("open", () => status.textContent = "online");
//	  gc.on("unrecoverable", (e) => reloadRoom(e.detail.stream));
//	  gc.connect();
//	  form.onsubmit = async (ev) => {
//	    ev.preventDefault();
//	    try {
//	      await gc.send({ message: input.value }, { ack: true });
//	    } catch (err) { // SendFailure: err.code, err.message, err.retryAfter
//	      status.textContent = "not sent: " + err.message;
//	    }
//	  };
//	</script>
//
// The module's header comment and JSDoc list every option, event and method. The wire it
// speaks: frames are JSON objects; a server frame's "pos": {"stream", "offset", "epoch"}
// advances a stream; ?resume= is the JSON object {stream: {"offset", "epoch"}} of the last
// positions; {"gochannels": "recovered", "stream", "replayed", "pos"} and {"gochannels":
// "unrecoverable", "stream", "reason": "epoch"|"gap", "pos"} close a resumed stream's catch-up;
// a client frame's "gc_id" asks for {"gochannels": "ack", "id"} or {"gochannels": "nack", "id",
// "code", "message", "retry_after"} (see consumer.WithAcks).
//
// The module is tested in headless Chromium against a real server by the examples module
// (examples/jsclient).
package jsclient
