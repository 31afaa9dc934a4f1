package middleware

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func csrfServer(opts CSRFOptions) http.Handler {
	return CSRF(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(CSRFToken(r)))
	}), opts)
}

// getToken does a GET and returns the CSRF cookie and a form token.
func getToken(t *testing.T, h http.Handler) (*http.Cookie, string) {
	t.Helper()
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest("GET", "http://example.com/form", nil))
	if rr.Code != 200 {
		t.Fatalf("GET: %d", rr.Code)
	}
	cs := rr.Result().Cookies()
	if len(cs) != 1 || cs[0].Name != DefaultCSRFCookieName {
		t.Fatalf("GET set cookies %v", cs)
	}
	return cs[0], rr.Body.String()
}

func post(h http.Handler, cookie *http.Cookie, form url.Values, header map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", "http://example.com/form", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != nil {
		r.AddCookie(cookie)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, r)
	return rr
}

func TestCSRF(t *testing.T) {
	h := csrfServer(CSRFOptions{TrustedOrigins: []string{"https://trusted.org"}})
	cookie, token := getToken(t, h)
	if cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/" {
		t.Fatalf("cookie attributes %+v", cookie)
	}
	field := func(v string) url.Values { return url.Values{DefaultCSRFFieldName: {v}} }
	flip := []byte(token)
	flip[len(flip)/2] ^= 1
	tests := []struct {
		name   string
		cookie *http.Cookie
		form   url.Values
		header map[string]string
		want   int
		reason string
	}{
		{"form token", cookie, field(token), nil, 200, ""},
		{"header token", cookie, nil, map[string]string{DefaultCSRFHeaderName: token}, 200, ""},
		{"bare secret from cookie", cookie, nil, map[string]string{DefaultCSRFHeaderName: cookie.Value}, 200, ""},
		{"same origin", cookie, field(token), map[string]string{"Origin": "http://example.com"}, 200, ""},
		{"same origin default port", cookie, field(token), map[string]string{"Origin": "http://example.com:80"}, 200, ""},
		{"trusted origin", cookie, field(token), map[string]string{"Origin": "https://trusted.org"}, 200, ""},
		{"no cookie", nil, field(token), nil, 403, "CSRF cookie not set"},
		{"bad cookie", &http.Cookie{Name: DefaultCSRFCookieName, Value: "short"}, field(token), nil, 403, "CSRF cookie not set"},
		{"no token", cookie, nil, nil, 403, "CSRF token missing"},
		{"wrong token", cookie, field(string(flip)), nil, 403, "CSRF token incorrect"},
		{"garbage token", cookie, field("!!!"), nil, 403, "CSRF token incorrect"},
		{"other cookie's token", &http.Cookie{Name: DefaultCSRFCookieName, Value: strings.Repeat("A", 43)}, field(token), nil, 403, "CSRF token incorrect"},
		{"cross origin", cookie, field(token), map[string]string{"Origin": "https://evil.org"}, 403, "does not match"},
		{"null origin", cookie, field(token), map[string]string{"Origin": "null"}, 403, "does not match"},
		{"other port", cookie, field(token), map[string]string{"Origin": "http://example.com:8080"}, 403, "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rr := post(h, tt.cookie, tt.form, tt.header)
			if rr.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rr.Code, tt.want, rr.Body)
			}
			if tt.reason != "" && !strings.Contains(rr.Body.String(), tt.reason) {
				t.Fatalf("body %q does not say %q", rr.Body, tt.reason)
			}
		})
	}
}

func TestCSRFMethods(t *testing.T) {
	h := csrfServer(CSRFOptions{})
	for _, m := range []string{"GET", "HEAD", "OPTIONS", "TRACE"} {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest(m, "http://example.com/", nil))
		if rr.Code != 200 {
			t.Errorf("%s without token: %d", m, rr.Code)
		}
	}
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest(m, "http://example.com/", nil))
		if rr.Code != 403 {
			t.Errorf("%s without token: %d, want 403", m, rr.Code)
		}
	}
}

func TestCSRFTokenMasking(t *testing.T) {
	var a, b string
	h := CSRF(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, b = CSRFToken(r), CSRFToken(r)
	}), CSRFOptions{})
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if a == b || len(a) != csrfMaskedB64 {
		t.Fatalf("tokens %q %q: want two different masked tokens", a, b)
	}
	if string(unmaskCSRFToken(a)) != string(unmaskCSRFToken(b)) {
		t.Fatal("tokens mask different secrets")
	}
	if CSRFToken(httptest.NewRequest("GET", "/", nil)) != "" {
		t.Fatal("CSRFToken without the middleware is not empty")
	}
}

func TestCSRFKeepsValidCookieAndExempt(t *testing.T) {
	h := csrfServer(CSRFOptions{Exempt: func(r *http.Request) bool { return r.URL.Path == "/hook" }})
	cookie, _ := getToken(t, h)
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(cookie)
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, r)
	if len(rr.Result().Cookies()) != 0 {
		t.Fatal("a valid cookie was replaced")
	}
	rr = httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest("POST", "/hook", nil))
	if rr.Code != 200 {
		t.Fatalf("exempt POST: %d", rr.Code)
	}
}

func TestCSRFCustomFailure(t *testing.T) {
	var reason string
	h := CSRF(http.NotFoundHandler(), CSRFOptions{Failure: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reason = CSRFFailureReason(r)
		w.WriteHeader(http.StatusTeapot)
	})})
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest("POST", "/", nil))
	if rr.Code != http.StatusTeapot || reason != "CSRF cookie not set" {
		t.Fatalf("code %d reason %q", rr.Code, reason)
	}
}
