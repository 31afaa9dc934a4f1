// Package router sends each scope to the application that handles it, as Django Channels'
// routing module does: ProtocolType by the kind of connection (HTTP, WebSocket, background
// channel), URL by path with named parameters, and ChannelName by channel for the background
// consumers a worker hosts.
//
// Routers are Applications themselves, so they nest:
//
//	app := router.ProtocolType{
//		"websocket": router.URL(
//			router.Path("/ws/chat/{room_name}/", chat),
//			router.Include("/api", router.URL(router.Path("/rooms/{id}", rooms))),
//		),
//		"channel": router.ChannelName{"background-tasks": tasks},
//	}
package router
