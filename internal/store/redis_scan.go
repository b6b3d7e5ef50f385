package store

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// errStopScan ends a scan early when the callback returns false.
var errStopScan = errors.New("scan stopped")

// scanner is one node, or a client that SCAN reaches through one node.
type scanner interface {
	Scan(ctx context.Context, cursor uint64, match string, count int64) *redis.ScanCmd
}

// Scan implements [Store.Scan] with SCAN MATCH on every master of a Cluster
// (every shard of a Ring), or on the one server otherwise. As with SCAN, a
// key present for the whole scan is reported at least once and may be
// reported more than once; fn is never called concurrently.
func (r *Redis) Scan(ctx context.Context, prefix string, fn func(key string) bool) error {
	pattern := escapeGlob(prefix) + "*"
	var err error
	switch c := r.c.(type) {
	case masterRanger:
		err = scanNodes(ctx, c.ForEachMaster, pattern, prefix, fn)
	case shardRanger:
		err = scanNodes(ctx, c.ForEachShard, pattern, prefix, fn)
	default:
		err = scanNode(ctx, r.c, pattern, prefix, fn)
	}
	if err != nil && !errors.Is(err, errStopScan) {
		return wrap("scan", err)
	}
	return nil
}

// scanNodes scans each node that forEach visits. forEach runs its callback
// on several goroutines at once, so calls to fn are serialized, and once fn
// has returned false it is not called again.
func scanNodes(ctx context.Context,
	forEach func(context.Context, func(context.Context, *redis.Client) error) error,
	pattern, prefix string, fn func(string) bool) error {
	var mu sync.Mutex // serializes fn and guards stopped
	stopped := false
	serial := func(key string) bool {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return false
		}
		stopped = !fn(key)
		return !stopped
	}
	return forEach(ctx, func(ctx context.Context, c *redis.Client) error {
		return scanNode(ctx, c, pattern, prefix, serial)
	})
}

// scanNode runs SCAN to completion on one node, or until fn returns false,
// in which case it returns errStopScan.
func scanNode(ctx context.Context, s scanner, pattern, prefix string, fn func(string) bool) error {
	var cursor uint64
	for {
		keys, next, err := s.Scan(ctx, cursor, pattern, scanCount).Result()
		if err != nil {
			return err
		}
		for _, k := range keys {
			if strings.HasPrefix(k, prefix) && !fn(k) {
				return errStopScan
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// escapeGlob escapes the characters that SCAN MATCH treats as a pattern.
func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i := range len(s) {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
