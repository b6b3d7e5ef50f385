package cachedsql

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// EnvError reports a CACHEDSQL_* variable whose value cannot be used. [OptionsFromEnv] and
// [OptionsFromLookup] return it, so that a tool that also takes the value from a flag can say which
// of the two was wrong.
type EnvError struct {
	Var string // the variable, such as [EnvRedisURL]
	Err error  // what is wrong with its value
}

// Error returns "cachedsql: VAR: what is wrong".
func (e *EnvError) Error() string { return "cachedsql: " + e.Var + ": " + e.Err.Error() }

// Unwrap returns the underlying error, such as a rule file's [*RuleError]s.
func (e *EnvError) Unwrap() error { return e.Err }

// OptionsFromLookup builds Options as [OptionsFromEnv] does, reading each CACHEDSQL_* variable
// through getenv instead of the process environment (an empty value counts as unset). The cachedsql
// command uses it to let its flags override the environment. The Redis client it may create has
// ContextTimeoutEnabled set, does not retry unless the URL sets max_retries, and is owned by the caller.
// It panics if getenv is nil.
func OptionsFromLookup(getenv func(name string) string) (Options, error) {
	var o Options
	o.Namespace = getenv(EnvNamespace)
	if paths := getenv(EnvRules); paths != "" {
		rs, err := LoadRules(filepath.SplitList(paths)...)
		if err != nil {
			return o, &EnvError{Var: EnvRules, Err: err}
		}
		o.Rules = rs
	}
	if v := getenv(EnvStoreTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return o, &EnvError{Var: EnvStoreTimeout, Err: fmt.Errorf("want a positive duration such as 50ms, got %q", v)}
		}
		o.StoreTimeout = d
	}
	for name := range strings.SplitSeq(getenv(EnvSessionSettings), ",") {
		if name = strings.TrimSpace(name); name != "" {
			o.SessionSettings = append(o.SessionSettings, name)
		}
	}
	if u := getenv(EnvRedisURL); u != "" {
		c, err := redisFromURL(u)
		if err != nil {
			return o, &EnvError{Var: EnvRedisURL, Err: err}
		}
		o.Redis = c
	}
	return o, nil
}
