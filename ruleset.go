package cachedsql

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachedsql/cachedsql/internal/store"
)

// ruleSet is one generation of an engine's rules, with what is derived from them. SetRules replaces it
// whole. A plan records the set it was made under (planCache.get makes a new plan when the set has
// changed), and a read runs entirely under its plan: reads that began before a replacement finish under
// the rules they began with, and reads that begin after it use the new ones.
type ruleSet struct {
	rules *Rules // nil: no rules
	// counters holds each rule's counters by name; a rule that a replacement keeps (by name) keeps them.
	counters map[string]*ruleCounters
	// states holds the state of each row rule; own the key column sets of the row rules, by table.
	states map[*Rule]*rowState
	own    map[string][][]string
	// wt is what write-through needs (its plans are made once the key layouts are known: rowsReady).
	wt writeThroughs
}

// rulesState is the engine's current rule set, and what keeps replacements in order.
type rulesState struct {
	cur atomic.Pointer[ruleSet]
	// mu orders replacements, and the completion of the first set once the identity is known.
	mu sync.Mutex
	// ready is set (under mu) once the key layouts are known: plans can name tokens.
	ready bool
}

// ruleSet returns the engine's current rule set.
func (e *engine) ruleSet() *ruleSet { return e.rs.cur.Load() }

// newRuleSet derives a rule set from rules, keeping the counters of the rules prev also has.
func newRuleSet(rules *Rules, prev *ruleSet) *ruleSet {
	rs := &ruleSet{rules: rules, counters: make(map[string]*ruleCounters), states: make(map[*Rule]*rowState),
		own: make(map[string][][]string)}
	if rules == nil {
		return rs
	}
	for i := range rules.rules {
		r := &rules.rules[i].rule
		if prev != nil && prev.counters[r.Name] != nil {
			rs.counters[r.Name] = prev.counters[r.Name]
		} else {
			rs.counters[r.Name] = new(ruleCounters)
		}
		if r.Disabled {
			continue
		}
		if r.row != nil {
			rs.states[r] = new(rowState)
			t := r.row.table
			if !slices.ContainsFunc(rs.own[t], func(ks []string) bool { return slices.Equal(ks, r.row.key) }) {
				rs.own[t] = append(rs.own[t], r.row.key)
			}
		} else if r.WriteThrough {
			rs.wt.sets = append(rs.wt.sets, r)
		}
	}
	return rs
}

// counter returns the counters of the named rule (detached ones for a rule the set does not know).
func (rs *ruleSet) counter(name string) *ruleCounters {
	if c, ok := rs.counters[name]; ok {
		return c
	}
	return new(ruleCounters)
}

// planThrough makes the plans of rs's write-through row rules, which name tokens: only once the key
// layouts are known.
func (e *engine) planThrough(rs *ruleSet) {
	rs.wt.rows = make(map[string][]*plan)
	if rs.rules == nil {
		return
	}
	for i := range rs.rules.rules {
		r := &rs.rules.rules[i].rule
		if r.Disabled || r.row == nil || !r.WriteThrough {
			continue
		}
		// Only if the rule decides for its own statement (an earlier rule may match it first).
		if p := e.newPlan(rs, r.Match.SQL); p.rule == r {
			rs.wt.rows[r.row.table] = append(rs.wt.rows[r.row.table], p)
		}
	}
}

// initRows completes the first rule set once the key layouts are known (adopt).
func (e *engine) initRows() {
	e.rs.mu.Lock()
	defer e.rs.mu.Unlock()
	e.rs.ready = true
	e.planThrough(e.ruleSet())
}

// setRules makes rules (nil: none) the engine's rules.
func (e *engine) setRules(rules *Rules) {
	e.rs.mu.Lock()
	defer e.rs.mu.Unlock()
	rs := newRuleSet(rules, e.ruleSet())
	if e.rs.ready {
		e.planThrough(rs)
	}
	if r, ok := e.st.(*store.Redis); ok {
		r.LimitValues(maxEntryBytes(rules))
	}
	e.rs.cur.Store(rs)
}

// SetRules replaces the rules of the cache behind db (which must have been opened through this
// package, like [StatsOf]'s) with rules; nil leaves no rule, so every read bypasses the cache. The
// replacement is atomic: a read that began before it finishes under the rules it began with, and every
// read that begins after SetRules has returned uses the new ones. Writes invalidate whatever rules are
// in force. A rule kept by name keeps its counters in [Stats.Rules]; a removed rule's counters go.
// Entries filled under a removed or changed rule keep the TTL they were filled with; one is served to a
// read under a new rule only if that read computes the same key (the same statement and arguments, or
// row key) and the entry's generation tokens are current: never after a write has made it stale.
//
// Rule files: load them with [LoadRules] (which reports problems with file and line) and pass the result;
// a file that does not load leaves the rules in force untouched. [WatchRules] does this when files change.
func SetRules(db *sql.DB, rules *Rules) error {
	d, ok := db.Driver().(*connectorDriver)
	if !ok {
		return errNotCaching
	}
	d.eng.setRules(rules)
	return nil
}

// WatchRules keeps the rules of db (see [SetRules]) those of the rule files paths, as [LoadRules]
// reads them (files and folders). It loads them once and fails if they do not load; then it checks the
// files every interval (a second when interval ≤ 0) until ctx ends, and when a file was added, removed
// or changed (its size or modification time), loads them again. A set that does not load leaves the
// rules in force, and its error, with file and line, goes to onLoad (nil: dropped); a set that loads
// and is in force goes there as a nil error, so that a caller can log each reload. Write a file by renaming a complete one into
// place: a half-written file does not load and is retried at the next change.
func WatchRules(ctx context.Context, db *sql.DB, interval time.Duration, onLoad func(error), paths ...string) error {
	d, ok := db.Driver().(*connectorDriver)
	if !ok {
		return errNotCaching
	}
	if interval <= 0 {
		interval = time.Second
	}
	stamp := ruleStamp(paths)
	rules, err := LoadRules(paths...)
	if err != nil {
		return err
	}
	d.eng.setRules(rules)
	report := func(err error) {
		if onLoad != nil {
			onLoad(err)
		}
	}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			now := ruleStamp(paths)
			if now == stamp {
				continue
			}
			stamp = now
			rules, err := LoadRules(paths...)
			if err != nil {
				report(err)
				continue
			}
			d.eng.setRules(rules)
			report(nil)
		}
	}()
	return nil
}

// ruleStamp describes the rule files of paths as they are now: names, sizes and modification times.
func ruleStamp(paths []string) string {
	files, errs := ruleFiles(paths)
	var b strings.Builder
	for _, name := range files {
		fmt.Fprintf(&b, "%s\x00", name)
		if fi, err := os.Stat(name); err == nil {
			fmt.Fprintf(&b, "%d\x00%d\x00", fi.Size(), fi.ModTime().UnixNano())
		}
	}
	fmt.Fprintf(&b, "%d", len(errs))
	return b.String()
}
