package multichat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for PostgreSQL URLs
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver, pure Go

	"github.com/gochannels/gochannels/sessions"
)

// IsPostgresURL reports whether a -db value names a PostgreSQL database (postgres:// or
// postgresql://) rather than an SQLite file.
func IsPostgresURL(dsn string) bool {
	l := strings.ToLower(dsn)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// RedactDSN returns dsn fit for a log line or an error: a PostgreSQL URL without its password.
func RedactDSN(dsn string) string {
	if !IsPostgresURL(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	return u.Redacted()
}

// openDB opens dsn with its driver; name is what errors show of it (no password).
func openDB(dsn string) (sessions.Dialect, *sql.DB, string, error) {
	if IsPostgresURL(dsn) {
		name := RedactDSN(dsn)
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return 0, nil, "", fmt.Errorf("multichat: open database %s: %w", name, err)
		}
		db.SetMaxOpenConns(10)
		return sessions.PostgreSQL, db, name, nil
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate") // every transaction takes the write lock at BEGIN
	db, err := sql.Open("sqlite", "file:"+dsn+"?"+q.Encode())
	if err != nil {
		return 0, nil, "", fmt.Errorf("multichat: open database %s: %w", dsn, err)
	}
	db.SetMaxOpenConns(4)
	return sessions.SQLite, db, dsn, nil
}

// DB returns the Store's database, for the session store that shares it (sessions.SQLStore).
func (s *Store) DB() *sql.DB { return s.db }

// Dialect returns the Store's SQL dialect: sessions.PostgreSQL or sessions.SQLite.
func (s *Store) Dialect() sessions.Dialect { return s.dialect }

// q turns the ? placeholders of a query into PostgreSQL's $1, $2... (the queries hold no ?
// in literals).
func (s *Store) q(query string) string {
	if s.dialect != sessions.PostgreSQL {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// usernameIs is the condition "username equals ?, in any letter case" (usernames are ASCII):
// SQLite's column has COLLATE NOCASE, PostgreSQL compares lower() (its unique index too).
func (s *Store) usernameIs() string {
	if s.dialect == sessions.PostgreSQL {
		return "lower(username) = lower(?)"
	}
	return "username = ?"
}

// historyQuery selects the last ? messages of room ?, oldest first, ties broken by insertion
// order (SQLite's rowid, PostgreSQL's seq column).
func (s *Store) historyQuery() string {
	if s.dialect == sessions.PostgreSQL {
		return `SELECT msg_id, room_id, user_id, username, body, ts FROM
		(SELECT seq, msg_id, room_id, user_id, username, body, ts FROM messages WHERE room_id = ?
		 ORDER BY ts DESC, seq DESC LIMIT ?) last ORDER BY ts, seq`
	}
	return `SELECT msg_id, room_id, user_id, username, body, ts FROM
		(SELECT rowid AS rid, * FROM messages WHERE room_id = ? ORDER BY ts DESC, rowid DESC LIMIT ?) ORDER BY ts, rid`
}

// schemaLockID is the PostgreSQL advisory lock that serializes schema creation, so that
// processes starting together do not race on CREATE TABLE IF NOT EXISTS.
const schemaLockID = 0x6d756c7469636874 // "multicht"

// lockSchema makes the schema creation in tx exclusive among processes. SQLite's
// transactions are IMMEDIATE already.
func (s *Store) lockSchema(ctx context.Context, tx *sql.Tx) error {
	if s.dialect != sessions.PostgreSQL {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(schemaLockID)); err != nil {
		return fmt.Errorf("lock the schema: %w", err)
	}
	return nil
}

// lockTable keeps other writers off table until tx ends, for a check-then-insert that must
// hold across processes (the first user is staff; room titles are unique in any case).
// SQLite's IMMEDIATE transactions hold the database's write lock already; PostgreSQL takes a
// SHARE ROW EXCLUSIVE lock, which conflicts with itself and with writes, not with reads.
func (s *Store) lockTable(ctx context.Context, tx *sql.Tx, table string) error {
	if s.dialect != sessions.PostgreSQL {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "LOCK TABLE "+table+" IN SHARE ROW EXCLUSIVE MODE"); err != nil {
		return fmt.Errorf("lock %s: %w", table, err)
	}
	return nil
}

// isUniqueViolation reports whether err is a unique constraint failing.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505" // unique_violation
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// schema returns the statements that create the tables, in the Store's dialect.
func (s *Store) schema() []string {
	if s.dialect == sessions.PostgreSQL {
		return []string{
			`CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
			`CREATE TABLE IF NOT EXISTS users (
				id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
				username TEXT NOT NULL,
				password_hash TEXT NOT NULL,
				is_staff BOOLEAN NOT NULL DEFAULT FALSE,
				created_at BIGINT NOT NULL)`,
			`CREATE UNIQUE INDEX IF NOT EXISTS users_username_lower ON users (lower(username))`,
			`CREATE TABLE IF NOT EXISTS rooms (
				id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
				title TEXT NOT NULL,
				staff_only BOOLEAN NOT NULL DEFAULT FALSE,
				created_at BIGINT NOT NULL)`,
			`CREATE TABLE IF NOT EXISTS messages (
				seq BIGINT GENERATED ALWAYS AS IDENTITY,
				msg_id TEXT PRIMARY KEY,
				room_id BIGINT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
				user_id BIGINT NOT NULL,
				username TEXT NOT NULL,
				body TEXT NOT NULL,
				ts BIGINT NOT NULL)`,
			`CREATE INDEX IF NOT EXISTS messages_room_ts ON messages (room_id, ts)`,
			`CREATE TABLE IF NOT EXISTS user_rooms (
				user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
				room_id BIGINT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
				PRIMARY KEY (user_id, room_id))`,
		}
	}
	return []string{
		`CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS users (
			id INTEGER PRIMARY KEY,
			username TEXT NOT NULL UNIQUE COLLATE NOCASE,
			password_hash TEXT NOT NULL,
			is_staff INTEGER NOT NULL DEFAULT 0,
			created_at INTEGER NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS rooms (
			id INTEGER PRIMARY KEY,
			title TEXT NOT NULL,
			staff_only INTEGER NOT NULL DEFAULT 0,
			created_at INTEGER NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS messages (
			msg_id TEXT PRIMARY KEY,
			room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
			user_id INTEGER NOT NULL,
			username TEXT NOT NULL,
			body TEXT NOT NULL,
			ts INTEGER NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS messages_room_ts ON messages(room_id, ts)`,
		`CREATE TABLE IF NOT EXISTS user_rooms (
			user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
			room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
			PRIMARY KEY (user_id, room_id))`,
	}
}
