// Package pgtest gives each test of the examples module a fresh PostgreSQL database: the
// server at 127.0.0.1:5432 (user postgres, trust), or the one TEST_POSTGRES_URL names. A test
// gets a database with a random name, dropped when it ends. Without a server the test skips
// with a message, and fails under CI=true (redistest.SkipOrFail).
package pgtest

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

	"github.com/gochannels/gochannels/internal/redistest"
)

// EnvURL names the environment variable that may hold the administration URL of the test
// server (a database the tests connect to for CREATE DATABASE and DROP DATABASE).
const EnvURL = "TEST_POSTGRES_URL"

// DefaultURL is the PostgreSQL server of the development machines and CI.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Database is a database made for one test.
type Database struct {
	Name string  // its random name
	URL  string  // a postgres:// URL for it
	DB   *sql.DB // a pool on it (driver "pgx"), closed when the test ends
}

// New creates a database with a random name on the test server and drops it (WITH FORCE,
// so connections a test left open do not keep it) when the test ends; it skips the test when
// there is no server, and fails it under CI=true.
func New(t testing.TB) *Database {
	t.Helper()
	admin := os.Getenv(EnvURL)
	if admin == "" {
		admin = DefaultURL
	}
	adb, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := adb.PingContext(ctx); err != nil {
		adb.Close()
		redistest.SkipOrFail(t, "no PostgreSQL at "+redacted(admin)+" ("+err.Error()+"); start one or set "+EnvURL)
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
		adb.Close()
		t.Fatal(err)
	}
	u.Path = "/" + name
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		adb.Close()
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
	return &Database{Name: name, URL: u.String(), DB: db}
}

// redacted hides a password in a URL for the skip message.
func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable " + EnvURL + ")"
	}
	return u.Redacted()
}
