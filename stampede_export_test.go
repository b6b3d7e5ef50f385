package cachedsql

import (
	"database/sql"

	"github.com/cachedsql/cachedsql/lockstore"
)

// FlightWaiters returns how many reads of db are waiting for another read's shared load.
func FlightWaiters(db *sql.DB) int {
	return db.Driver().(*connectorDriver).eng.aside.Flight.Waiting()
}

// WrapLeases replaces the fill leases of db's cache by wrap's result. Call it before db's first read.
func WrapLeases(db *sql.DB, wrap func(lockstore.Leases) lockstore.Leases) {
	e := db.Driver().(*connectorDriver).eng
	e.aside.Leases = wrap(e.aside.Leases)
}
