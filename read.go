package cachedsql

import (
	"context"
	"database/sql/driver"
	"time"

	"github.com/cachedsql/cachedsql/internal/wrap"
	"github.com/cachedsql/cachedsql/strategies"
)

// read is a read that a rule matched and that may use the cache (routeRead). It names the entry, which
// depends on the statement, its arguments and the database, and the generation tokens the entry
// records, then hands the read to the cache-aside strategy (strategies.CacheAside.Read: lookup, hit or
// miss, and a miss's load under stampede control). Its events come back to p (events.go).
func (e *engine) read(ctx context.Context, p *plan, args []driver.NamedValue, ctl control, next wrap.QueryFunc) (driver.Rows, error) {
	start := time.Now()
	h, why := e.hashArgs(p, args)
	if why != bypassNone {
		return e.bypassRead(ctx, p, why, next)
	}
	// req stays on the stack on the hit path; the strategy copies it to the heap for a miss.
	req := strategies.Request{Policy: &p.rule.policy, Subject: p, TTL: p.rule.TTL, Args: args, Delta: &p.delta,
		Start: start, Force: ctl.refresh, Background: ctl.background, NoLease: ctl.writeThrough}
	if p.row == nil {
		req.Key, req.TokenKeys = e.entries.Entry(p.st, h), p.readKeys
	} else if why := e.rowTarget(p, args, h, &req); why != bypassNone {
		return e.bypassRead(ctx, p, why, next)
	}
	if ctl.ttl > 0 {
		req.TTL = ctl.ttl
	}
	return e.aside.Read(ctx, &req, next)
}
