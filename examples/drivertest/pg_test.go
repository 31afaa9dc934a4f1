package drivertest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	_ "modernc.org/sqlite"             // SQLite driver "sqlite"

	"github.com/gochannels/gochannels/internal/redistest"
)

// defaultPostgresURL is the PostgreSQL server of the development machines and CI.
const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// pgDatabase is a database made for one test.
type pgDatabase struct {
	Name string
	URL  string
	DB   *sql.DB
}

// newPostgres creates a database with a random name on the test server and drops it when
// the test ends; it skips the test when there is no server (fails under CI=true).
func newPostgres(t *testing.T) *pgDatabase {
	t.Helper()
	admin := os.Getenv("TEST_POSTGRES_URL")
	if admin == "" {
		admin = defaultPostgresURL
	}
	adb, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := adb.PingContext(ctx); err != nil {
		adb.Close()
		redistest.SkipOrFail(t, "no PostgreSQL at "+admin+" ("+err.Error()+"); start one or set TEST_POSTGRES_URL")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "gochannels_test_" + hex.EncodeToString(b[:])
	if _, err := adb.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		adb.Close()
		t.Fatalf("create database: %v", err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := adb.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		adb.Close()
	})
	return &pgDatabase{Name: name, URL: u.String(), DB: db}
}

// newSQLite opens a fresh SQLite file in the test's temporary directory.
func newSQLite(t *testing.T) (*sql.DB, string) {
	t.Helper()
	path := t.TempDir() + "/db.sqlite3"
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}
