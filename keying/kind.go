package keying

// Kind says what a statement does. The wrapper uses it to choose a path:
// only [KindRead] statements may be served from the cache, and every other
// kind either changes data, changes the session, or controls a transaction.
type Kind uint8

// The kinds of statement Analyze recognises.
const (
	// KindOther is a statement Analyze does not recognise (EXPLAIN, DO, CALL,
	// EXECUTE, COMMIT PREPARED, unbalanced text, …). Callers treat it as a
	// write that touches every table; its Statement has AllTables set.
	KindOther Kind = iota
	// KindRead is SELECT, VALUES, TABLE t, WITH … SELECT, SHOW and COPY … TO.
	KindRead
	// KindWrite is INSERT, UPDATE, DELETE, REPLACE, MERGE, TRUNCATE,
	// COPY … FROM, upserts and statements with a data-modifying CTE.
	KindWrite
	// KindDDL is CREATE, ALTER, DROP, RENAME, COMMENT ON, GRANT, REVOKE,
	// REINDEX, VACUUM, ANALYZE, CLUSTER, REFRESH MATERIALIZED VIEW and
	// SELECT … INTO (which creates a table in PostgreSQL).
	KindDDL
	// KindSession changes the state of the connection or session: SET (also
	// SET LOCAL and SET TRANSACTION), RESET, DISCARD, USE, PRAGMA, LISTEN,
	// UNLISTEN, NOTIFY, PREPARE, DEALLOCATE, cursors, LOCK, ATTACH, DETACH.
	KindSession
	// KindBegin is BEGIN or START TRANSACTION.
	KindBegin
	// KindCommit is COMMIT or END.
	KindCommit
	// KindRollback is ROLLBACK or ABORT, but not ROLLBACK TO SAVEPOINT.
	KindRollback
	// KindSavepoint is SAVEPOINT, RELEASE [SAVEPOINT] and
	// ROLLBACK TO [SAVEPOINT].
	KindSavepoint
)

var kindNames = [...]string{
	KindOther:     "other",
	KindRead:      "read",
	KindWrite:     "write",
	KindDDL:       "ddl",
	KindSession:   "session",
	KindBegin:     "begin",
	KindCommit:    "commit",
	KindRollback:  "rollback",
	KindSavepoint: "savepoint",
}

// String returns the lower-case name of k, such as "read" or "ddl".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + itoa(int(k)) + ")"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
