package sessions_test

import (
	"context"
	"testing"
	"time"

	"github.com/gochannels/gochannels/internal/redistest"
	"github.com/gochannels/gochannels/internal/storetest"
	"github.com/gochannels/gochannels/sessions"
)

func TestRedisStore(t *testing.T) {
	srv := redistest.StartPrivate(t)
	client := srv.Client()
	st := sessions.NewRedisStore(client, sessions.RedisOptions{Prefix: "test:sess:"})
	storetest.Run(t, st)
	t.Run("Manager", func(t *testing.T) { storetest.Manager(t, st) })

	t.Run("TTL", func(t *testing.T) {
		ctx := t.Context()
		s := sessions.Restore(sessions.NewID(), map[string]string{"a": "1"}, time.Now().Add(time.Hour))
		if _, err := st.Save(ctx, s); err != nil {
			t.Fatal(err)
		}
		ttl, err := client.PTTL(ctx, "test:sess:"+s.ID()).Result()
		if err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
			t.Fatalf("PTTL = %v, %v; want the session's expiry as the key's TTL", ttl, err)
		}
		// Redis drops the key at its expiry: the session no longer loads.
		short := sessions.Restore(sessions.NewID(), map[string]string{"a": "1"}, time.Now().Add(1100*time.Millisecond))
		if _, err := st.Save(ctx, short); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			n, err := client.Exists(ctx, "test:sess:"+short.ID()).Result()
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the expired session's key is still in Redis")
			}
			time.Sleep(50 * time.Millisecond) // polling the condition, bounded
		}
		if got, _ := st.Load(ctx, short.ID()); !got.IsNew() {
			t.Fatal("expired session loaded")
		}
	})

	t.Run("RedisDown", func(t *testing.T) {
		srv.Kill()
		defer srv.Restart()
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := st.Load(ctx, sessions.NewID()); err == nil {
			t.Fatal("Load with Redis down: no error")
		}
		if _, err := st.Save(ctx, sessions.New()); err == nil {
			t.Fatal("Save with Redis down: no error")
		}
	})
}

// TestRedisStoreCluster runs the Store checks on a Redis Cluster: a session's keys (its ID
// and its previous ID) live in different slots, so the store never puts two in one command.
func TestRedisStoreCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	client := c.Client()
	st := sessions.NewRedisStore(client, sessions.RedisOptions{})
	storetest.Run(t, st)
}
