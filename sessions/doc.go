// Package sessions keeps per-client data across requests and connections, for net/http
// handlers and gochannels scopes alike, behind one cookie: a real site serves its login form
// with net/http and its sockets with gochannels, and both see the same Session.
//
// A Store keeps sessions; four come with the package. NewCookieStore keeps the whole session
// in the cookie, signed with HMAC-SHA256 (key rotation: it signs with the first key and
// accepts any), with its expiry inside the signed payload. NewMemoryStore keeps sessions in
// the process, and the cookie holds only a random ID. NewRedisStore and NewSQLStore
// (PostgreSQL or SQLite through database/sql; the package imports no driver) keep them
// server-side, shared by every server of a fleet: the cookie holds only the ID, saving a
// rotated session deletes its previous ID, and a logout (Flush, or Manager.Destroy) deletes
// it everywhere at once.
//
// A Manager ties a Store to cookie options. On the net/http side, Manager.Handler loads the
// session lazily and saves it when the handler changed it, before the response head is
// written; Get, Save and Destroy work with or without it. On the scope side, Middleware puts
// the Session in the scope (FromScope) and saves it when the application changed it, adding
// the Set-Cookie header to the HTTP response or to the WebSocket handshake response
// ("websocket.accept"). SaveScope saves from a consumer after that point; only a server-side
// store can do that without changing the cookie, because a cookie cannot be changed over an
// open WebSocket.
//
// Middleware observes the end of its scope with channels.Observe, so that consumers behind
// it keep the server's optional interfaces (they may detach with
// consumer.WithoutIdleGoroutine) and a change made while detached is saved when the
// connection really ends.
//
// Session IDs are rotated with RotateID (call it on login to prevent session fixation; the
// auth package's Login does) and sessions are emptied and given a new ID with Flush (logout).
package sessions
