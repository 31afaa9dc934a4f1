package drivertest

import (
	"database/sql"
	"testing"
	"time"

	"github.com/gochannels/gochannels/internal/storetest"
	"github.com/gochannels/gochannels/sessions"
)

func testSQLStore(t *testing.T, db *sql.DB, dialect sessions.Dialect) {
	ctx := t.Context()
	st, err := sessions.NewSQLStore(db, dialect, sessions.SQLOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateTable(ctx); err != nil {
		t.Fatalf("CreateTable twice: %v", err)
	}
	storetest.Run(t, st)
	t.Run("Manager", func(t *testing.T) { storetest.Manager(t, st) })
	t.Run("DeleteExpired", func(t *testing.T) {
		// A row past its expiry, as a crashed server would leave it.
		id := sessions.NewID()
		q := "INSERT INTO gochannels_session (id, data, expires_at) VALUES (?, '{}', ?)"
		if dialect == sessions.PostgreSQL {
			q = "INSERT INTO gochannels_session (id, data, expires_at) VALUES ($1, '{}', $2)"
		}
		if _, err := db.ExecContext(ctx, q, id, time.Now().Add(-time.Minute).Unix()); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.Load(ctx, id); !got.IsNew() {
			t.Fatal("expired row loaded")
		}
		n, err := st.DeleteExpired(ctx)
		if err != nil || n < 1 {
			t.Fatalf("DeleteExpired = %d, %v", n, err)
		}
		var left int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM gochannels_session WHERE expires_at <= "+itoa(time.Now().Unix())).Scan(&left); err != nil || left != 0 {
			t.Fatalf("expired rows left: %d, %v", left, err)
		}
	})
}

func TestSQLStorePostgreSQL(t *testing.T) {
	pg := newPostgres(t)
	testSQLStore(t, pg.DB, sessions.PostgreSQL)
}

func TestSQLStoreSQLite(t *testing.T) {
	db, _ := newSQLite(t)
	testSQLStore(t, db, sessions.SQLite)
}

func TestNewSQLStoreRefuses(t *testing.T) {
	db, _ := newSQLite(t)
	for _, tc := range []struct {
		d     sessions.Dialect
		table string
	}{{0, ""}, {sessions.SQLite, "bad name"}, {sessions.PostgreSQL, "x; DROP TABLE y"}, {sessions.SQLite, "1abc"}} {
		if _, err := sessions.NewSQLStore(db, tc.d, sessions.SQLOptions{Table: tc.table}); err == nil {
			t.Errorf("NewSQLStore(%v, %q) succeeded", tc.d, tc.table)
		}
	}
}
