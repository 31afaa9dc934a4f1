package multichat

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/gochannels/gochannels/sessions"
)

// Store errors the pages show to users.
var (
	// ErrUsernameTaken is returned by CreateUser for a name already in use.
	ErrUsernameTaken = errors.New("multichat: that username is taken")
	// ErrBadCredentials is returned by Authenticate for an unknown user or a wrong password.
	ErrBadCredentials = errors.New("multichat: wrong username or password")
	// ErrRoomNotFound is returned for a room id that names no room.
	ErrRoomNotFound = errors.New("multichat: no such room")
	// ErrRoomTitleTaken is returned by CreateRoom for a title another room has, compared
	// case-insensitively (Unicode simple folding: "go fans" and "Go Fans" are one title).
	ErrRoomTitleTaken = errors.New("multichat: a room with that title exists")
)

// InputError is what the store returns for a value a person typed that it refuses (a
// username, password or room title out of bounds). Reason is a sentence fragment meant for
// that person, without a prefix or final period: the pages show it as a sentence.
type InputError struct {
	Field  string // "username", "password" or "title"
	Reason string // e.g. "a username has 1 to 30 characters"
}

// Error implements error.
func (e *InputError) Error() string { return "multichat: invalid " + e.Field + ": " + e.Reason }

// Limits on what users type into the forms.
const (
	MaxUsernameLen   = 30
	MinPasswordLen   = 8
	MaxPasswordBytes = 72 // bcrypt's limit
	MaxTitleLen      = 60
)

// SeedRooms are the rooms created on first start: title and staff-only flag.
var SeedRooms = []struct {
	Title     string
	StaffOnly bool
}{{"Lobby", false}, {"Random", false}, {"Staff only", true}}

// User is an account, as stored. It implements auth.User and auth.SessionHasher.
type User struct {
	UserID       int64
	Name         string
	Staff        bool
	passwordHash string
}

// ID returns the user's id as a string (what the session stores).
func (u *User) ID() string { return strconv.FormatInt(u.UserID, 10) }

// Username returns the name the user signed up with.
func (u *User) Username() string { return u.Name }

// IsAuthenticated returns true: every stored user is a real user.
func (u *User) IsAuthenticated() bool { return true }

// IsStaff reports whether the user may enter staff-only rooms and create rooms.
func (u *User) IsStaff() bool { return u.Staff }

// SessionHash changes when the password changes, which ends the user's other sessions.
func (u *User) SessionHash() string {
	sum := sha256.Sum256([]byte("multichat-session\x00" + u.passwordHash))
	return hex.EncodeToString(sum[:16])
}

// Room is a chat room.
type Room struct {
	ID        int64  `json:"-"`
	Title     string `json:"title"`
	StaffOnly bool   `json:"staff_only"`
}

// StringID returns the room's id as the protocol carries it (a string).
func (r Room) StringID() string { return strconv.FormatInt(r.ID, 10) }

// ChatLine is one stored chat message.
type ChatLine struct {
	MsgID    string
	RoomID   int64
	UserID   int64
	Username string
	Text     string
	TS       int64 // Unix milliseconds
}

// Store keeps accounts, rooms, messages and settings in a SQL database: an SQLite file (WAL
// mode, busy timeout), which the processes of one host can share, or PostgreSQL, which the
// processes of several hosts can share (see OpenStore).
type Store struct {
	db         *sql.DB
	dialect    sessions.Dialect
	bcryptCost int
	dummyHash  []byte // compared against for unknown usernames, so timing does not tell
}

// OpenStore opens the database that dsn names and sets up its tables and the seed rooms on
// first use. A dsn starting with postgres:// or postgresql:// is a PostgreSQL URL (pgx's
// driver; the database must exist); anything else is an SQLite file path, created if needed.
// bcryptCost 0 means bcrypt.DefaultCost.
func OpenStore(ctx context.Context, dsn string, bcryptCost int) (*Store, error) {
	if dsn == "" {
		return nil, errors.New("multichat: open store: empty database path")
	}
	if bcryptCost == 0 {
		bcryptCost = bcrypt.DefaultCost
	}
	dialect, db, name, err := openDB(dsn)
	if err != nil {
		return nil, err
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("not a password"), bcryptCost)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("multichat: bcrypt cost %d: %w", bcryptCost, err)
	}
	s := &Store{db: db, dialect: dialect, bcryptCost: bcryptCost, dummyHash: dummy}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("multichat: set up database %s: %w", name, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := s.lockSchema(ctx, tx); err != nil {
		return err
	}
	for _, stmt := range s.schema() {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create tables: %w", err)
		}
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO settings(key, value) VALUES('seeded', '1') ON CONFLICT DO NOTHING`)
	if err != nil {
		return fmt.Errorf("mark seeded: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		now := time.Now().UnixMilli()
		for _, r := range SeedRooms {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO rooms(title, staff_only, created_at) VALUES(?, ?, ?)`), r.Title, r.StaffOnly, now); err != nil {
				return fmt.Errorf("seed room %q: %w", r.Title, err)
			}
		}
	}
	return tx.Commit()
}

// SecretKey returns the session signing key kept in the database, creating it (32 random
// bytes) on first use; every process sharing the file gets the same key.
func (s *Store) SecretKey(ctx context.Context) ([]byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("multichat: generate secret key: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO settings(key, value) VALUES('secret_key', ?) ON CONFLICT DO NOTHING`), hex.EncodeToString(b)); err != nil {
		return nil, fmt.Errorf("multichat: store secret key: %w", err)
	}
	var v string
	if err := s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = 'secret_key'`).Scan(&v); err != nil {
		return nil, fmt.Errorf("multichat: read secret key: %w", err)
	}
	key, err := hex.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("multichat: stored secret key is not hex: %w", err)
	}
	return key, nil
}

// ValidateUsername reports what is wrong with a username: 1 to MaxUsernameLen ASCII letters,
// digits, '_', '-' or '.'.
func ValidateUsername(name string) error {
	if name == "" || len(name) > MaxUsernameLen {
		return fmt.Errorf("a username has 1 to %d characters", MaxUsernameLen)
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return errors.New("a username may hold only letters, digits, dots, dashes and underscores")
		}
	}
	return nil
}

// CreateUser adds an account with a bcrypt-hashed password. The first account created is
// staff, and so is any account when staff is true.
func (s *Store) CreateUser(ctx context.Context, username, password string, staff bool) (*User, error) {
	if err := ValidateUsername(username); err != nil {
		return nil, &InputError{Field: "username", Reason: err.Error()}
	}
	if len(password) < MinPasswordLen || len(password) > MaxPasswordBytes {
		return nil, &InputError{Field: "password", Reason: fmt.Sprintf("a password has %d to %d characters (accented letters and emoji count as 2 to 4)", MinPasswordLen, MaxPasswordBytes)}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.bcryptCost)
	if err != nil {
		return nil, fmt.Errorf("multichat: hash password: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("multichat: create user: %w", err)
	}
	defer tx.Rollback()
	if err := s.lockTable(ctx, tx, "users"); err != nil {
		return nil, fmt.Errorf("multichat: create user: %w", err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return nil, fmt.Errorf("multichat: create user: count users: %w", err)
	}
	staff = staff || n == 0
	var id int64
	err = tx.QueryRowContext(ctx, s.q(`INSERT INTO users(username, password_hash, is_staff, created_at) VALUES(?, ?, ?, ?) RETURNING id`),
		username, string(hash), staff, time.Now().UnixMilli()).Scan(&id)
	if err != nil {
		if isUniqueViolation(err) {
			return nil, ErrUsernameTaken
		}
		return nil, fmt.Errorf("multichat: create user %q: %w", username, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("multichat: create user %q: %w", username, err)
	}
	return &User{UserID: id, Name: username, Staff: staff, passwordHash: string(hash)}, nil
}

// SetStaff makes the named user staff (or not). It reports whether the user exists.
func (s *Store) SetStaff(ctx context.Context, username string, staff bool) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE users SET is_staff = ? WHERE `+s.usernameIs()), staff, username)
	if err != nil {
		return false, fmt.Errorf("multichat: set staff %q: %w", username, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

func (s *Store) scanUser(row *sql.Row) (*User, error) {
	u := &User{}
	if err := row.Scan(&u.UserID, &u.Name, &u.passwordHash, &u.Staff); err != nil {
		return nil, err
	}
	return u, nil
}

// UserByID returns the user with id; the error wraps sql.ErrNoRows when there is none.
func (s *Store) UserByID(ctx context.Context, id int64) (*User, error) {
	u, err := s.scanUser(s.db.QueryRowContext(ctx, s.q(`SELECT id, username, password_hash, is_staff FROM users WHERE id = ?`), id))
	if err != nil {
		return nil, fmt.Errorf("multichat: load user %d: %w", id, err)
	}
	return u, nil
}

// Authenticate returns the user when the password matches, and ErrBadCredentials otherwise.
func (s *Store) Authenticate(ctx context.Context, username, password string) (*User, error) {
	u, err := s.scanUser(s.db.QueryRowContext(ctx, s.q(`SELECT id, username, password_hash, is_staff FROM users WHERE `+s.usernameIs()), username))
	if errors.Is(err, sql.ErrNoRows) {
		// Spend the time a real check takes, so that timing does not tell which names exist.
		_ = bcrypt.CompareHashAndPassword(s.dummyHash, []byte(password))
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("multichat: authenticate %q: %w", username, err)
	}
	if bcrypt.CompareHashAndPassword([]byte(u.passwordHash), []byte(password)) != nil {
		return nil, ErrBadCredentials
	}
	return u, nil
}

// Rooms returns every room in id order.
func (s *Store) Rooms(ctx context.Context) ([]Room, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, title, staff_only FROM rooms ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("multichat: list rooms: %w", err)
	}
	defer rows.Close()
	var out []Room
	for rows.Next() {
		var r Room
		if err := rows.Scan(&r.ID, &r.Title, &r.StaffOnly); err != nil {
			return nil, fmt.Errorf("multichat: list rooms: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Room returns the room with id, or an error wrapping ErrRoomNotFound.
func (s *Store) Room(ctx context.Context, id int64) (Room, error) {
	r := Room{ID: id}
	err := s.db.QueryRowContext(ctx, s.q(`SELECT title, staff_only FROM rooms WHERE id = ?`), id).Scan(&r.Title, &r.StaffOnly)
	if errors.Is(err, sql.ErrNoRows) {
		return Room{}, fmt.Errorf("%w: %d", ErrRoomNotFound, id)
	}
	if err != nil {
		return Room{}, fmt.Errorf("multichat: load room %d: %w", id, err)
	}
	return r, nil
}

// CreateRoom adds a room. A title is trimmed and has 1 to MaxTitleLen characters (else an
// *InputError), and no other room may have it in any letter case (else ErrRoomTitleTaken):
// the check and the insert run in one transaction that locks the table against other writers
// (IMMEDIATE in SQLite, LOCK TABLE in PostgreSQL), so two processes sharing the database
// cannot both add the same title.
func (s *Store) CreateRoom(ctx context.Context, title string, staffOnly bool) (Room, error) {
	title = strings.TrimSpace(title)
	if title == "" || utf8.RuneCountInString(title) > MaxTitleLen {
		return Room{}, &InputError{Field: "title", Reason: fmt.Sprintf("a room title has 1 to %d characters", MaxTitleLen)}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Room{}, fmt.Errorf("multichat: create room %q: %w", title, err)
	}
	defer tx.Rollback()
	if err := s.lockTable(ctx, tx, "rooms"); err != nil {
		return Room{}, fmt.Errorf("multichat: create room %q: %w", title, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT title FROM rooms`)
	if err != nil {
		return Room{}, fmt.Errorf("multichat: create room %q: %w", title, err)
	}
	taken := false
	for rows.Next() && !taken {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return Room{}, fmt.Errorf("multichat: create room %q: %w", title, err)
		}
		taken = strings.EqualFold(t, title)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return Room{}, fmt.Errorf("multichat: create room %q: %w", title, err)
	}
	if taken {
		return Room{}, fmt.Errorf("%w: %q", ErrRoomTitleTaken, title)
	}
	var id int64
	err = tx.QueryRowContext(ctx, s.q(`INSERT INTO rooms(title, staff_only, created_at) VALUES(?, ?, ?) RETURNING id`),
		title, staffOnly, time.Now().UnixMilli()).Scan(&id)
	if err != nil {
		return Room{}, fmt.Errorf("multichat: create room %q: %w", title, err)
	}
	if err := tx.Commit(); err != nil {
		return Room{}, fmt.Errorf("multichat: create room %q: %w", title, err)
	}
	return Room{ID: id, Title: title, StaffOnly: staffOnly}, nil
}

// SaveMessage stores a chat message; saving the same MsgID twice stores it once.
func (s *Store) SaveMessage(ctx context.Context, m ChatLine) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO messages(msg_id, room_id, user_id, username, body, ts) VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
		m.MsgID, m.RoomID, m.UserID, m.Username, m.Text, m.TS)
	if err != nil {
		return fmt.Errorf("multichat: save message %s in room %d: %w", m.MsgID, m.RoomID, err)
	}
	return nil
}

// History returns the last limit messages of a room, oldest first.
func (s *Store) History(ctx context.Context, roomID int64, limit int) ([]ChatLine, error) {
	rows, err := s.db.QueryContext(ctx, s.q(s.historyQuery()), roomID, limit)
	if err != nil {
		return nil, fmt.Errorf("multichat: history of room %d: %w", roomID, err)
	}
	defer rows.Close()
	var out []ChatLine
	for rows.Next() {
		var m ChatLine
		if err := rows.Scan(&m.MsgID, &m.RoomID, &m.UserID, &m.Username, &m.Text, &m.TS); err != nil {
			return nil, fmt.Errorf("multichat: history of room %d: %w", roomID, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// CountMessages returns how many messages a room has stored.
func (s *Store) CountMessages(ctx context.Context, roomID int64) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT count(*) FROM messages WHERE room_id = ?`), roomID).Scan(&n); err != nil {
		return 0, fmt.Errorf("multichat: count messages of room %d: %w", roomID, err)
	}
	return n, nil
}

// AddUserRoom records that the user has the room open; added reports whether it is new.
func (s *Store) AddUserRoom(ctx context.Context, userID, roomID int64) (added bool, err error) {
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO user_rooms(user_id, room_id) VALUES(?, ?) ON CONFLICT DO NOTHING`), userID, roomID)
	if err != nil {
		return false, fmt.Errorf("multichat: add room %d for user %d: %w", roomID, userID, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// RemoveUserRoom records that the user left the room; removed reports whether it was there.
func (s *Store) RemoveUserRoom(ctx context.Context, userID, roomID int64) (removed bool, err error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM user_rooms WHERE user_id = ? AND room_id = ?`), userID, roomID)
	if err != nil {
		return false, fmt.Errorf("multichat: remove room %d for user %d: %w", roomID, userID, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// UserRooms returns the rooms the user has open, in id order.
func (s *Store) UserRooms(ctx context.Context, userID int64) ([]Room, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT r.id, r.title, r.staff_only FROM user_rooms ur JOIN rooms r ON r.id = ur.room_id
		WHERE ur.user_id = ? ORDER BY r.id`), userID)
	if err != nil {
		return nil, fmt.Errorf("multichat: rooms of user %d: %w", userID, err)
	}
	defer rows.Close()
	var out []Room
	for rows.Next() {
		var r Room
		if err := rows.Scan(&r.ID, &r.Title, &r.StaffOnly); err != nil {
			return nil, fmt.Errorf("multichat: rooms of user %d: %w", userID, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
