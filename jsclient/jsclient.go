package jsclient

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"time"
)

// Path is the path the module is usually mounted at, and the one its documentation imports.
const Path = "/gochannels.js"

// ContentType is the media type the module is served with.
const ContentType = "text/javascript; charset=utf-8"

//go:embed gochannels.js
var source []byte

// etag is the module's strong entity tag: a hash of its bytes, so that it changes exactly
// when the module does.
var etag = func() string {
	sum := sha256.Sum256(source)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
}()

// Source returns the module's JavaScript source (a copy).
func Source() []byte { return bytes.Clone(source) }

// ETag returns the entity tag the handler serves the module with (a quoted strong tag).
func ETag() string { return etag }

// Handler returns an http.Handler that serves the module for GET and HEAD (405 for other
// methods), whatever the request path: mount it at Path. Responses carry Content-Type
// ContentType, an ETag, and Cache-Control "no-cache" (a browser keeps the module and
// revalidates it on each load, answered with 304 Not Modified while it is unchanged, so an
// upgraded server is picked up at once); Range requests are honoured.
func Handler() http.Handler { return handler{} }

type handler struct{}

func (handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("ETag", etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	// ServeContent answers If-None-Match (304), If-Match, Range and HEAD.
	http.ServeContent(w, r, "gochannels.js", time.Time{}, bytes.NewReader(source))
}
