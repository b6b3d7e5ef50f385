package testenv

import (
	"errors"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestStartRedisStopStart(t *testing.T) {
	srv := StartRedis(t)
	addr := srv.Addr()
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Set(ctx(t), "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET on fresh server: %v", err)
	}

	srv.Stop()
	if err := rdb.Ping(ctx(t)).Err(); err == nil {
		t.Fatal("PING after Stop = nil, want an error")
	}

	srv.Start()
	if got := srv.Addr(); got != addr {
		t.Errorf("Addr after restart = %s, want %s", got, addr)
	}
	if err := rdb.Ping(ctx(t)).Err(); err != nil {
		t.Fatalf("PING after Start = %v, want nil", err)
	}
	if err := rdb.Get(ctx(t), "k").Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("GET k after restart = %v, want redis.Nil (nothing persisted)", err)
	}
}

func TestHints(t *testing.T) {
	cause := errors.New("connection refused")
	tests := []struct {
		name string
		got  string
		want []string
	}{
		{
			name: "redis",
			got:  redisHint("127.0.0.1:6379", cause),
			want: []string{
				"testenv: no Redis at 127.0.0.1:6379",
				"connection refused",
				`redis-server --save "" --appendonly no --port 6379 --bind 127.0.0.1`,
				"CACHEDSQL_TEST_REDIS",
			},
		},
		{
			name: "postgres",
			got:  postgresHint("postgres://postgres:secret@127.0.0.1:5432/test?sslmode=disable", cause),
			want: []string{
				"testenv: no PostgreSQL at postgres://postgres:xxxxx@127.0.0.1:5432/test",
				"connection refused",
				"pg_ctlcluster <version> main start",
				"CACHEDSQL_TEST_PG",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, w := range tt.want {
				if !strings.Contains(tt.got, w) {
					t.Errorf("hint = %q\nwant it to contain %q", tt.got, w)
				}
			}
			if strings.Contains(tt.got, "secret") {
				t.Errorf("hint = %q, shows the password", tt.got)
			}
		})
	}
}

func TestWithSearchPath(t *testing.T) {
	tests := []struct {
		name, dsn, want string
	}{
		{"url", "postgres://u@h:5432/db?sslmode=disable", "postgres://u@h:5432/db?search_path=t_1&sslmode=disable"},
		{"url replaces", "postgresql://u@h/db?search_path=public", "postgresql://u@h/db?search_path=t_1"},
		{"keyword/value", "host=h user=u dbname=db", "host=h user=u dbname=db search_path=t_1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := withSearchPath(tt.dsn, "t_1"); got != tt.want {
				t.Errorf("withSearchPath(%q) = %q, want %q", tt.dsn, got, tt.want)
			}
		})
	}
}
