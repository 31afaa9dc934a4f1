package multichat

import (
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gochannels/gochannels/auth"
	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/jsclient"
	"github.com/gochannels/gochannels/middleware"
	"github.com/gochannels/gochannels/sessions"
)

//go:embed static
var staticFiles embed.FS

var pageTemplate = template.Must(template.ParseFS(staticFiles, "static/index.html"))

// maxFormBytes bounds a form post.
const maxFormBytes = 16 << 10

func userFrom(scope *channels.Scope) (*User, bool) {
	u, ok := auth.UserFrom(scope).(*User)
	return u, ok && u != nil
}

func userFromRequest(r *http.Request) *User {
	u, _ := auth.UserFromRequest(r).(*User)
	return u
}

// pageData is what index.html renders. Error, Form and Name come from the flash message a
// failed form left (post/redirect/get): the banner belongs next to the form Form names.
type pageData struct {
	User  *User
	CSRF  string
	Error string
	Form  string // "login", "signup" or "rooms": the form the error belongs to
	Name  string // the username typed, to keep in the form
}

// Form names carried by a flash message (pageData.Form).
const (
	formLogin  = "login"
	formSignup = "signup"
	formRooms  = "rooms"
)

// pages returns the net/http side: the page, the account and room forms, the room list, the
// favicon and the static files. auth.Handler and middleware.CSRF are wrapped around it by
// buildApplication.
//
// The forms follow post/redirect/get: a POST always ends in a 303 redirect, and what went
// wrong travels in a one-shot flash message in the session (see flash.go), so reloading the
// page never re-posts a form or lands on a POST-only URL. A GET on a form's URL (typed or
// reloaded) redirects to the page; unknown URLs and refused actions get the site's own 404 and
// 403 pages.
func (a *App) pages() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFiles, "static")
	fileServer := http.StripPrefix("/static/", http.FileServerFS(static))
	mux.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".html") {
			a.notFound(w, r)
			return
		}
		if _, err := fs.Stat(static, strings.TrimPrefix(r.URL.Path, "/static/")); err != nil {
			a.notFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		d := pageData{}
		if r.Method != http.MethodGet {
			// A HEAD (link checkers, prefetch) leaves the flash for the page view.
			a.render(w, r, http.StatusOK, d)
			return
		}
		if f, ok := takeFlash(r); ok {
			d.Error, d.Form, d.Name = f.Error, f.Form, f.Name
		}
		a.render(w, r, http.StatusOK, d)
	})
	mux.HandleFunc("GET /favicon.ico", serveFavicon)
	// The framework's browser client, which static/app.js imports.
	mux.Handle("GET "+jsclient.Path, jsclient.Handler())
	mux.HandleFunc("POST /signup", a.signup)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("POST /rooms", a.createRoom)
	for _, p := range []string{"/signup", "/login", "/logout", "/rooms"} {
		// Reloading after a post, or typing the URL: back to the page, not a bare 405.
		mux.Handle("GET "+p, http.RedirectHandler("/", http.StatusSeeOther))
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", "GET, HEAD, POST")
			a.errorPage(w, r, http.StatusMethodNotAllowed, "Not possible here", "This address only takes the site's own forms.")
		})
	}
	mux.HandleFunc("GET /rooms.json", a.roomsJSON)
	mux.HandleFunc("/", a.notFound)
	return securityHeaders(mux)
}

// securityHeaders adds headers every response gets: no framing, no sniffing, and a content
// security policy that allows only this site's own scripts and styles.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

func (a *App) render(w http.ResponseWriter, r *http.Request, status int, d pageData) {
	d.User = userFromRequest(r)
	d.CSRF = middleware.CSRFToken(r)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := pageTemplate.Execute(w, d); err != nil {
		a.logger.Error("multichat: render page", "error", err)
	}
}

// failForm ends a failed form post: the message goes into a flash and the browser back to the
// page (303), which shows it once, next to the form.
func (a *App) failForm(w http.ResponseWriter, r *http.Request, f flash) {
	if err := setFlash(r, f); err != nil {
		a.logger.Error("multichat: keep the form's message", "form", f.Form, "error", err)
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *App) signup(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	name := strings.TrimSpace(r.PostFormValue("username"))
	pw := r.PostFormValue("password")
	if pw != r.PostFormValue("password2") {
		a.failForm(w, r, flash{Form: formSignup, Name: name, Error: "The two passwords differ."})
		return
	}
	staff := a.cfg.Staff != "" && strings.EqualFold(name, a.cfg.Staff)
	u, err := a.store.CreateUser(r.Context(), name, pw, staff)
	if err != nil {
		msg := "Could not create the account. Please try again."
		var in *InputError
		switch {
		case errors.Is(err, ErrUsernameTaken):
			msg = "That username is taken."
		case errors.As(err, &in):
			msg = sentence(in.Reason)
		default:
			a.logger.Error("multichat: sign-up failed", "error", err)
		}
		a.failForm(w, r, flash{Form: formSignup, Name: name, Error: msg})
		return
	}
	a.loginAndRedirect(w, r, u)
}

func (a *App) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	name := strings.TrimSpace(r.PostFormValue("username"))
	u, err := a.store.Authenticate(r.Context(), name, r.PostFormValue("password"))
	if err != nil {
		if !errors.Is(err, ErrBadCredentials) {
			a.logger.Error("multichat: log-in failed", "error", err)
		}
		a.failForm(w, r, flash{Form: formLogin, Name: name, Error: "Wrong username or password."})
		return
	}
	a.loginAndRedirect(w, r, u)
}

func (a *App) loginAndRedirect(w http.ResponseWriter, r *http.Request, u *User) {
	if err := auth.Login(r.Context(), sessions.FromRequest(r), u); err != nil {
		a.logger.Error("multichat: log-in failed", "error", err)
		a.errorPage(w, r, http.StatusInternalServerError, "Something went wrong", "Could not log you in. Please try again.")
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	if err := auth.Logout(r.Context(), sessions.FromRequest(r)); err != nil {
		a.logger.Error("multichat: log-out failed", "error", err)
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// createRoom adds a room (staff only), tells every connected user about it through the
// channel layer (RoomsGroup, on every process) and sends the creator into it: /?room=<id>.
func (a *App) createRoom(w http.ResponseWriter, r *http.Request) {
	u := userFromRequest(r)
	if u == nil || !u.Staff {
		a.errorPage(w, r, http.StatusForbidden, "Not allowed", "Only staff can create rooms.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	room, err := a.store.CreateRoom(r.Context(), r.PostFormValue("title"), r.PostFormValue("staff_only") != "")
	if err != nil {
		msg := "Could not create the room. Please try again."
		var in *InputError
		switch {
		case errors.Is(err, ErrRoomTitleTaken):
			msg = "A room with that title exists already (titles are compared ignoring case)."
		case errors.As(err, &in):
			msg = sentence(in.Reason)
		default:
			a.logger.Error("multichat: create room", "user", u.Name, "error", err)
		}
		a.failForm(w, r, flash{Form: formRooms, Error: msg})
		return
	}
	a.announceRoom(r.Context(), room)
	http.Redirect(w, r, "/?room="+room.StringID(), http.StatusSeeOther)
}

// sentence makes a store's reason ("a title has 1 to 60 characters") a sentence.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	s = string(unicode.ToUpper(r)) + s[n:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// roomJSON is one entry of /rooms.json.
type roomJSON struct {
	ID        string `json:"id"`
	Title     string `json:"title"`
	StaffOnly bool   `json:"staff_only"`
}

func (a *App) roomsJSON(w http.ResponseWriter, r *http.Request) {
	u := userFromRequest(r)
	if u == nil {
		http.Error(w, `{"error":"USER_HAS_TO_LOGIN"}`, http.StatusForbidden)
		return
	}
	rooms, err := a.store.Rooms(r.Context())
	if err != nil {
		a.logger.Error("multichat: list rooms", "error", err)
		http.Error(w, "could not list rooms", http.StatusInternalServerError)
		return
	}
	out := make([]roomJSON, 0, len(rooms))
	for _, rm := range rooms {
		if rm.StaffOnly && !u.Staff {
			continue
		}
		out = append(out, roomJSON{ID: rm.StringID(), Title: rm.Title, StaffOnly: rm.StaffOnly})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"rooms": out, "username": u.Name, "staff": u.Staff})
}
