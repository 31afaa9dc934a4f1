package multichat

import (
	"errors"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gochannels/gochannels/internal/redistest"
)

// isRoomCreated matches {"room_created": {...}} events.
func isRoomCreated(ev map[string]any) bool { _, ok := ev["room_created"]; return ok }

// TestRoomCreatedReachesOtherProcess: a room staff creates on process 1 reaches, live, the
// sockets on process 2 as {"room_created": {"id": N, "title": ...}}; a staff-only room reaches
// staff only; the creator is sent into the new room.
func TestRoomCreatedReachesOtherProcess(t *testing.T) {
	srv := redistest.Start(t)
	p1, p2 := startTwoProcesses(t, redisLayerURL(srv))
	alice, bob := aliceAndBob(t, p1, p2) // alice is staff
	wb := bob.mustDial("http://localhost")
	aliceTab2 := alice.sameBrowser(p2.base).mustDial("http://localhost")

	// Staff-only first: bob must not see it, so the first event bob gets is the public room.
	loc, _ := alice.formFlash("/rooms", url.Values{"title": {"Staff corner"}, "staff_only": {"on"}})
	secretID := roomIDFromLocation(t, loc)
	loc, _ = alice.formFlash("/rooms", url.Values{"title": {"Go fans"}})
	publicID := roomIDFromLocation(t, loc)

	ev := wb.expect("room_created on process 2", isRoomCreated)
	got, _ := ev["room_created"].(map[string]any)
	if got["id"] != float64(publicID) || got["title"] != "Go fans" {
		t.Errorf("bob got %v, want room %d \"Go fans\" (and never the staff-only room)", ev, publicID)
	}
	for _, want := range []int64{secretID, publicID} {
		ev := aliceTab2.expect("room_created for staff", isRoomCreated)
		if got, _ := ev["room_created"].(map[string]any); got["id"] != float64(want) {
			t.Errorf("alice's other tab got %v, want room %d", ev, want)
		}
	}
	// The new room works for bob at once.
	id := strconv.FormatInt(publicID, 10)
	wb.send(map[string]any{"command": "join", "room": id})
	wb.expect("bob joins the new room", isJoin(id))
}

// roomIDFromLocation reads N from a "/?room=N" redirect.
func roomIDFromLocation(t *testing.T, loc string) int64 {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil || u.Path != "/" {
		t.Fatalf("redirect %q, want /?room=N", loc)
	}
	id, err := strconv.ParseInt(u.Query().Get("room"), 10, 64)
	if err != nil || id <= 0 {
		t.Fatalf("redirect %q, want /?room=N", loc)
	}
	return id
}

// TestRoomTitleUnique: titles are unique ignoring case, Unicode letters included.
func TestRoomTitleUnique(t *testing.T) {
	a := newTestApp(t, memoryLayer(t), filepath.Join(t.TempDir(), "multichat.db"))
	if _, err := a.store.CreateRoom(t.Context(), "Über Go", false); err != nil {
		t.Fatal(err)
	}
	for _, title := range []string{"über go", "  ÜBER GO ", "lobby", "RANDOM"} {
		if _, err := a.store.CreateRoom(t.Context(), title, false); !errors.Is(err, ErrRoomTitleTaken) {
			t.Errorf("CreateRoom(%q): %v, want ErrRoomTitleTaken", title, err)
		}
	}
	var in *InputError
	if _, err := a.store.CreateRoom(t.Context(), "   ", false); !errors.As(err, &in) || in.Field != "title" {
		t.Errorf("blank title: %v, want an InputError for the title", err)
	}
	if _, err := a.store.CreateRoom(t.Context(), "Über Go 2", false); err != nil {
		t.Errorf("a different title: %v", err)
	}
}
