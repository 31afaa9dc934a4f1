package middleware

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults for CSRFOptions, the names Django uses.
const (
	DefaultCSRFCookieName = "csrftoken"
	DefaultCSRFHeaderName = "X-CSRFToken"
	DefaultCSRFFieldName  = "csrfmiddlewaretoken"
	DefaultCSRFMaxAge     = 365 * 24 * time.Hour
)

const (
	csrfSecretLen = 32
	csrfSecretB64 = 43 // base64url, unpadded, of 32 bytes
	csrfMaskedB64 = 86 // base64url, unpadded, of 64 bytes
)

// CSRFOptions configures CSRF. The zero value gives Django's defaults.
type CSRFOptions struct {
	// CookieName is the name of the cookie holding the secret (DefaultCSRFCookieName).
	CookieName string
	// HeaderName is the request header a script sends the token in (DefaultCSRFHeaderName).
	HeaderName string
	// FieldName is the form field a form sends the token in (DefaultCSRFFieldName).
	FieldName string
	// Path and Domain scope the cookie; Path defaults to "/".
	Path, Domain string
	// MaxAge is the cookie lifetime (DefaultCSRFMaxAge).
	MaxAge time.Duration
	// Secure marks the cookie Secure (send it over HTTPS only).
	Secure bool
	// SameSite is the cookie's SameSite mode (Lax when zero).
	SameSite http.SameSite
	// TrustedOrigins are origin patterns (as in OriginValidator) allowed to send unsafe
	// requests besides the request's own host.
	TrustedOrigins []string
	// Exempt, when set, skips the check for the requests it returns true for.
	Exempt func(r *http.Request) bool
	// Failure answers a refused request; CSRFFailureReason(r) tells why. The default
	// answers 403 with the reason as plain text. A *channels.Denial is an http.Handler, for
	// a fixed status, headers and body of your own (the same value DenyWith uses for scopes).
	Failure http.Handler
}

type csrfKey struct{}

type csrfState struct {
	secret []byte
	reason string
}

// CSRF returns net/http middleware that protects forms and scripts against cross-site
// request forgery with a double-submit cookie, in the style of Django's CsrfViewMiddleware.
//
// Every response to a client without a valid CSRF cookie sets one holding a random secret
// (readable by scripts, like Django's csrftoken). Pages put CSRFToken(r) into their forms (a
// field named FieldName) or scripts send it in the HeaderName header; the value is masked
// afresh on every call, so it never repeats in a compressed response (BREACH). POST, PUT,
// PATCH and DELETE (every method but GET, HEAD, OPTIONS and TRACE) must carry a token whose
// secret equals the cookie's, compared in constant time, and, when they carry an Origin header,
// come from the request's own host or a TrustedOrigins pattern. Anything else is refused with
// 403 and a one-line reason, and logged at info level.
func CSRF(next http.Handler, opts CSRFOptions) http.Handler {
	if opts.CookieName == "" {
		opts.CookieName = DefaultCSRFCookieName
	}
	if opts.HeaderName == "" {
		opts.HeaderName = DefaultCSRFHeaderName
	}
	if opts.FieldName == "" {
		opts.FieldName = DefaultCSRFFieldName
	}
	if opts.Path == "" {
		opts.Path = "/"
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultCSRFMaxAge
	}
	if opts.SameSite == 0 {
		opts.SameSite = http.SameSiteLaxMode
	}
	if opts.Failure == nil {
		opts.Failure = http.HandlerFunc(csrfFailure)
	}
	trusted := newOriginMatcher(opts.TrustedOrigins)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &csrfState{}
		if c, err := r.Cookie(opts.CookieName); err == nil {
			st.secret = decodeCSRFSecret(c.Value)
		}
		hadCookie := st.secret != nil
		if !hadCookie {
			st.secret = make([]byte, csrfSecretLen)
			_, _ = rand.Read(st.secret)
			http.SetCookie(w, &http.Cookie{
				Name:     opts.CookieName,
				Value:    base64.RawURLEncoding.EncodeToString(st.secret),
				Path:     opts.Path,
				Domain:   opts.Domain,
				MaxAge:   int(opts.MaxAge / time.Second),
				Secure:   opts.Secure,
				SameSite: opts.SameSite,
			})
		}
		w.Header().Add("Vary", "Cookie")
		r = r.WithContext(context.WithValue(r.Context(), csrfKey{}, st))
		if safeMethod(r.Method) || (opts.Exempt != nil && opts.Exempt(r)) {
			next.ServeHTTP(w, r)
			return
		}
		st.reason = csrfCheck(r, &opts, trusted, hadCookie, st.secret)
		if st.reason != "" {
			slog.InfoContext(r.Context(), "csrf check failed", "reason", st.reason, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			opts.Failure.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func csrfCheck(r *http.Request, opts *CSRFOptions, trusted *originMatcher, hadCookie bool, secret []byte) string {
	if origins := r.Header.Values("Origin"); len(origins) > 0 {
		if len(origins) > 1 {
			return "more than one Origin header"
		}
		if !sameOrigin(origins[0], r.Host) && !trusted.allows(origins[0]) {
			return fmt.Sprintf("origin %q does not match any trusted origins", origins[0])
		}
	}
	if !hadCookie {
		return "CSRF cookie not set"
	}
	token := r.Header.Get(opts.HeaderName)
	if token == "" {
		token = r.PostFormValue(opts.FieldName)
	}
	if token == "" {
		return "CSRF token missing"
	}
	got := unmaskCSRFToken(token)
	if got == nil || subtle.ConstantTimeCompare(got, secret) != 1 {
		return "CSRF token incorrect"
	}
	return ""
}

// CSRFToken returns a token for the request, to put in a form's hidden field (named
// CSRFOptions.FieldName) or a script's header. Each call returns a different masking of the
// same secret; all of them are accepted. It returns "" when the CSRF middleware is not in
// front of the handler.
func CSRFToken(r *http.Request) string {
	st, _ := r.Context().Value(csrfKey{}).(*csrfState)
	if st == nil {
		return ""
	}
	buf := make([]byte, 2*csrfSecretLen)
	_, _ = rand.Read(buf[:csrfSecretLen])
	for i := 0; i < csrfSecretLen; i++ {
		buf[csrfSecretLen+i] = st.secret[i] ^ buf[i]
	}
	return base64.RawURLEncoding.EncodeToString(buf)
}

// CSRFFailureReason returns why the CSRF middleware refused r, for a custom
// CSRFOptions.Failure handler; "" when it did not.
func CSRFFailureReason(r *http.Request) string {
	st, _ := r.Context().Value(csrfKey{}).(*csrfState)
	if st == nil {
		return ""
	}
	return st.reason
}

func csrfFailure(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "Forbidden (CSRF check failed: "+CSRFFailureReason(r)+")", http.StatusForbidden)
}

func safeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

func decodeCSRFSecret(v string) []byte {
	if len(v) != csrfSecretB64 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(b) != csrfSecretLen {
		return nil
	}
	return b
}

// unmaskCSRFToken accepts a masked token (from CSRFToken) or the bare secret (as a script
// reads it from the cookie) and returns the secret, or nil when the token is malformed.
func unmaskCSRFToken(t string) []byte {
	switch len(t) {
	case csrfSecretB64:
		return decodeCSRFSecret(t)
	case csrfMaskedB64:
		b, err := base64.RawURLEncoding.DecodeString(t)
		if err != nil || len(b) != 2*csrfSecretLen {
			return nil
		}
		s := make([]byte, csrfSecretLen)
		for i := range s {
			s[i] = b[i] ^ b[csrfSecretLen+i]
		}
		return s
	}
	return nil
}

// sameOrigin reports whether origin names the host the request was sent to (host and port,
// with the origin scheme's default port left out, compared case-insensitively).
func sameOrigin(origin, reqHost string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return false
	}
	return strings.EqualFold(stripDefaultPort(u.Host, u.Scheme), stripDefaultPort(reqHost, u.Scheme))
}

func stripDefaultPort(host, scheme string) string {
	if p := defaultPort(strings.ToLower(scheme)); p != "" {
		return strings.TrimSuffix(host, ":"+p)
	}
	return host
}
