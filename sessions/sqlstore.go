package sessions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Dialect is the SQL dialect of a SQLStore's database.
type Dialect int

const (
	// PostgreSQL (placeholders $1, $2...), through any database/sql driver such as pgx's
	// stdlib.
	PostgreSQL Dialect = iota + 1
	// SQLite (placeholders ?), version 3.24 or later, for a single host.
	SQLite
)

// String returns the dialect's name.
func (d Dialect) String() string {
	switch d {
	case PostgreSQL:
		return "postgresql"
	case SQLite:
		return "sqlite"
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

// DefaultSQLTable is the table of a SQLStore when SQLOptions.Table is empty.
const DefaultSQLTable = "gochannels_session"

// SQLOptions configure a SQLStore.
type SQLOptions struct {
	// Table is the sessions table (DefaultSQLTable): letters, digits and underscores, not
	// starting with a digit.
	Table string
}

var sqlIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// SQLStore keeps sessions in a SQL database through database/sql, shared by every server
// that uses the same database; the cookie holds only the random session ID. The package
// imports no driver: open the *sql.DB with the driver of your choice (pgx's stdlib for
// PostgreSQL, a SQLite driver for one host) and name its Dialect.
//
// A session is one row (id, data as JSON, expires_at in Unix seconds); CreateTable makes
// the table. Expired rows are never loaded; DeleteExpired removes them (call it now and then,
// as Django's clearsessions).
type SQLStore struct {
	db      *sql.DB
	dialect Dialect
	table   string

	load, upsert, del, expired string
}

// NewSQLStore returns a SQLStore on db (which the caller keeps and closes). It fails for an
// unknown dialect or an invalid table name.
func NewSQLStore(db *sql.DB, dialect Dialect, opts SQLOptions) (*SQLStore, error) {
	if db == nil {
		return nil, errors.New("sessions: NewSQLStore: nil *sql.DB")
	}
	if dialect != PostgreSQL && dialect != SQLite {
		return nil, fmt.Errorf("sessions: NewSQLStore: unknown dialect %v", dialect)
	}
	if opts.Table == "" {
		opts.Table = DefaultSQLTable
	}
	if !sqlIdent.MatchString(opts.Table) {
		return nil, fmt.Errorf("sessions: NewSQLStore: invalid table name %q", opts.Table)
	}
	st := &SQLStore{db: db, dialect: dialect, table: opts.Table}
	st.load = st.query("SELECT data FROM %s WHERE id = ? AND expires_at > ?")
	st.upsert = st.query("INSERT INTO %s (id, data, expires_at) VALUES (?, ?, ?) " +
		"ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at")
	st.del = st.query("DELETE FROM %s WHERE id = ?")
	st.expired = st.query("DELETE FROM %s WHERE expires_at <= ?")
	return st, nil
}

// query puts the table name in q and, for PostgreSQL, numbers its placeholders.
func (st *SQLStore) query(q string) string {
	q = fmt.Sprintf(q, st.table)
	if st.dialect != PostgreSQL {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// CreateTable creates the sessions table and its expiry index if they do not exist.
func (st *SQLStore) CreateTable(ctx context.Context) error {
	for _, q := range []string{
		fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (id VARCHAR(64) PRIMARY KEY, data TEXT NOT NULL, expires_at BIGINT NOT NULL)", st.table),
		fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s_expires_at ON %s (expires_at)", st.table, st.table),
	} {
		if _, err := st.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("sessions: create table %s: %w", st.table, err)
		}
	}
	return nil
}

// Load returns the session stored under value, or a New session when value is not a
// well-formed ID, names no session, or names one that is expired or unreadable. The error
// is for the database failing.
func (st *SQLStore) Load(ctx context.Context, value string) (*Session, error) {
	if !validID(value) {
		return New(), nil
	}
	now := time.Now()
	var raw string
	err := st.db.QueryRowContext(ctx, st.load, value, now.Unix()).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return New(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("sessions: sql load: %w", err)
	}
	return decodeStored(value, []byte(raw), now), nil
}

// Save stores s under its ID until its expiry and deletes its PreviousID, in one
// transaction. A session whose expiry is past is deleted instead.
func (st *SQLStore) Save(ctx context.Context, s *Session) (string, error) {
	id, prev, values, expires := s.snapshot()
	now := time.Now()
	expires = expiryOf(expires, now)
	raw, err := encodeStored(values, expires)
	if err != nil {
		return "", err
	}
	err = st.tx(ctx, func(tx *sql.Tx) error {
		if expires.After(now) {
			if _, err := tx.ExecContext(ctx, st.upsert, id, string(raw), expires.Unix()); err != nil {
				return err
			}
		} else if _, err := tx.ExecContext(ctx, st.del, id); err != nil {
			return err
		}
		if prev != "" && prev != id {
			if _, err := tx.ExecContext(ctx, st.del, prev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("sessions: sql save: %w", err)
	}
	return id, nil
}

// Delete removes s's ID and PreviousID.
func (st *SQLStore) Delete(ctx context.Context, s *Session) error {
	id, prev, _, _ := s.snapshot()
	err := st.tx(ctx, func(tx *sql.Tx) error {
		for _, k := range []string{id, prev} {
			if k == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, st.del, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sessions: sql delete: %w", err)
	}
	return nil
}

// DeleteExpired removes the expired sessions and returns how many there were.
func (st *SQLStore) DeleteExpired(ctx context.Context) (int64, error) {
	res, err := st.db.ExecContext(ctx, st.expired, time.Now().Unix())
	if err != nil {
		return 0, fmt.Errorf("sessions: sql delete expired: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sessions: sql delete expired: %w", err)
	}
	return n, nil
}

func (st *SQLStore) tx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
