package cachedsql

import (
	"testing"

	"github.com/cachedsql/cachedsql/keying"
)

// TestSessionState runs statement sequences through the session tracking of a connection and checks
// whether the connection is back at the pool's baseline. PostgreSQL's RESET ALL leaves the role, the
// session user and temporary tables alone (checked on PostgreSQL 15), and a reset inside a transaction
// may be rolled back.
func TestSessionState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		stmts   []string
		inTx    []bool // per statement; nil: none in a transaction
		changed bool
	}{
		{[]string{"SET search_path = x", "RESET ALL"}, nil, false},
		{[]string{"SET ROLE r", "RESET ALL"}, nil, true},
		{[]string{"SET ROLE r", "RESET ROLE"}, nil, false},
		{[]string{"SET SESSION AUTHORIZATION u", "RESET ALL"}, nil, true},
		{[]string{"SET SESSION AUTHORIZATION u", "SET ROLE r", "DISCARD ALL"}, nil, false},
		{[]string{"CREATE TEMP TABLE t (x int)", "RESET ALL"}, nil, true},
		{[]string{"CREATE TEMP TABLE t (x int)", "DISCARD TEMP"}, nil, false},
		{[]string{"DO $$ BEGIN END $$", "RESET ALL"}, nil, true},
		{[]string{"CALL p()", "DISCARD ALL"}, nil, false},
		{[]string{"SET a.b = 1", "SET c = 2", "RESET a.b"}, nil, true},
		{[]string{"SET a.b = 1", "SET c = 2", "RESET a.b", "SET c TO DEFAULT"}, nil, false},
		{[]string{"SET search_path = x", "RESET search_path"}, []bool{false, true}, true},
		{[]string{"SET LOCAL search_path = x"}, []bool{true}, false},
		{[]string{"SELECT set_config('search_path', 'x', true)"}, nil, false},
		{[]string{"PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys = ON"}, nil, false},
		{[]string{"PRAGMA case_sensitive_like = ON", "PRAGMA case_sensitive_like = OFF"}, nil, true},
		{[]string{"LISTEN x", "SET statement_timeout = 1", "PREPARE p AS SELECT 1"}, nil, false},
	}
	for _, tt := range tests {
		var s sessionState
		for i, q := range tt.stmts {
			inTx := tt.inTx != nil && tt.inTx[i]
			s.apply(keying.Analyze(q).Session, !inTx)
		}
		if got := s.changed(); got != tt.changed {
			t.Errorf("%q: changed = %v, want %v (%+v)", tt.stmts, got, tt.changed, s)
		}
	}
}
