package django_test

import (
	"context"
	"database/sql"
	"log"
	"os"

	"github.com/gochannels/gochannels/auth"
	"github.com/gochannels/gochannels/auth/django"
	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/sessions"
)

// A gochannels server for the users of a Django site whose sessions are in its PostgreSQL
// database (the default db engine). Open db with a driver, e.g. pgx:
// import _ "github.com/jackc/pgx/v5/stdlib" and sql.Open("pgx", url).
func ExampleNew() {
	var db *sql.DB // sql.Open("pgx", os.Getenv("DATABASE_URL"))
	site, err := django.New(django.Config{
		SecretKey: os.Getenv("DJANGO_SECRET_KEY"), // never in the code, never logged
		DB:        db,
		Dialect:   sessions.PostgreSQL,
	})
	if err != nil {
		log.Print(err) // for example: SecretKey (the site's SECRET_KEY) is empty
		return
	}
	chat := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		log.Printf("hello, %s", auth.UserFrom(scope).Username()) // a Django user
		return nil
	})
	srv := &channels.Server{Application: site.Middleware(auth.RequireUser(chat))}
	_ = srv
}
