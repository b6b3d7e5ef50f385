package cachedsql_test

import (
	"context"
	"testing"
	"time"

	"github.com/cachedsql/cachedsql"
)

// TestWriteThroughArgTypes (issue 8): a write-through row entry is found by reads whatever integer or
// text Go type the write gave the key in: the image is stored under the key reads look up.
func TestWriteThroughArgTypes(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   any
	}{
		{"int32", int32(2)},
		{"uint8", uint8(2)},
		{"string", "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, db := openSQLite(t, cachedsql.Options{Rules: rowRules(t, true)})
			warmRows(t, db)
			mustExec(t, db, `UPDATE users SET name = ? WHERE id = ?`, "bea", tc.id)
			var name string
			if h, _ := hitsOf(t, db, func() { name = userName(t, db, 2) }); h != 1 {
				t.Errorf("read after a write with a %T key: not a hit (the write-through image is elsewhere)", tc.id)
			}
			if name != "bea" {
				t.Errorf("user 2 = %q, want bea", name)
			}
		})
	}
}

// TestWriteThroughReadTextDiffers (issue 8): reads whose text differs from the rule's Match.SQL only in
// spacing still lead write-through to the entry they look up (GORM-style extra arguments included):
// the state write-through learns from reads is the rule's, not one statement text's.
func TestWriteThroughReadTextDiffers(t *testing.T) {
	const (
		ruleSQL = `SELECT id, name FROM users WHERE id = ? LIMIT ?`
		readSQL = "SELECT id, name\n\tFROM users  WHERE id = ?   LIMIT ?"
	)
	rules := mustRules(t, cachedsql.Rule{Name: "user", Match: cachedsql.Match{SQL: ruleSQL}, Key: []string{"id"},
		TTL: time.Minute, WriteThrough: true})
	_, db := openSQLite(t, cachedsql.Options{Rules: rules})
	ctx := context.Background()
	read := func() string {
		var id int
		var name string
		if err := db.QueryRowContext(ctx, readSQL, 2, 1).Scan(&id, &name); err != nil {
			t.Fatal(err)
		}
		return name
	}
	read()
	if h, _ := hitsOf(t, db, func() { read() }); h != 1 {
		t.Fatal("second read: not a hit")
	}
	mustExec(t, db, `UPDATE users SET name = ? WHERE id = ?`, "bea", 2)
	var name string
	if h, _ := hitsOf(t, db, func() { name = read() }); h != 1 {
		t.Errorf("read after write-through: not a hit (WriteThroughs %d)", stats(t, db).WriteThroughs)
	}
	if name != "bea" {
		t.Errorf("user 2 = %q, want bea", name)
	}
}
