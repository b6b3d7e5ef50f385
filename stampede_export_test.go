package cachedsql

import (
	"database/sql"
	"time"

	"github.com/cachedsql/cachedsql/lockstore"
)

// realDefaults are the store bounds a user gets. Package variables are initialized before any init
// function runs, so these are read before export_test.go relaxes the defaults for other tests.
var realDefaults = struct{ store, invalidate time.Duration }{defaultStoreTimeout, defaultInvalidateTimeout}

// RealDefaults sets o's store bounds to the defaults a user gets, whatever this package's tests relax.
func RealDefaults(o *Options) {
	o.StoreTimeout, o.InvalidateTimeout = realDefaults.store, realDefaults.invalidate
}

// FlightWaiters returns how many reads of db are waiting for another read's shared load.
func FlightWaiters(db *sql.DB) int {
	return db.Driver().(*connectorDriver).eng.flight.Waiting()
}

// WrapLeases replaces the fill leases of db's cache by wrap's result. Call it before db's first read.
func WrapLeases(db *sql.DB, wrap func(lockstore.Leases) lockstore.Leases) {
	e := db.Driver().(*connectorDriver).eng
	e.leases = wrap(e.leases)
}
