package keying_test

import (
	"database/sql/driver"
	"fmt"

	"github.com/cachedsql/cachedsql/keying"
)

func ExampleAnalyze() {
	st := keying.Analyze(`-- name: UserOrders :many
SELECT o.* FROM Orders o JOIN public.users u ON u.id = o.user_id WHERE u.id = $1`)
	fmt.Println(st.Normalized)
	fmt.Println(st.Name, st.Kind, st.Reads, st.Cacheable)

	st = keying.Analyze("UPDATE users SET seen = now() WHERE id = $1")
	fmt.Println(st.Kind, st.Writes, st.Cacheable, st.Reason)
	// Output:
	// select o.* from orders o join public.users u on u.id = o.user_id where u.id = $1
	// UserOrders read [orders users] true
	// write [users] false not a read
}

func ExampleHashArgs() {
	a, _ := keying.HashArgs([]driver.NamedValue{{Ordinal: 1, Value: int64(1)}})
	b, _ := keying.HashArgs([]driver.NamedValue{{Ordinal: 1, Value: "1"}})
	fmt.Println(a == b)

	_, err := keying.HashArgs([]driver.NamedValue{{Ordinal: 1, Value: map[string]int{}}})
	fmt.Println(err)
	// Output:
	// false
	// keying: argument cannot be hashed: argument 1 (map[string]int): map values are not hashable
}

func ExampleLayout() {
	l := keying.NewLayout("app", keying.Identity("pgx", "postgres://bob:secret@db:5432/shop"))
	st := keying.Analyze("select * from users where id = $1")
	args, _ := keying.HashArgs([]driver.NamedValue{{Ordinal: 1, Value: int64(7)}})

	fmt.Println(l.Prefix())
	fmt.Println(l.Epoch())
	fmt.Println(l.Token("users"))
	fmt.Println(l.Entry(st, args))
	// Output:
	// app:
	// app:e:7ef680592be7f6b3
	// app:t:7ef680592be7f6b3:users
	// app:q:7ef680592be7f6b3:7609165d94c8f1be:251c11ee9f8790e2772df535690ddfea
}
