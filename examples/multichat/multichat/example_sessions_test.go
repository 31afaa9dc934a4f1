package multichat_test

import (
	"fmt"

	"github.com/gochannels/gochannels/examples/multichat/multichat"
)

// The session store a process uses when -sessions is not given: the database's table with
// PostgreSQL (shared by every host), signed cookies with an SQLite file (one host). Database
// URLs are logged without their password.
func ExampleDefaultSessions() {
	for _, db := range []string{"multichat.db", "postgres://chat:s3cret@db.internal/multichat"} {
		fmt.Println(multichat.RedactDSN(db), "→", multichat.DefaultSessions(db))
	}
	// Output:
	// multichat.db → cookie
	// postgres://chat:xxxxx@db.internal/multichat → db
}
