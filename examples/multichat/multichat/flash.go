package multichat

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gochannels/gochannels/sessions"
)

// flashKey is the session key of the pending flash message.
const flashKey = "multichat.flash"

// flash is a one-shot message from a failed form post to the page the browser is redirected
// to (post/redirect/get). It lives in the session (a signed cookie by default) until the next
// page view takes it: reloading that page no longer shows it.
type flash struct {
	Form  string `json:"form"`           // formLogin, formSignup or formRooms
	Error string `json:"error"`          // the sentence shown next to the form
	Name  string `json:"name,omitempty"` // the username typed, to keep in the form
}

// setFlash stores f in the request's session; the session middleware saves it with the
// redirect.
func setFlash(r *http.Request, f flash) error {
	s := sessions.FromRequest(r)
	if s == nil {
		return errors.New("multichat: flash: no session (the session middleware is missing)")
	}
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	s.Set(flashKey, string(b))
	return nil
}

// takeFlash returns the pending flash message and removes it from the session.
func takeFlash(r *http.Request) (flash, bool) {
	s := sessions.FromRequest(r)
	if s == nil {
		return flash{}, false
	}
	v, ok := s.Get(flashKey)
	if !ok {
		return flash{}, false
	}
	s.Delete(flashKey)
	var f flash
	if err := json.Unmarshal([]byte(v), &f); err != nil {
		return flash{}, false
	}
	return f, true
}
