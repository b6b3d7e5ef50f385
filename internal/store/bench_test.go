package store_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// sink keeps benchmark results alive.
var sink []byte

// BenchmarkFetchHit measures a cache hit: an entry plus two tokens, from
// Memory and from Redis, next to the go-redis baselines of one GET of the
// same value and of the same three GETs as a raw pipeline.
func BenchmarkFetchHit(b *testing.B) {
	ctx := context.Background()
	value := bytes.Repeat([]byte("row\x00"), 256) // 1 KiB
	setup := func(b *testing.B, s store.Store, prefix string) (string, []string) {
		b.Helper()
		key, tokenKeys := prefix+"entry", []string{prefix + "t:users", prefix + "t:orders"}
		if err := s.Set(ctx, key, value, time.Hour); err != nil {
			b.Fatal(err)
		}
		if err := s.EnsureTokens(ctx, tokenKeys, make([]uint64, len(tokenKeys))); err != nil {
			b.Fatal(err)
		}
		return key, tokenKeys
	}
	fetchLoop := func(b *testing.B, s store.Store, key string, tokenKeys []string) {
		tokens := make([]uint64, len(tokenKeys))
		b.ReportAllocs()
		for b.Loop() {
			v, err := s.Fetch(ctx, key, tokenKeys, tokens)
			if err != nil || v == nil {
				b.Fatalf("Fetch = %d bytes, %v; want a hit", len(v), err)
			}
			sink = v
		}
	}

	b.Run("memory", func(b *testing.B) {
		s := store.NewMemory(store.MemoryOptions{})
		key, tokenKeys := setup(b, s, "bench:")
		fetchLoop(b, s, key, tokenKeys)
	})
	b.Run("redis", func(b *testing.B) {
		s := store.NewRedis(testenv.Redis(b))
		key, tokenKeys := setup(b, s, testenv.Prefix(b))
		fetchLoop(b, s, key, tokenKeys)
	})
	b.Run("redis-raw-get", func(b *testing.B) {
		c := testenv.Redis(b)
		key, _ := setup(b, store.NewRedis(c), testenv.Prefix(b))
		b.ReportAllocs()
		for b.Loop() {
			v, err := c.Get(ctx, key).Bytes()
			if err != nil {
				b.Fatal(err)
			}
			sink = v
		}
	})
	b.Run("redis-raw-pipeline", func(b *testing.B) {
		c := testenv.Redis(b)
		key, tokenKeys := setup(b, store.NewRedis(c), testenv.Prefix(b))
		b.ReportAllocs()
		for b.Loop() {
			pipe := c.Pipeline()
			get := pipe.Get(ctx, key)
			for _, k := range tokenKeys {
				pipe.Get(ctx, k)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
			sink, _ = get.Bytes()
		}
	})
}
