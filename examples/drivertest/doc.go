// Package drivertest holds the tests of the library's parts that need a database driver:
// sessions.SQLStore and auth/django's db engine, against a real PostgreSQL (pgx's stdlib
// driver) and SQLite (modernc.org/sqlite). The library imports no driver, so these tests
// live in the examples module, which carries the drivers for the examples anyway.
//
// PostgreSQL is the server at 127.0.0.1:5432 (user postgres, trust), or the one that the
// TEST_POSTGRES_URL environment variable names; each test run makes its own database and
// drops it. Without PostgreSQL the tests skip with a message, and fail under CI=true.
package drivertest
