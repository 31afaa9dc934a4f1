package multichat_test

import (
	"context"
	"errors"
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

// Room titles are unique ignoring case, and a refused value is an *InputError whose Reason is
// meant for people.
func ExampleStore_CreateRoom() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "multichat-example")
	defer os.RemoveAll(dir)
	store, err := multichat.OpenStore(ctx, filepath.Join(dir, "multichat.db"), 4)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	r, _ := store.CreateRoom(ctx, "  Go fans ", false)
	fmt.Printf("%s %q\n", r.StringID(), r.Title)
	_, err = store.CreateRoom(ctx, "GO FANS", false)
	fmt.Println(errors.Is(err, multichat.ErrRoomTitleTaken))
	var in *multichat.InputError
	_, err = store.CreateRoom(ctx, "   ", false)
	if errors.As(err, &in) {
		fmt.Println(in.Field+":", in.Reason)
	}
	// Output:
	// 4 "Go fans"
	// true
	// title: a room title has 1 to 60 characters
}
