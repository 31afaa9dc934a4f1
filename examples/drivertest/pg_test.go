package drivertest

import (
	"database/sql"
	"testing"

	_ "modernc.org/sqlite" // SQLite driver "sqlite"

	"github.com/gochannels/gochannels/examples/internal/pgtest"
)

// newPostgres makes a database for the test (pgtest.New: skipped without a server, a
// failure under CI=true) and drops it when the test ends.
func newPostgres(t *testing.T) *pgtest.Database { return pgtest.New(t) }

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
