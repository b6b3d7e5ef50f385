package cachedsql_test

import (
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cachedsql/cachedsql"
)

// TestOptionsFromLookup: the variables are read through the function given, a bad value is an
// *EnvError naming its variable, and a URL with addr= parameters opens a cluster client.
func TestOptionsFromLookup(t *testing.T) {
	env := map[string]string{
		cachedsql.EnvNamespace:       "ns",
		cachedsql.EnvStoreTimeout:    "75ms",
		cachedsql.EnvSessionSettings: "app.tenant, app.region",
		cachedsql.EnvRedisURL:        "redis://127.0.0.1:1?addr=127.0.0.1:2",
		cachedsql.EnvRules:           "testdata/lint/warnings.yaml",
	}
	o, err := cachedsql.OptionsFromLookup(func(name string) string { return env[name] })
	if err != nil {
		t.Fatal(err)
	}
	defer o.Redis.Close()
	if _, ok := o.Redis.(*redis.ClusterClient); !ok {
		t.Errorf("Redis: %T, want a cluster client", o.Redis)
	}
	if o.Namespace != "ns" || o.StoreTimeout != 75*time.Millisecond || len(o.SessionSettings) != 2 || len(o.Rules.All()) != 6 {
		t.Errorf("options: %+v", o)
	}
	for _, v := range []string{cachedsql.EnvStoreTimeout, cachedsql.EnvRedisURL, cachedsql.EnvRules} {
		bad := map[string]string{cachedsql.EnvStoreTimeout: "-1s", cachedsql.EnvRedisURL: "http://x", cachedsql.EnvRules: "testdata/no-such.yaml"}
		_, err := cachedsql.OptionsFromLookup(func(name string) string {
			if name == v {
				return bad[v]
			}
			return ""
		})
		var ee *cachedsql.EnvError
		if !errors.As(err, &ee) || ee.Var != v {
			t.Errorf("%s=%s: error %v, want an *EnvError naming it", v, bad[v], err)
		}
	}
}
