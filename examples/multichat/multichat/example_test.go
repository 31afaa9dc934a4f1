package multichat_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gochannels/gochannels/examples/multichat/multichat"
	"github.com/gochannels/gochannels/layers"
)

// A single process: the in-memory layer, the background consumer in-process, and a fresh
// database seeded with three rooms.
func ExampleNew() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "multichat-example")
	defer os.RemoveAll(dir)
	layer, _ := layers.Open(ctx, "memory://")
	defer layer.Close()

	app, err := multichat.New(ctx, multichat.Config{
		DBPath: filepath.Join(dir, "multichat.db"), Layer: layer, Worker: true, BcryptCost: 4,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer app.Close()

	rooms, _ := app.Store().Rooms(ctx)
	for _, r := range rooms {
		fmt.Println(r.StringID(), r.Title, r.StaffOnly, multichat.RoomGroup(r.StringID()))
	}
	u, _ := app.Store().CreateUser(ctx, "alice", "correct horse", false)
	fmt.Println(u.Username(), "is staff:", u.IsStaff())
	// Output:
	// 1 Lobby false room-1
	// 2 Random false room-2
	// 3 Staff only true room-3
	// alice is staff: true
}
