package sessions

import (
	"context"
	"testing"
)

func BenchmarkCookieStoreLoad(b *testing.B) {
	cs := mustCookieStore(b, key1, key2)
	s := New()
	s.Set("_auth_user_id", "12345")
	s.Set("room", "lobby")
	v, _ := cs.Save(context.Background(), s)
	b.ReportAllocs()
	for b.Loop() {
		if got, _ := cs.Load(context.Background(), v); got.IsNew() {
			b.Fatal("not loaded")
		}
	}
}

func BenchmarkCookieStoreSave(b *testing.B) {
	cs := mustCookieStore(b, key1)
	s := New()
	s.Set("_auth_user_id", "12345")
	s.Set("room", "lobby")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cs.Save(context.Background(), s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemoryStoreLoad(b *testing.B) {
	ms := NewMemoryStore()
	s := New()
	s.Set("_auth_user_id", "12345")
	v, _ := ms.Save(context.Background(), s)
	b.ReportAllocs()
	for b.Loop() {
		if got, _ := ms.Load(context.Background(), v); got.IsNew() {
			b.Fatal("not loaded")
		}
	}
}
