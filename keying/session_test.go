package keying

import (
	"strings"
	"testing"
)

func TestChangesSession(t *testing.T) {
	tests := []struct {
		sql  string
		want bool
	}{
		{"SET search_path = other", true},
		{"RESET ROLE", true},
		{"SELECT set_config('search_path', 'other', false)", true},
		{"select pg_catalog.set_config('role', 'x', false)", true},
		{"CREATE TEMP TABLE users (id int)", true},
		{"create temporary view v as select 1", true},
		{"ATTACH DATABASE 'x.db' AS x", true},
		{"PRAGMA foreign_keys = ON", true},
		{"PRAGMA foreign_keys", false},
		{"PRAGMA table_info(users)", false},
		{"CREATE TABLE users (id int)", false},
		{"SELECT * FROM users", false},
		{"SELECT current_setting('search_path')", false},
		{"UPDATE users SET name = 'set_config'", false},
	}
	for _, tt := range tests {
		t.Run(tt.sql, func(t *testing.T) {
			if got := Analyze(tt.sql).ChangesSession; got != tt.want {
				t.Errorf("ChangesSession = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTableName(t *testing.T) {
	for in, want := range map[string]string{
		"users": "users", "public.Users": "users", `"Users"`: "users", `main."Order Items"`: "order items",
		"`accounts`": "accounts",
	} {
		if got := TableName(in); got != want {
			t.Errorf("TableName(%q) = %q, want %q", in, got, want)
		}
	}
}

const sessionGolden = "../testdata/keying/session.txt"

// describeSession renders ChangesSession and Session in session.txt's format.
func describeSession(st *Statement) string {
	changes := "changes: no"
	if st.ChangesSession {
		changes = "changes: yes"
	}
	var list []string
	for _, c := range st.Session {
		list = append(list, c.String())
	}
	if len(list) == 0 {
		list = []string{"-"}
	}
	return changes + "\nsession: " + strings.Join(list, "; ")
}

// TestSessionGolden covers every spelling of a session change (issue 8, item 6): DO, CALL, quoted
// and qualified set_config, and the resets that bring a connection back to the pool's baseline.
func TestSessionGolden(t *testing.T) {
	if *updatePins {
		rewriteGolden(t, sessionGolden, func(sql string) string { return describeSession(Analyze(sql)) })
	}
	for _, c := range readGolden(t, sessionGolden) {
		if got := describeSession(Analyze(c.sql)); got != c.want {
			t.Errorf("session.txt:%d: %q\n got: %s\nwant: %s", c.line, c.sql, got, c.want)
		}
	}
}
