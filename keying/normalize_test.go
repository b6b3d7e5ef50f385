package keying

import "testing"

func TestNormalized(t *testing.T) {
	tests := []struct {
		query, want string
	}{
		{"SELECT  *\n\tFROM Users WHERE id=$1", "select * from users where id = $1"},
		{"select count( * ) from t", "select count(*) from t"},
		{"select a , b from s . t", "select a, b from s.t"},
		{"select x :: int, 'a'::text from t", "select x::int, 'a'::text from t"},
		{"select * from t where a in ( 1,2 )", "select * from t where a in (1, 2)"},
		{"insert into t (a) values (1);", "insert into t(a) values (1)"},
		{"select arr [ 1 ] from t", "select arr[1] from t"},
		{"SELECT 'Keep  Case', \"Keep  Ident\", E'\\n', $$ A $$", "select 'Keep  Case', \"Keep  Ident\", E'\\n', $$ A $$"},
		{"select :Name, @Name, ?1, ?", "select :Name, @Name, ?1, ?"},
		{"select a=-1", "select a = - 1"},
		{"select 1; SELECT 2;;", "select 1; select 2"},
		{"-- name: X :one\nselect 1 -- c", "select 1"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			if got := Analyze(tt.query).Normalized; got != tt.want {
				t.Errorf("Normalized = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNormalizedEqual(t *testing.T) {
	pairs := [][2]string{
		{"select * from users where id = $1", "SELECT *\n  FROM users\n WHERE id = $1"},
		{"select a from t", "select /* why */ a -- what\nfrom t"},
		{"select a from t", "Select A From T"},
		{"select a from t where b = 1", "select a from t where b=1"},
		{"select f(a,b) from t", "select f ( a , b ) from t"},
		{"select * from t where a = 1 /* x /* nested */ y */", "select * from t where a = 1"},
		{"select 1;", "select 1"},
		{"select x::int", "select x :: int"},
		{"select * from [My Table]", "SELECT * FROM [My Table]"},
	}
	for _, p := range pairs {
		t.Run(p[0]+" == "+p[1], func(t *testing.T) {
			a, b := Analyze(p[0]), Analyze(p[1])
			if a.Normalized != b.Normalized || a.Fingerprint != b.Fingerprint {
				t.Errorf("normalized %q and %q, want equal", a.Normalized, b.Normalized)
			}
		})
	}
}

func TestNormalizedDiffer(t *testing.T) {
	pairs := [][2]string{
		{"select * from t where a = 'x'", "select * from t where a = 'X'"},
		{"select * from t where a = 'x'", "select * from t where a = 'x '"},
		{"select * from t where a = 1", "select * from t where a = 2"},
		{"select * from t where a = 1.0", "select * from t where a = 1"},
		{`select * from "Users"`, `select * from "users"`},
		{`select * from "Users"`, `select * from Users`},
		{"select * from t where a = $1 and b = $2", "select * from t where a = $2 and b = $1"},
		{"select * from t where a = ?", "select * from t where a = ?1"},
		{"select * from t where a = :a", "select * from t where a = :A"},
		{"select $$a$$", "select $$A$$"},
		{"select * from [a  b]", "select * from [a b]"},
		{"select a from t", "select a from u"},
		{"select a - -1", "select a - 1"},
		{"select 'a' 'b'", "select 'a''b'"},
		{"select 1 from t", "select 1 from t; select 1 from t"},
	}
	for _, p := range pairs {
		t.Run(p[0]+" != "+p[1], func(t *testing.T) {
			a, b := Analyze(p[0]), Analyze(p[1])
			if a.Normalized == b.Normalized || a.Fingerprint == b.Fingerprint {
				t.Errorf("both normalized to %q, want different", a.Normalized)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	st := Analyze("select 1")
	// SHA-256("select 1"), first 128 bits, as printed by `printf "select 1" | sha256sum`.
	const want = "822ae07d4783158bc1912bb623e5107c"
	if len(st.Fingerprint) != 32 {
		t.Fatalf("Fingerprint = %q, want 32 hex digits", st.Fingerprint)
	}
	if st.Fingerprint != want {
		t.Errorf("Fingerprint = %q, want %q", st.Fingerprint, want)
	}
}

func TestKindString(t *testing.T) {
	tests := []struct {
		k    Kind
		want string
	}{
		{KindOther, "other"}, {KindRead, "read"}, {KindWrite, "write"}, {KindDDL, "ddl"},
		{KindSession, "session"}, {KindBegin, "begin"}, {KindCommit, "commit"},
		{KindRollback, "rollback"}, {KindSavepoint, "savepoint"}, {Kind(42), "kind(42)"},
	}
	for _, tt := range tests {
		if got := tt.k.String(); got != tt.want {
			t.Errorf("Kind(%d).String() = %q, want %q", tt.k, got, tt.want)
		}
	}
}
