package middleware_test

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/middleware"
)

func ExampleOriginValidator() {
	chat := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		if _, err := receive.Receive(ctx); err != nil { // websocket.connect
			return err
		}
		return send.Send(ctx, channels.Message{"type": channels.TypeWebsocketAccept})
	})
	app := middleware.OriginValidator(chat, ".example.com", "localhost:8000")

	for _, origin := range []string{"https://www.example.com", "http://localhost:8000", "https://evil.org"} {
		scope := &channels.Scope{Type: channels.ScopeWebsocket, Path: "/ws/chat/lobby/", Headers: http.Header{"Origin": {origin}}}
		events := channels.NewMailbox(2)
		_ = events.Inject(channels.Message{"type": channels.TypeWebsocketConnect})
		send := channels.SendFunc(func(ctx context.Context, msg channels.Message) error {
			fmt.Println(origin, "→", msg.Type())
			return nil
		})
		_ = app.Serve(context.Background(), scope, events, send)
	}
	// Output:
	// https://www.example.com → websocket.accept
	// http://localhost:8000 → websocket.accept
	// https://evil.org → websocket.close
}

func ExampleCSRF() {
	form := template.Must(template.New("form").Parse(
		`<form method="post"><input type="hidden" name="csrfmiddlewaretoken" value="{{.}}"></form>`))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /form", func(w http.ResponseWriter, r *http.Request) {
		_ = form.Execute(w, middleware.CSRFToken(r))
	})
	mux.HandleFunc("POST /form", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "saved")
	})
	srv := httptest.NewServer(middleware.CSRF(mux, middleware.CSRFOptions{}))
	defer srv.Close()

	// A browser loads the form (and gets the CSRF cookie), then posts it back.
	resp, err := http.Get(srv.URL + "/form")
	if err != nil {
		fmt.Println(err)
		return
	}
	page := readAll(resp)
	cookie := resp.Cookies()[0]
	token := strings.Split(strings.Split(page, `value="`)[1], `"`)[0]

	submit := func(token string) {
		req, _ := http.NewRequest("POST", srv.URL+"/form", strings.NewReader(url.Values{"csrfmiddlewaretoken": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(resp.StatusCode, strings.TrimSpace(readAll(resp)))
	}
	submit(token)
	submit("forged")
	http.DefaultClient.CloseIdleConnections()
	// Output:
	// 200 saved
	// 403 Forbidden (CSRF check failed: CSRF token incorrect)
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
