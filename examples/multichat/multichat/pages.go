package multichat

import (
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"strings"

	"github.com/gochannels/gochannels/auth"
	"github.com/gochannels/gochannels/channels"
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

// pageData is what index.html renders.
type pageData struct {
	User  *User
	CSRF  string
	Error string
	Form  string // "login" or "signup": the form the error belongs to
	Name  string // the username typed, to keep in the form
}

// pages returns the net/http side: the page, the account and room forms, the room list and the
// static files. auth.Handler and middleware.CSRF are wrapped around it by buildApplication.
func (a *App) pages() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFiles, "static")
	fileServer := http.StripPrefix("/static/", http.FileServerFS(static))
	mux.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".html") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		a.render(w, r, http.StatusOK, pageData{})
	})
	mux.HandleFunc("POST /signup", a.signup)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("POST /rooms", a.createRoom)
	mux.HandleFunc("GET /rooms.json", a.roomsJSON)
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

func (a *App) signup(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	name := strings.TrimSpace(r.PostFormValue("username"))
	pw := r.PostFormValue("password")
	if pw != r.PostFormValue("password2") {
		a.render(w, r, http.StatusBadRequest, pageData{Form: "signup", Name: name, Error: "The two passwords differ."})
		return
	}
	staff := a.cfg.Staff != "" && strings.EqualFold(name, a.cfg.Staff)
	u, err := a.store.CreateUser(r.Context(), name, pw, staff)
	if err != nil {
		msg := "Could not create the account."
		var text string
		if errors.Is(err, ErrUsernameTaken) {
			text = "That username is taken."
		} else if s := err.Error(); strings.HasPrefix(s, "multichat: create user: ") {
			text = strings.TrimPrefix(s, "multichat: create user: ")
		} else {
			a.logger.Error("multichat: sign-up failed", "error", err)
		}
		if text != "" {
			msg = strings.ToUpper(text[:1]) + text[1:] + "."
		}
		a.render(w, r, http.StatusBadRequest, pageData{Form: "signup", Name: name, Error: msg})
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
		a.render(w, r, http.StatusUnauthorized, pageData{Form: "login", Name: name, Error: "Wrong username or password."})
		return
	}
	a.loginAndRedirect(w, r, u)
}

func (a *App) loginAndRedirect(w http.ResponseWriter, r *http.Request, u *User) {
	if err := auth.Login(r.Context(), sessions.FromRequest(r), u); err != nil {
		a.logger.Error("multichat: log-in failed", "error", err)
		http.Error(w, "could not log in", http.StatusInternalServerError)
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

func (a *App) createRoom(w http.ResponseWriter, r *http.Request) {
	u := userFromRequest(r)
	if u == nil || !u.Staff {
		http.Error(w, "403 Forbidden: only staff create rooms", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if _, err := a.store.CreateRoom(r.Context(), r.PostFormValue("title"), r.PostFormValue("staff_only") != ""); err != nil {
		a.render(w, r, http.StatusBadRequest, pageData{Error: strings.TrimPrefix(err.Error(), "multichat: ")})
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
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
