package multichat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gochannels/gochannels/examples/internal/pgtest"
	"github.com/gochannels/gochannels/sessions"
)

// openTwoStores opens two Stores on one fresh database of the dialect, as two processes
// would (each with its own connections).
func openTwoStores(t *testing.T, dialect sessions.Dialect) (*Store, *Store) {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "multichat.db")
	if dialect == sessions.PostgreSQL {
		dsn = pgtest.New(t).URL
	}
	var stores [2]*Store
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range stores {
		open := func() { stores[i], errs[i] = OpenStore(context.Background(), dsn, 4) }
		if dialect == sessions.PostgreSQL {
			wg.Go(open) // both set the schema up at once: it must not race
		} else {
			open() // a fresh SQLite file's switch to WAL mode is not for two openers at once
		}
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open store %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	if got := stores[0].Dialect(); got != dialect {
		t.Fatalf("Dialect() = %v, want %v", got, dialect)
	}
	return stores[0], stores[1]
}

func forEachDialect(t *testing.T, f func(t *testing.T, a, b *Store)) {
	for _, d := range []sessions.Dialect{sessions.SQLite, sessions.PostgreSQL} {
		t.Run(d.String(), func(t *testing.T) {
			a, b := openTwoStores(t, d)
			f(t, a, b)
		})
	}
}

// TestStoreDialects runs the store's rules on SQLite and PostgreSQL alike, each with two
// Stores on one database, as two processes have.
func TestStoreDialects(t *testing.T) {
	forEachDialect(t, func(t *testing.T, a, b *Store) {
		ctx := t.Context()
		rooms, err := b.Rooms(ctx)
		if err != nil || len(rooms) != len(SeedRooms) || rooms[0].ID != 1 || rooms[0].Title != "Lobby" || !rooms[2].StaffOnly {
			t.Fatalf("seed rooms (seeded once by two stores) = %+v, %v", rooms, err)
		}

		// Usernames: unique in any letter case, logged in with any case.
		alice, err := a.CreateUser(ctx, "Alice", "password-alice", false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.CreateUser(ctx, "aLICE", "password-other", false); !errors.Is(err, ErrUsernameTaken) {
			t.Fatalf("second Alice: %v, want ErrUsernameTaken", err)
		}
		u, err := b.Authenticate(ctx, "alice", "password-alice")
		if err != nil || u.UserID != alice.UserID || u.Name != "Alice" {
			t.Fatalf("Authenticate(alice) = %+v, %v", u, err)
		}
		if _, err := b.Authenticate(ctx, "alice", "wrong-password"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("wrong password: %v", err)
		}
		if ok, err := b.SetStaff(ctx, "ALICE", false); !ok || err != nil {
			t.Fatalf("SetStaff(ALICE) = %v, %v", ok, err)
		}
		if u, err := a.UserByID(ctx, alice.UserID); err != nil || u.Staff {
			t.Fatalf("after SetStaff false: %+v, %v", u, err)
		}

		// Room titles: unique in any case (Unicode folding), across stores.
		r, err := a.CreateRoom(ctx, "  Go Fans ", false)
		if err != nil || r.Title != "Go Fans" {
			t.Fatalf("CreateRoom = %+v, %v", r, err)
		}
		if _, err := b.CreateRoom(ctx, "go fans", true); !errors.Is(err, ErrRoomTitleTaken) {
			t.Fatalf("same title other case: %v", err)
		}
		if got, err := b.Room(ctx, r.ID); err != nil || got != r {
			t.Fatalf("Room(%d) = %+v, %v", r.ID, got, err)
		}
		if _, err := b.Room(ctx, 999999); !errors.Is(err, ErrRoomNotFound) {
			t.Fatalf("Room(999999): %v", err)
		}

		// Messages: stored once per id, history oldest first, ties in insertion order.
		for i, id := range []string{"m1", "m2", "m3", "m2"} {
			if err := [2]*Store{a, b}[i%2].SaveMessage(ctx, ChatLine{MsgID: id, RoomID: r.ID, UserID: alice.UserID, Username: "Alice", Text: "text " + id, TS: 1000}); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := b.CountMessages(ctx, r.ID); n != 3 || err != nil {
			t.Fatalf("CountMessages = %d, %v", n, err)
		}
		hist, err := a.History(ctx, r.ID, 2)
		if err != nil || len(hist) != 2 || hist[0].MsgID != "m2" || hist[1].MsgID != "m3" {
			t.Fatalf("History(2) = %+v, %v", hist, err)
		}

		// Open rooms per user.
		if added, err := a.AddUserRoom(ctx, alice.UserID, r.ID); !added || err != nil {
			t.Fatalf("AddUserRoom = %v, %v", added, err)
		}
		if added, err := b.AddUserRoom(ctx, alice.UserID, r.ID); added || err != nil {
			t.Fatalf("AddUserRoom again = %v, %v", added, err)
		}
		if got, err := b.UserRooms(ctx, alice.UserID); err != nil || len(got) != 1 || got[0] != r {
			t.Fatalf("UserRooms = %+v, %v", got, err)
		}
		if removed, err := b.RemoveUserRoom(ctx, alice.UserID, r.ID); !removed || err != nil {
			t.Fatalf("RemoveUserRoom = %v, %v", removed, err)
		}

		// One signing key for every process sharing the database.
		ka, err := a.SecretKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		kb, err := b.SecretKey(ctx)
		if err != nil || !bytes.Equal(ka, kb) || len(ka) != 32 {
			t.Fatalf("secret keys differ: %x, %x, %v", ka, kb, err)
		}
	})
}

// TestStoreRacesAcrossProcesses: check-then-insert rules hold when two Stores race: of the
// first sign-ups exactly one is staff, and of concurrent rooms with one title (in various
// cases) exactly one is created.
func TestStoreRacesAcrossProcesses(t *testing.T) {
	forEachDialect(t, func(t *testing.T, a, b *Store) {
		ctx := t.Context()
		const n = 6
		var wg sync.WaitGroup
		users := make([]*User, n)
		roomErrs := make([]error, n)
		errs := make([]error, n)
		for i := range n {
			s := [2]*Store{a, b}[i%2]
			wg.Go(func() {
				users[i], errs[i] = s.CreateUser(ctx, fmt.Sprintf("user%d", i), "password-x", false)
			})
			wg.Go(func() {
				title := "Race Room"
				if i%2 == 1 {
					title = "race ROOM"
				}
				_, roomErrs[i] = s.CreateRoom(ctx, title, false)
			})
		}
		wg.Wait()
		staff, created := 0, 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("CreateUser %d: %v", i, errs[i])
			}
			if users[i].Staff {
				staff++
			}
			switch {
			case roomErrs[i] == nil:
				created++
			case !errors.Is(roomErrs[i], ErrRoomTitleTaken):
				t.Fatalf("CreateRoom %d: %v", i, roomErrs[i])
			}
		}
		if staff != 1 || created != 1 {
			t.Fatalf("%d staff among the first users, %d rooms created with one title; want 1 and 1", staff, created)
		}
	})
}

// TestSessionsChoice: the -sessions rule (db with PostgreSQL, cookie with SQLite) and the
// refusal of an unknown store.
func TestSessionsChoice(t *testing.T) {
	if got := DefaultSessions("postgres://u@h/db"); got != SessionsDB {
		t.Errorf("DefaultSessions(postgres) = %q", got)
	}
	if got := DefaultSessions("PostgreSQL://u@h/db"); got != SessionsDB {
		t.Errorf("DefaultSessions(PostgreSQL) = %q", got)
	}
	if got := DefaultSessions("multichat.db"); got != SessionsCookie {
		t.Errorf("DefaultSessions(file) = %q", got)
	}
	if got := RedactDSN("postgres://chat:s3cret@db:5432/mc"); got != "postgres://chat:xxxxx@db:5432/mc" {
		t.Errorf("RedactDSN = %q", got)
	}
	_, err := New(t.Context(), Config{DBPath: filepath.Join(t.TempDir(), "mc.db"), Layer: memoryLayer(t), Sessions: "memcached://x", BcryptCost: 4, Logger: quietLogger()})
	if err == nil {
		t.Fatal("New accepted an unknown session store")
	}
}

// TestSessionsSweep: with sessions in the database, a process running the worker deletes the
// expired rows (at start, then every SweepInterval).
func TestSessionsSweep(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "mc.db")
	s, err := OpenStore(t.Context(), dbPath, 4)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sessions.NewSQLStore(s.DB(), s.Dialect(), sessions.SQLOptions{})
	if err == nil {
		err = st.CreateTable(t.Context())
	}
	if err == nil {
		_, err = s.DB().ExecContext(t.Context(), `INSERT INTO gochannels_session (id, data, expires_at) VALUES (?, '{}', ?)`,
			sessions.NewID(), time.Now().Add(-time.Minute).Unix())
	}
	if err := errors.Join(err, s.Close()); err != nil {
		t.Fatal(err)
	}

	a, err := New(t.Context(), Config{DBPath: dbPath, Sessions: SessionsDB, Layer: memoryLayer(t), Worker: true, BcryptCost: 4, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	deadline := time.Now().Add(testTimeout)
	for {
		var n int
		if err := a.Store().DB().QueryRowContext(t.Context(), `SELECT count(*) FROM gochannels_session`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d expired sessions left", n)
		}
		time.Sleep(10 * time.Millisecond) // polling the database: the sweep signals nothing
	}
}
