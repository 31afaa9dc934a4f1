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
// clients with 403.
package auth
