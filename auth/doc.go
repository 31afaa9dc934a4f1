// Package auth identifies the user behind a scope or a net/http request from the session, like
// Django Channels' AuthMiddleware, and logs users in and out.
//
// The application supplies its users through a UserLoader (a database lookup by ID); the
// session holds only the user's ID (under SessionKey) and, for users that implement
// SessionHasher, a hash that invalidates the session when it changes (a new password).
// Middleware (for scopes, with sessions.Middleware outside it; Stack builds the whole
// Cookies → Sessions → Auth chain) and Handler (for net/http) make the user available through
// UserFrom and UserFromRequest; an anonymous client gets Anonymous. Login and Logout work on a
// *sessions.Session from either side; RequireUser and RequireUserHandler refuse anonymous
// clients with 403 (RequireUserWith with a response of your own, see channels.Denial).
//
// # Reaching a user or a session anywhere
//
// UserGroups, opt-in, puts every authenticated WebSocket in its user's group ("user.<id>",
// UserGroup) and its session's group ("session.<hash>", SessionGroup; the session ID, a
// secret, never appears) on the channel layer. Any process sharing the layer (another
// server, a worker, a Django process through channels_redis) then reaches all of a user's
// sockets with one group send (UserGroups.SendUser), and closes them with one message of the
// reserved type "gochannels.close" (channels.TypeClose), which the server carries out for
// every application:
//
//	{"type": "gochannels.close", "code": 4003, "reason": "password changed"}
//
// (UserGroups.CloseUser, CloseSession). Logout closes the session's sockets on every server
// with CloseLoggedOut (4001) once the UserGroups is known to it (UserGroups.Handler on the
// net/http side, UserGroups.Middleware for LogoutScope). On a password change or a ban call
// CloseUser with CloseRevoked (4003).
//
//	app := auth.Stack(groups.Middleware(auth.RequireUser(chat)), m, users) // sockets
//	site := groups.Handler(auth.Handler(mux, m, users))                     // login, logout
package auth
