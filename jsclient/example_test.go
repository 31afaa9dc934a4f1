package jsclient_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/gochannels/gochannels/jsclient"
)

func ExampleHandler() {
	mux := http.NewServeMux()
	mux.Handle(jsclient.Path, jsclient.Handler())
	// mux.Handle("/ws/", ...) the gochannels server, and the pages that import the module.

	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + jsclient.Path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	fmt.Println(resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
	// Output: 200 text/javascript; charset=utf-8 no-cache
}
