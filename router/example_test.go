package router_test

import (
	"context"
	"fmt"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/router"
)

// show is an application that prints what the routers gave it.
func show(name string) channels.Application {
	return channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		fmt.Printf("%s: root=%q path=%q params=%v\n", name, scope.RootPath, scope.Path, scope.URLRoute)
		return nil
	})
}

func ExampleProtocolType() {
	app := router.ProtocolType{
		"http":      show("http"),
		"websocket": show("websocket"),
	}
	ctx := context.Background()
	_ = app.Serve(ctx, &channels.Scope{Type: "websocket", Path: "/ws/"}, nil, nil)
	err := app.Serve(ctx, &channels.Scope{Type: "lifespan"}, nil, nil)
	fmt.Println(err)
	// Output:
	// websocket: root="" path="/ws/" params=map[]
	// router: no route: no application for protocol type "lifespan" (known: http, websocket)
}

func ExampleURL() {
	app := router.URL(
		router.Path("/ws/chat/{room_name}/", show("chat")),
		router.Include("/org/{org}/", router.URL(
			router.Path("/repo/{repo}", show("repo")),
			router.Path("/files/{path...}", show("files")),
		)),
	)
	ctx := context.Background()
	for _, path := range []string{"/ws/chat/lobby/", "/org/gochannels/repo/core", "/org/x/files/a/b.txt"} {
		_ = app.Serve(ctx, &channels.Scope{Type: "websocket", Path: path}, nil, nil)
	}

	// No route: an HTTP request gets 404 Not Found.
	send := channels.SendFunc(func(ctx context.Context, msg channels.Message) error {
		if msg.Type() == channels.TypeHTTPResponseStart {
			fmt.Println(msg.Type(), msg["status"])
		} else {
			fmt.Println(msg.Type(), string(msg.Bytes("body")))
		}
		return nil
	})
	app.Logger = discard()
	_ = app.Serve(ctx, &channels.Scope{Type: "http", Path: "/nowhere"}, nil, send)
	// Output:
	// chat: root="" path="/ws/chat/lobby/" params=map[room_name:lobby]
	// repo: root="/org/gochannels" path="/repo/core" params=map[org:gochannels repo:core]
	// files: root="/org/x" path="/files/a/b.txt" params=map[org:x path:a/b.txt]
	// http.response.start 404
	// http.response.body Not Found
}

func ExampleChannelName() {
	workers := router.ChannelName{
		"background-tasks": show("tasks"),
		"thumbnails":       show("thumbnails"),
	}
	fmt.Println(workers.Names())
	_ = workers.Serve(context.Background(), &channels.Scope{Type: channels.ScopeChannel, Channel: "thumbnails"}, nil, nil)
	// Output:
	// [background-tasks thumbnails]
	// thumbnails: root="" path="" params=map[]
}
