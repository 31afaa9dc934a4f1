// Package multichat is the multichat example as an importable package: a multi-room chat with
// accounts, history, staff-only rooms and several tabs and processes per user, speaking the
// Django Channels multichat protocol on one WebSocket at /chat/stream/.
//
// New builds an App from a Config (a channel layer, a database). App.Application is the
// whole site for a channels.Server (App.Serve and App.Handler run one); App.Shutdown stops
// it. Accounts, rooms, the users' open rooms, message history and the session signing key live
// in SQLite (modernc.org/sqlite, WAL mode, busy timeout), which processes on one host share, or
// in PostgreSQL (a postgres:// Config.DBPath, pgx), which processes on several hosts share;
// with PostgreSQL the sessions are rows of that database too (Config.Sessions), so a web
// process keeps nothing on its own disk.
// BackgroundApp is the background consumer that stores history from the normal channel
// HistoryChannel; the worker package hosts it in-process (Config.Worker), and
// `go run ./cmd/runworker multichat-history` hosts it in a process of its own.
//
// # Protocol
//
// The client sends JSON text frames:
//
//	{"command": "join",  "room": "<id>"}
//	{"command": "leave", "room": "<id>"}
//	{"command": "send",  "room": "<id>", "message": "<text>"}
//
// and receives:
//
//	{"join": "<id>", "title": "<title>"}                              joined
//	{"leave": "<id>"}                                                 left
//	{"msg_type": 0, "room": "<id>", "username": "u", "message": "…"}  a message
//	{"msg_type": 4, "room": "<id>", "username": "u"}                  u entered the room
//	{"msg_type": 5, "room": "<id>", "username": "u"}                  u left the room
//	{"error": "ROOM_INVALID" | "ROOM_ACCESS_DENIED" | "USER_HAS_TO_LOGIN"}
//
// Room ids are strings (a JSON number is accepted too). Each room's sockets are in the group
// "room-<id>". Anonymous sockets are refused before accept (HTTP 403), and so are handshakes
// whose Origin is not an allowed host. Sending to a room not joined on this socket is
// ROOM_ACCESS_DENIED; joining a staff-only room without being staff is ROOM_ACCESS_DENIED.
//
// # Extensions
//
// Every extension is an extra key or an extra value, which a client of the original protocol
// ignores:
//
//   - join replies carry "staff_only" (bool) and "history": the room's last HistoryLen
//     messages, oldest first, each shaped like a msg_type 0 event;
//   - msg_type 0 events carry "id" (a unique message id, to drop duplicates) and "ts" (Unix
//     milliseconds);
//   - error events may carry "room" and "message" (a sentence for developers: pages show their
//     own sentence for the code), and there are more
//     codes: MESSAGE_TOO_LONG (over MaxMessageRunes characters), MESSAGE_EMPTY, RATE_LIMITED
//     (each socket may send RatePerSecond commands a second, bursts of RateBurst) and
//     BAD_COMMAND (not a command object, or an unknown command); a frame that is not JSON
//     closes the socket with 1007;
//   - a send may carry "client_id" (1 to MaxClientIDLen characters from A-Z a-z 0-9 . _ : -;
//     anything else is BAD_COMMAND): the message event comes back to the socket that sent it
//     with that "client_id" (the acknowledgement; other sockets get the event without it),
//     an error answering the command carries it too, and the message id is derived from the
//     user and the client_id, so a retry of a message whose acknowledgement was lost keeps
//     its id (pages and the history keep it once); a message replayed after a reconnect
//     (recovery.go) carries its client_id to the sockets of the user who sent it, so that
//     the page matches it with the message it marked not sent when the socket closed;
//   - RATE_LIMITED errors carry "retry_after" (seconds, fractional) until a command is
//     accepted again;
//   - {"command": "ping"} is answered with {"pong": true} after a round trip through the
//     channel layer (UNAVAILABLE if the layer is down): a page learns the real state of the
//     server, not only of its socket;
//   - a user's rooms are kept: a join in one tab joins the room in all the user's tabs, on any
//     process (through the framework's user group "user.<id>", auth.UserGroups), and a new
//     socket receives join replies for the user's rooms without asking. Joining a room
//     already joined is harmless (the reply comes again), so a client may re-join after
//     reconnecting;
//   - logging out closes every socket of that session, in every tab and on every process,
//     with close code 4001 (auth.CloseLoggedOut);
//   - entered/left notices (msg_type 4/5) go out when a user adds a room to their rooms or
//     removes it, not for every tab or reconnect;
//   - a room staff creates reaches every connected socket, on every process, as
//     {"room_created": {"id": <number>, "title": "…", "staff_only": false}} (staff-only rooms to
//     staff only): every socket is in the group RoomsGroup ("rooms");
//   - who's online (presence.go): join replies carry "members" (one per user: "user_id",
//     "name", "sids", the digests of their sockets in the room) and "member_count", from every
//     process on the layer; {"command": "who", "room": "<id>"} is answered with {"who": "<id>",
//     "members": [...], "member_count": n}; and {"presence": "join"|"leave", "room", "user_id",
//     "name", "sid"} events follow each socket entering or leaving a room (a user is online
//     while any of their sockets is);
//   - catch-up after a reconnect (recovery.go), when the layer keeps the rooms' history
//     (RoomHistoryRule, WithRoomHistory): room events and join replies carry "pos"; a page
//     reconnects with the framework's ?resume={"room-<id>": {"offset", "epoch"}, ...}
//     (consumer.ResumeParam) and gets, per room, the missed messages in order, then
//     {"gochannels": "recovered"|"unrecoverable", ...} and the join reply ("resumed": true,
//     or the archive's history when unrecoverable); a join command may carry "since":
//     {"offset", "epoch"} to the same effect.
//
// # Page
//
// The page (static/app.js, an ES module without a build step) talks to the socket through
// the framework's browser client gochannels.js, served at jsclient.Path: reconnecting with
// backoff and jitter, the rooms' positions and ?resume=, and the "recovered" /
// "unrecoverable" frames are the module's; the page shows the connection state, says in a
// room when its missed messages could not be restored (after a reconnect, or when the
// layer's history started again under an open socket: a new epoch) and reloads the room from
// the archive. Sends are acknowledged by the client_id echo above.
//
// # Pages
//
// The forms (log in, sign up, create room) follow post/redirect/get: a post always ends in a
// 303, and a refusal travels to the page as a one-shot flash message in the session, with the
// form it belongs to, so reloading never re-posts nor shows "Method Not Allowed"; a GET on a
// form's URL redirects to the page. Creating a room redirects its creator to /?room=<id>.
// Unknown URLs, refused actions and forms failing the CSRF check get HTML 404 and 403 pages
// in the site's style, and /favicon.ico is served (an ICO drawn in code).
package multichat
