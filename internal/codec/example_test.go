package codec_test

import (
	"database/sql/driver"
	"fmt"
	"reflect"
	"time"

	"github.com/cachedsql/cachedsql/internal/codec"
)

func Example() {
	e := &codec.Entry{
		Tokens:  []uint64{7, 42}, // epoch, then one token per table
		Expires: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		Columns: []codec.Column{
			{Name: "id", DatabaseType: "INT8", ScanType: reflect.TypeFor[int64]()},
			{Name: "name", DatabaseType: "TEXT", ScanType: reflect.TypeFor[string](), Nullable: true, HasNullable: true},
		},
		Rows: [][]driver.Value{{int64(1), "ada"}, {int64(2), nil}},
	}
	b, err := codec.Encode(nil, e)
	if err != nil {
		fmt.Println(err)
		return
	}

	// The hit check reads only the header...
	tokens, expires, _ := codec.Peek(b)
	fmt.Println(tokens, expires.Year())

	// ...and a hit decodes the whole entry before serving it.
	got, err := codec.Decode(b)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(got.Columns[1].Name, got.Columns[1].ScanType, got.Rows)
	// Output:
	// [7 42] 2030
	// name string [[1 ada] [2 <nil>]]
}
