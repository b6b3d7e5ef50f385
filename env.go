package cachedsql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"os"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Environment variables read by [RegisterFromEnv] and [OptionsFromEnv].
const (
	// EnvRules lists rule files or folders, separated by the OS path list separator (":" on Unix).
	EnvRules = "CACHEDSQL_RULES"
	// EnvRedisURL is a Redis URL such as redis://user:pass@host:6379/0 or rediss://…; a URL with
	// several addr= parameters opens a cluster client. Unset: the in-process store.
	EnvRedisURL = "CACHEDSQL_REDIS_URL"
	// EnvNamespace is the key prefix (Options.Namespace).
	EnvNamespace = "CACHEDSQL_NAMESPACE"
	// EnvStoreTimeout is Options.StoreTimeout as a Go duration ("50ms").
	EnvStoreTimeout = "CACHEDSQL_STORE_TIMEOUT"
	// EnvSessionSettings is Options.SessionSettings: custom setting names separated by commas
	// ("app.tenant,app.region").
	EnvSessionSettings = "CACHEDSQL_SESSION_SETTINGS"
)

// OptionsFromEnv builds Options from the CACHEDSQL_* environment variables (see [OptionsFromLookup]).
// The Redis client it may create has ContextTimeoutEnabled set, does not retry a failed command unless
// the URL sets max_retries (a failure goes to the database at once), and is owned by the caller. A value that
// cannot be used is reported as an [*EnvError].
func OptionsFromEnv() (Options, error) {
	return OptionsFromLookup(os.Getenv)
}

func redisFromURL(u string) (redis.UniversalClient, error) {
	if strings.Count(u, "addr=") > 0 {
		co, err := redis.ParseClusterURL(u)
		if err != nil {
			return nil, err
		}
		co.ContextTimeoutEnabled = true
		if co.MaxRetries == 0 { // not set by the URL: fail open at once rather than retry within StoreTimeout
			co.MaxRetries = -1
		}
		return redis.NewClusterClient(co), nil
	}
	o, err := redis.ParseURL(u)
	if err != nil {
		return nil, err
	}
	o.ContextTimeoutEnabled = true
	if o.MaxRetries == 0 { // not set by the URL: fail open at once rather than retry within StoreTimeout
		o.MaxRetries = -1
	}
	return redis.NewClient(o), nil
}

// RegisterFromEnv registers, as name, a caching driver over parent configured from the environment
// (see [OptionsFromEnv]) when the first database is opened with it. A bad configuration is reported
// then, by sql.Open's first use (a rule file error names its file and line). It panics, as
// [sql.Register] does, if name is taken.
func RegisterFromEnv(name string, parent driver.Driver) {
	if parent == nil {
		panic("cachedsql: RegisterFromEnv: nil parent driver")
	}
	sql.Register(name, &envDriver{parent: parent})
}

// envDriver reads its options once, on first use.
type envDriver struct {
	parent driver.Driver
	once   sync.Once
	drv    *cachingDriver
	err    error
}

func (d *envDriver) load() (*cachingDriver, error) {
	d.once.Do(func() {
		opts, err := OptionsFromEnv()
		if err != nil {
			d.err = err
			return
		}
		if _, err := opts.withDefaults(); err != nil {
			d.err = err
			return
		}
		d.drv = &cachingDriver{parent: d.parent, opts: opts}
	})
	return d.drv, d.err
}

func (d *envDriver) Open(dsn string) (driver.Conn, error) {
	c, err := d.OpenConnector(dsn)
	if err != nil {
		return nil, err
	}
	return c.Connect(context.Background())
}

func (d *envDriver) OpenConnector(dsn string) (driver.Connector, error) {
	drv, err := d.load()
	if err != nil {
		return nil, err
	}
	return drv.OpenConnector(dsn)
}
