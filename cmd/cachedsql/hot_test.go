package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql/internal/store"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// TestRunHot: `cachedsql hot` lists each rule's hot set under the namespace, top members first, and
// skips keys under h: that are not sorted sets.
func TestRunHot(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t), testenv.Prefix(t)
	ns := strings.TrimSuffix(prefix, ":")
	st := store.NewRedis(rdb)
	feeds := map[string]map[string]float64{
		"users":  {prefix + "q:aa": 3, prefix + "q:bb": 7.5, prefix + "q:cc": 1},
		"orders": {prefix + "q:dd": 2},
	}
	for rule, hits := range feeds {
		if err := st.AddHot(ctx, prefix+"h:"+rule, hits, 0.5, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.Set(ctx, prefix+"h:not-a-set", "x", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	url := "redis://" + testenv.RedisAddr(t) + "/0"

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"top two", []string{"-redis", url, "-namespace", ns, "-n", "2"},
			"rule orders (" + prefix + "h:orders): 1 shown\n" +
				"           2  " + prefix + "q:dd\n" +
				"rule users (" + prefix + "h:users): 2 shown\n" +
				"         7.5  " + prefix + "q:bb\n" +
				"           3  " + prefix + "q:aa\n"},
		{"empty namespace", []string{"-redis", url, "-namespace", ns + "-none"},
			"no hot sets under " + ns + "-none:h:*\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := runHot(ctx, tt.args, &out); err != nil {
				t.Fatalf("runHot: %v\n%s", err, out.String())
			}
			if got := out.String(); got != tt.want {
				t.Errorf("output:\ngot\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestRunHotUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no redis", nil},
		{"bad n", []string{"-redis", "redis://127.0.0.1:1/0", "-n", "0"}},
		{"bad url", []string{"-redis", "http://nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := runHot(context.Background(), tt.args, &out); err == nil {
				t.Errorf("runHot(%q): got nil error, want an error", tt.args)
			}
		})
	}
}
