package sessions_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/sessions"
)

func ExampleNewCookieStore() {
	// Sign with the new key; still accept cookies signed with the old one.
	newKey := []byte("a new secret key of at least 32 bytes!")
	oldKey := []byte("the old secret key, at least 32 bytes.")
	store, err := sessions.NewCookieStore(newKey, oldKey)
	if err != nil {
		fmt.Println(err)
		return
	}
	m := sessions.NewManager(store, sessions.Options{Secure: true})

	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessions.FromRequest(r)
		if r.URL.Path == "/visit" {
			s.Set("visited", "yes")
		}
		v, _ := s.Get("visited")
		fmt.Fprintf(w, "visited=%q", v)
	}))

	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest("GET", "/visit", nil))
	cookie := rr.Result().Cookies()[0]
	fmt.Println(cookie.Name, cookie.HttpOnly, cookie.Secure, cookie.SameSite == http.SameSiteLaxMode)

	again := httptest.NewRequest("GET", "/", nil)
	again.AddCookie(cookie)
	rr = httptest.NewRecorder()
	h.ServeHTTP(rr, again)
	fmt.Println(rr.Body)

	tampered := httptest.NewRequest("GET", "/", nil)
	tampered.AddCookie(&http.Cookie{Name: cookie.Name, Value: "x" + cookie.Value[1:]})
	rr = httptest.NewRecorder()
	h.ServeHTTP(rr, tampered)
	fmt.Println(rr.Body)
	// Output:
	// sessionid true true true
	// visited="yes"
	// visited=""
}

// Sessions in Redis, shared by every server that uses it: the cookie holds only the ID.
// (Not run: it needs a Redis server.)
func ExampleNewRedisStore() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close()
	m := sessions.NewManager(sessions.NewRedisStore(client, sessions.RedisOptions{}), sessions.Options{Secure: true})
	_ = m // m.Handler for net/http, sessions.Middleware (or auth.Stack) for scopes
}

// Sessions in PostgreSQL (or SQLite for one host). The library imports no driver: open db
// with one, e.g. pgx's stdlib, and name the dialect. (Not run: it needs a database.)
func ExampleNewSQLStore() {
	var db *sql.DB // sql.Open("pgx", os.Getenv("DATABASE_URL"))
	if db == nil {
		return
	}
	ctx := context.Background()
	store, err := sessions.NewSQLStore(db, sessions.PostgreSQL, sessions.SQLOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := store.CreateTable(ctx); err != nil {
		fmt.Println(err)
		return
	}
	m := sessions.NewManager(store, sessions.Options{Secure: true})
	_ = m
	// Now and then: store.DeleteExpired(ctx)
}
