package codec

import "testing"

var tagSink uint64

// BenchmarkKeyTag measures the key binding a hit checks, for a key as long as an entry's.
func BenchmarkKeyTag(b *testing.B) {
	key := "cachedsql:q:sqlite3 /tmp/app.db\x00driver *sqlite3.SQLiteDriver:0123456789abcdef:0123456789abcdef0123456789abcdef"
	b.ReportAllocs()
	for b.Loop() {
		tagSink += KeyTag(key)
	}
}
