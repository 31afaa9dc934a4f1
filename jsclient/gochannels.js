// gochannels.js — the browser client of gochannels: a WebSocket that reconnects, resumes the
// streams it follows, and tracks acknowledged sends. One ES module, no dependencies, no build
// step. Served by the Go package jsclient (mount jsclient.Handler() at /gochannels.js).
//
//   import { GoChannels } from "/gochannels.js";
//
//   const gc = new GoChannels("/ws/chat/lobby/", { minDelay: 500, maxDelay: 30000 });
//   gc.on("message", (e) => show(e.detail.data));             // application frames only
//   gc.on("state", (e) => status.textContent = e.detail.state);
//   gc.on("retrying", (e) => status.textContent = `retrying in ${Math.ceil(e.detail.delay / 1000)}s`);
//   gc.on("countdown", (e) => status.textContent = `retrying in ${e.detail.seconds}s`);
//   gc.on("unrecoverable", (e) => reloadRoom(e.detail.stream));
//   gc.connect();
//
//   try {
//     await gc.send({ message: "hi" }, { ack: true });     // pending until the server acks
//   } catch (err) {                                        // a SendFailure: err.code, err.retryAfter
//     showFailed(err.code === "unavailable" ? "try again later" : err.message);
//   }
//
// The wire (all frames are JSON text objects):
//   - a frame with a top-level "pos": {"stream", "offset", "epoch"} advances that stream's
//     position (the highest offset per stream is kept, with its epoch);
//   - on every connect with known positions, the URL gets ?resume=<JSON {stream: {offset, epoch}}>;
//   - {"gochannels": "recovered" | "unrecoverable", "stream", ...} end a resumed stream's catch-up;
//   - {"gochannels": "ack" | "nack", "id", "code", "message", "retry_after"} answer a send
//     that carried "gc_id";
//   - frames with a top-level "gochannels" key are the framework's: they become events and
//     never reach the "message" listeners.

/**
 * Close codes after which the client does not reconnect by default (state "failed"): the
 * server says that trying again would fail the same way.
 *
 * - 1002 protocol error, 1003 unsupported data, 1007 invalid payload, 1009 message too big,
 *   1010 mandatory extension: the client sent something the server will always refuse;
 * - 1008 policy violation, EXCEPT with the reasons "slow client" and "event queue full"
 *   (the server closed a client that fell behind: it reconnects and recovers what it missed);
 * - 4000–4499: application codes meaning "do not reconnect" (e.g. logged out, banned).
 *
 * Every other code reconnects: 1000/1001 (server restart, idle), 1006 (the connection
 * dropped, or the handshake was refused — a browser cannot tell 403 from 503), 1011, 1012,
 * 1013, and 4500–4999 (application codes meaning "reconnect").
 *
 * @param {number} code the close code
 * @param {string} reason the close reason
 * @returns {boolean} whether the close is permanent
 */
export function isPermanentClose(code, reason) {
  switch (code) {
    case 1002: case 1003: case 1007: case 1009: case 1010:
      return true;
    case 1008:
      return reason !== "slow client" && reason !== "event queue full";
  }
  return code >= 4000 && code <= 4499;
}

/**
 * The error a send's Promise rejects with when the send failed.
 *
 * code is the server's nack code ("unavailable", "internal", or one the application set with
 * consumer.SendError), or one of the client's own: "closed" (the socket closed before the
 * ack), "timeout" (no ack within ackTimeout), "not_open" (the socket was not open).
 */
export class SendFailure extends Error {
  /**
   * @param {string} id the send's gc_id ("" for a send without ack)
   * @param {string} code a short machine-readable code
   * @param {string} message a text for a person
   * @param {number} [retryAfter] seconds to wait before sending again, when the server said
   */
  constructor(id, code, message, retryAfter) {
    super(message || code);
    this.name = "SendFailure";
    /** @type {string} */ this.id = id;
    /** @type {string} */ this.code = code;
    /** @type {number|undefined} */ this.retryAfter = retryAfter;
  }
}

/**
 * Options of a GoChannels client. Every field is optional.
 *
 * @typedef {Object} GoChannelsOptions
 * @property {number} [minDelay=500] the cap of the first reconnect delay, in ms
 * @property {number} [maxDelay=30000] the largest reconnect delay, in ms
 * @property {number} [stableAfter=10000] ms a connection must stay open for the backoff to
 *   start again from minDelay
 * @property {number} [connectTimeout=10000] ms a handshake may take before it is abandoned
 *   (and retried); 0 for the browser's own
 * @property {number} [ackTimeout=10000] ms a send with {ack: true} waits for its ack
 *   before it fails with "timeout"; 0 waits until the socket closes
 * @property {string|string[]} [protocols] WebSocket subprotocols
 * @property {Object<string, {offset: number, epoch: string}>} [positions] the streams'
 *   positions to resume from on the first connect (e.g. rendered into the page with its data)
 * @property {function(number, string): boolean} [isPermanent=isPermanentClose] decides
 *   which closes are not retried
 * @property {function(): number} [random=Math.random] the jitter's source, in [0, 1)
 */

/**
 * A WebSocket to a gochannels server that reconnects with exponential backoff and full
 * jitter, resumes its streams from their last positions, and acknowledges sends.
 *
 * States ("state" property and event): "idle" (before connect), "connecting", "open",
 * "retrying" (waiting to reconnect), "closed" (closed by close()), "failed" (a permanent
 * close: see isPermanentClose; retryNow() or connect() tries again).
 *
 * Events (listen with on() or addEventListener; the payload is event.detail):
 * - "state"        {state, previous}
 * - "connecting"   {url, attempt}
 * - "open"         {url}
 * - "close"        {code, reason, wasClean}  every close, before "retrying" or "failed"
 * - "retrying"     {delay, cap, attempt}     delay ms (uniform in [0, cap)), cap = min(maxDelay, minDelay·2^attempt)
 * - "countdown"    {seconds}                 each second while retrying, for "retrying in Ns"
 * - "failed"       {code, reason}
 * - "message"      {data, frame}             an application frame: data is the parsed JSON
 *                                            (the string when not JSON, an ArrayBuffer when binary)
 * - "position"     {stream, offset, epoch}   a stream's position advanced
 * - "recovered"    {stream, replayed, pos}   a resumed stream caught up
 * - "unrecoverable" {stream, reason, pos}    reason "epoch" or "gap": reload that stream's state
 * - "send"         {id, state, code, message, retryAfter}  state "pending", "acked" or "failed"
 * - "framework"    {frame}                   a framework frame this version does not know
 *
 * While retrying, the browser going back online (the window's "online" event) reconnects at once.
 */
export class GoChannels extends EventTarget {
  /**
   * @param {string} url the WebSocket URL; relative URLs and http(s) schemes are resolved
   *   against the page (http → ws, https → wss)
   * @param {GoChannelsOptions} [options]
   */
  constructor(url, options = {}) {
    super();
    const o = options;
    this.url = url;
    this.minDelay = o.minDelay ?? 500;
    this.maxDelay = Math.max(o.maxDelay ?? 30000, this.minDelay);
    this.stableAfter = o.stableAfter ?? 10000;
    this.connectTimeout = o.connectTimeout ?? 10000;
    this.ackTimeout = o.ackTimeout ?? 10000;
    this.protocols = o.protocols;
    this.isPermanent = o.isPermanent ?? isPermanentClose;
    this._random = o.random ?? Math.random;
    /** @type {Map<string, {offset: number, epoch: string}>} */
    this._positions = new Map();
    for (const [stream, p] of Object.entries(o.positions ?? {})) this.setPosition(stream, p);
    this._state = "idle";
    this._ws = null;
    this._attempt = 0;          // reconnects since the last stable connection
    this._retryTimer = 0;
    this._countdownTimer = 0;
    this._retryAt = 0;
    this._stableTimer = 0;
    this._connectTimer = 0;
    /** @type {Map<string, {resolve: Function, reject: Function, timer: number}>} */
    this._pending = new Map();
    this._idPrefix = Math.floor(this._random() * 2 ** 32).toString(36) + "-";
    this._nextId = 1;
    // The network coming back is a good moment to stop waiting (listened to from connect()
    // to close()).
    this._online = () => { if (this._state === "retrying") this.retryNow(); };
  }

  /** The current state: "idle", "connecting", "open", "retrying", "closed" or "failed". */
  get state() { return this._state; }

  /** Milliseconds until the next reconnect (0 unless retrying). */
  get retryIn() { return this._state === "retrying" ? Math.max(0, this._retryAt - Date.now()) : 0; }

  /** How many reconnects were made since the last stable connection. */
  get attempt() { return this._attempt; }

  /** The gc_ids of the sends waiting for their ack. */
  get pending() { return [...this._pending.keys()]; }

  /**
   * The last position seen per stream, as sent in ?resume=.
   * @returns {Object<string, {offset: number, epoch: string}>}
   */
  get positions() {
    // fromEntries makes own properties, even of a stream named "__proto__".
    return Object.fromEntries([...this._positions].map(([s, p]) => [s, { offset: p.offset, epoch: p.epoch }]));
  }

  /**
   * Sets a stream's position (to resume it from there on the next connect).
   * @param {string} stream the group name
   * @param {{offset: number, epoch: string}} pos
   */
  setPosition(stream, pos) {
    this._positions.set(stream, { offset: Number(pos.offset), epoch: String(pos.epoch) });
  }

  /**
   * Forgets a stream: it is no longer resumed.
   * @param {string} stream
   */
  forget(stream) { this._positions.delete(stream); }

  /**
   * Adds a listener; returns a function that removes it.
   * @param {string} type an event name (see the class documentation)
   * @param {function(CustomEvent): void} fn
   * @returns {function(): void}
   */
  on(type, fn) {
    this.addEventListener(type, fn);
    return () => this.removeEventListener(type, fn);
  }

  /** Opens the connection (again, from "closed" or "failed"). Returns this. */
  connect() {
    if (this._state === "connecting" || this._state === "open") return this;
    globalThis.addEventListener?.("online", this._online); // once: the same function
    this._clearRetry();
    this._open();
    return this;
  }

  /** Reconnects now instead of waiting for the backoff (in "retrying" or "failed"). */
  retryNow() {
    if (this._state === "retrying" || this._state === "failed") {
      this._clearRetry();
      this._open();
    }
  }

  /**
   * Closes the connection for good (no reconnect); pending sends fail with "closed".
   * @param {number} [code=1000]
   * @param {string} [reason]
   */
  close(code = 1000, reason = "") {
    globalThis.removeEventListener?.("online", this._online);
    this._clearRetry();
    const ws = this._ws;
    this._detach();
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(code, reason);
    this._failPending("closed", "the connection was closed");
    this._setState("closed");
  }

  /**
   * Sends obj as a JSON text frame (a string or an ArrayBuffer/Blob/TypedArray as is).
   *
   * Without {ack: true} the Promise resolves once the frame is handed to the socket. With
   * {ack: true} (obj must be a plain object) it carries a fresh "gc_id", a "send" event
   * reports it "pending", and the Promise resolves with the id once the server acks it; it
   * rejects with a SendFailure on a nack (the server's code), when the socket closes first
   * ("closed"), or after ackTimeout ("timeout"). A send while the socket is not open rejects
   * at once with "not_open": nothing is queued, so nothing is sent twice.
   *
   * @param {*} obj
   * @param {{ack?: boolean, timeout?: number}} [opts] timeout overrides ackTimeout (ms)
   * @returns {Promise<string>} the gc_id ("" without ack)
   */
  send(obj, opts = {}) {
    const ws = this._ws;
    if (this._state !== "open" || !ws) {
      const f = new SendFailure("", "not_open", "not connected");
      if (opts.ack) this._emit("send", { id: "", state: "failed", code: f.code, message: f.message });
      return Promise.reject(f);
    }
    if (!opts.ack) {
      ws.send(typeof obj === "string" || obj instanceof ArrayBuffer || ArrayBuffer.isView(obj) || obj instanceof Blob ? obj : JSON.stringify(obj));
      return Promise.resolve("");
    }
    const id = this._idPrefix + (this._nextId++);
    const frame = JSON.stringify({ ...obj, gc_id: id });
    return new Promise((resolve, reject) => {
      const timeout = opts.timeout ?? this.ackTimeout;
      const entry = { resolve, reject, timer: 0 };
      if (timeout > 0) {
        entry.timer = setTimeout(() => this._settle(id, new SendFailure(id, "timeout", "no acknowledgement in time")), timeout);
      }
      this._pending.set(id, entry);
      this._emit("send", { id, state: "pending" });
      ws.send(frame);
    });
  }

  // --- internals ---

  _emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  _setState(state) {
    const previous = this._state;
    if (previous === state) return;
    this._state = state;
    this._emit("state", { state, previous });
  }

  _wsURL() {
    const u = new URL(this.url, globalThis.location ? globalThis.location.href : undefined);
    if (u.protocol === "http:") u.protocol = "ws:";
    if (u.protocol === "https:") u.protocol = "wss:";
    if (this._positions.size > 0) u.searchParams.set("resume", JSON.stringify(this.positions));
    return u.toString();
  }

  _open() {
    const url = this._wsURL();
    this._setState("connecting");
    this._emit("connecting", { url, attempt: this._attempt });
    let ws;
    try {
      ws = this.protocols ? new WebSocket(url, this.protocols) : new WebSocket(url);
    } catch (err) { // a malformed URL: permanent
      this._emit("failed", { code: 0, reason: String(err) });
      this._setState("failed");
      return;
    }
    ws.binaryType = "arraybuffer";
    this._ws = ws;
    if (this.connectTimeout > 0) {
      this._connectTimer = setTimeout(() => { if (this._ws === ws && ws.readyState === WebSocket.CONNECTING) ws.close(); }, this.connectTimeout);
    }
    ws.onopen = () => {
      if (this._ws !== ws) return;
      clearTimeout(this._connectTimer);
      this._stableTimer = setTimeout(() => { this._attempt = 0; }, this.stableAfter);
      this._setState("open");
      this._emit("open", { url });
    };
    ws.onmessage = (ev) => { if (this._ws === ws) this._frame(ev.data); };
    ws.onclose = (ev) => { if (this._ws === ws) this._closed(ev.code, ev.reason, ev.wasClean); };
  }

  _detach() {
    const ws = this._ws;
    if (ws) { ws.onopen = ws.onmessage = ws.onclose = null; }
    this._ws = null;
    clearTimeout(this._stableTimer);
    clearTimeout(this._connectTimer);
  }

  _closed(code, reason, wasClean) {
    this._detach();
    this._failPending("closed", "the connection closed before the acknowledgement");
    this._emit("close", { code, reason, wasClean });
    if (this.isPermanent(code, reason)) {
      this._emit("failed", { code, reason });
      this._setState("failed");
      return;
    }
    const cap = Math.min(this.maxDelay, this.minDelay * 2 ** Math.min(this._attempt, 30));
    const delay = Math.floor(this._random() * cap); // full jitter: uniform in [0, cap)
    const attempt = this._attempt;
    this._attempt++;
    this._retryAt = Date.now() + delay;
    this._setState("retrying");
    this._emit("retrying", { delay, cap, attempt });
    this._retryTimer = setTimeout(() => { this._clearRetry(); this._open(); }, delay);
    const tick = () => this._emit("countdown", { seconds: Math.ceil(this.retryIn / 1000) });
    tick();
    this._countdownTimer = setInterval(tick, 1000);
  }

  _clearRetry() {
    clearTimeout(this._retryTimer);
    clearInterval(this._countdownTimer);
    this._retryTimer = this._countdownTimer = 0;
  }

  _failPending(code, message) {
    for (const id of [...this._pending.keys()]) this._settle(id, new SendFailure(id, code, message));
  }

  // _settle ends a pending send: failure undefined for an ack, a SendFailure otherwise.
  _settle(id, failure) {
    const entry = this._pending.get(id);
    if (!entry) return;
    this._pending.delete(id);
    clearTimeout(entry.timer);
    if (failure) {
      this._emit("send", { id, state: "failed", code: failure.code, message: failure.message, retryAfter: failure.retryAfter });
      entry.reject(failure);
    } else {
      this._emit("send", { id, state: "acked" });
      entry.resolve(id);
    }
  }

  _advance(pos, force) {
    if (!pos || typeof pos.stream !== "string" || typeof pos.offset !== "number") return;
    const epoch = String(pos.epoch ?? "");
    const cur = this._positions.get(pos.stream);
    if (!force && cur && cur.epoch === epoch && cur.offset >= pos.offset) return;
    this._positions.set(pos.stream, { offset: pos.offset, epoch });
    this._emit("position", { stream: pos.stream, offset: pos.offset, epoch });
  }

  _frame(data) {
    if (typeof data !== "string") { this._emit("message", { data, frame: data }); return; }
    let v;
    try { v = JSON.parse(data); } catch { this._emit("message", { data, frame: data }); return; }
    if (v === null || typeof v !== "object" || Array.isArray(v)) { this._emit("message", { data: v, frame: data }); return; }
    if (!Object.hasOwn(v, "gochannels")) {
      if (v.pos) this._advance(v.pos, false);
      this._emit("message", { data: v, frame: data });
      return;
    }
    switch (v.gochannels) {
      case "ack":
        this._settle(String(v.id), undefined);
        break;
      case "nack":
        this._settle(String(v.id), new SendFailure(String(v.id), String(v.code || "rejected"), String(v.message || ""), typeof v.retry_after === "number" ? v.retry_after : undefined));
        break;
      case "recovered":
        if (v.pos) this._advance({ ...v.pos, stream: v.stream }, false);
        this._emit("recovered", { stream: v.stream, replayed: v.replayed, pos: v.pos });
        break;
      case "unrecoverable":
        if (v.pos) this._advance({ ...v.pos, stream: v.stream }, true); // adopt the current top
        else this._positions.delete(v.stream);
        this._emit("unrecoverable", { stream: v.stream, reason: v.reason, pos: v.pos });
        break;
      default:
        this._emit("framework", { frame: v }); // a framework frame this client does not know
    }
  }
}
