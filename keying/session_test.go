package keying

import "testing"

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
