package cachedsqlotel

import (
	"context"

	"github.com/cachedsql/cachedsql"
)

// Join returns an observer that tells every event to each of observers in turn, through the optional
// interfaces ([cachedsql.InvalidateObserver], [cachedsql.QueryObserver] …) each implements: use it to
// keep an observer the application already has beside an [Observer]. Nil observers are left out. The
// result implements every optional interface, so the cache reports every kind of event to it. It is
// safe for concurrent use if each of observers is.
func Join(observers ...cachedsql.Observer) cachedsql.Observer {
	j := &joined{}
	for _, o := range observers {
		if o == nil {
			continue
		}
		j.reads = append(j.reads, o)
		if x, ok := o.(cachedsql.InvalidateObserver); ok {
			j.invalidates = append(j.invalidates, x)
		}
		if x, ok := o.(cachedsql.StoreErrorObserver); ok {
			j.storeErrors = append(j.storeErrors, x)
		}
		if x, ok := o.(cachedsql.StampedeObserver); ok {
			j.stampedes = append(j.stampedes, x)
		}
		if x, ok := o.(cachedsql.QueryObserver); ok {
			j.queries = append(j.queries, x)
		}
	}
	return j
}

// joined is the observer of [Join]: the observers it tells, by interface, fixed at Join.
type joined struct {
	reads       []cachedsql.Observer
	invalidates []cachedsql.InvalidateObserver
	storeErrors []cachedsql.StoreErrorObserver
	stampedes   []cachedsql.StampedeObserver
	queries     []cachedsql.QueryObserver
}

var (
	_ cachedsql.InvalidateObserver = (*joined)(nil)
	_ cachedsql.StoreErrorObserver = (*joined)(nil)
	_ cachedsql.StampedeObserver   = (*joined)(nil)
	_ cachedsql.QueryObserver      = (*joined)(nil)
)

func (j *joined) ObserveRead(ctx context.Context, ev cachedsql.ReadEvent) {
	for _, o := range j.reads {
		o.ObserveRead(ctx, ev)
	}
}

func (j *joined) ObserveInvalidate(ctx context.Context, ev cachedsql.InvalidateEvent) {
	for _, o := range j.invalidates {
		o.ObserveInvalidate(ctx, ev)
	}
}

func (j *joined) ObserveStoreError(ctx context.Context, ev cachedsql.StoreErrorEvent) {
	for _, o := range j.storeErrors {
		o.ObserveStoreError(ctx, ev)
	}
}

func (j *joined) ObserveStampede(ctx context.Context, ev cachedsql.StampedeEvent) {
	for _, o := range j.stampedes {
		o.ObserveStampede(ctx, ev)
	}
}

func (j *joined) ObserveQuery(ctx context.Context, ev cachedsql.QueryEvent) {
	for _, o := range j.queries {
		o.ObserveQuery(ctx, ev)
	}
}
