package multichat

import (
	"html/template"
	"net/http"

	"github.com/gochannels/gochannels/middleware"
)

var errorTemplate = template.Must(template.ParseFS(staticFiles, "static/error.html"))

// errorData is what error.html renders.
type errorData struct {
	Status  int
	Title   string
	Message string
}

// errorPage answers with the site's own error page (same stylesheet and card as the log-in
// page) instead of net/http's plain text.
func (a *App) errorPage(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if err := errorTemplate.Execute(w, errorData{Status: status, Title: title, Message: message}); err != nil {
		a.logger.Error("multichat: render error page", "status", status, "error", err)
	}
}

// notFound is the site's 404 page.
func (a *App) notFound(w http.ResponseWriter, r *http.Request) {
	a.errorPage(w, r, http.StatusNotFound, "Page not found", "There is nothing at this address.")
}

// csrfFailure is the site's 403 page for a form middleware.CSRF refused (most often a page
// left open across a restart or a log-out in another tab).
func (a *App) csrfFailure() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.logger.Info("multichat: form refused by the CSRF check", "path", r.URL.Path, "reason", middleware.CSRFFailureReason(r))
		a.errorPage(w, r, http.StatusForbidden, "Form expired", "This form was refused for your safety. Go back, reload the page and try again.")
	})
}
