package keying_test

import (
	"fmt"

	"github.com/cachedsql/cachedsql/keying"
)

func ExampleStatement_Pins() {
	st := keying.Analyze("UPDATE users SET name = $1 WHERE id = $2 AND org IN ('a', 'b')")
	pn := st.Pins()
	fmt.Println(pn.Table, pn.Columns, len(pn.Rows))
	for _, row := range pn.Rows {
		fmt.Printf("id = argument %d, org = %q\n", row[0].Ordinal, row[1].Literal)
	}

	fmt.Println(keying.Analyze("UPDATE users SET name = $1 WHERE id = $2 OR org = 'a'").Pins())
	// Output:
	// users [id org] 2
	// id = argument 2, org = "a"
	// id = argument 2, org = "b"
	// <nil>
}

func ExampleStatement_Lookup() {
	lk, _ := keying.Analyze("SELECT * FROM users u WHERE u.org = 'a' AND u.id = ? LIMIT 1").Lookup()
	fmt.Println(lk.Table, lk.Columns, lk.Values[0].Ordinal, lk.Values[1].Literal)

	_, reason := keying.Analyze("SELECT * FROM users WHERE id IN (SELECT user_id FROM admins)").Lookup()
	fmt.Println(reason)
	// Output:
	// users [id org] 1 a
	// reads 2 tables
}

func ExampleRowHash() {
	// A write passing "7" and a read passing int64(7) name the same row.
	w, _ := keying.RowHash("users", []string{"id"}, []any{"7"})
	r, _ := keying.RowHash("users", []string{"id"}, []any{int64(7)})
	fmt.Println(w == r)

	l := keying.NewLayout("app", "db")
	fmt.Println(l.RowToken(r))
	fmt.Println(l.KeyedToken("users", []string{"id"}))
	fmt.Println(l.Keysets("users"), keying.KeysetName([]string{"org", "id"}))
	// Output:
	// true
	// app:r:7bdc25d1694ef984:{2d7c1e223bdf88efbddf98ad1604669e}
	// app:t:7bdc25d1694ef984:users:k:dc550099633fe377
	// app:ks:7bdc25d1694ef984:users id,org
}
