package keying

import "testing"

var sinkLookup *Lookup

const typicalWrite = `UPDATE orders SET status = $1, updated_at = $2 WHERE id = $3 AND user_id = $4 RETURNING id`

// BenchmarkAnalyzeWrite measures Analyze on a write, which computes its Pins.
func BenchmarkAnalyzeWrite(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(typicalWrite)))
	for b.Loop() {
		sinkStatement = Analyze(typicalWrite)
	}
}

func BenchmarkLookup(b *testing.B) {
	st := Analyze("SELECT id, total, status FROM orders WHERE user_id = $1 AND id = $2")
	b.ReportAllocs()
	for b.Loop() {
		lk, _ := st.Lookup()
		sinkLookup = lk
	}
}

func BenchmarkRowHash(b *testing.B) {
	cols := []string{"id", "user_id"}
	vals := []any{int64(42), "6ba7b810-9dad-11d1-80b4-00c04fd430c8"}
	b.ReportAllocs()
	for b.Loop() {
		h, ok := RowHash("orders", cols, vals)
		if !ok {
			b.Fatal("not ok")
		}
		sinkHash = h
	}
}

func BenchmarkLayoutRowEntry(b *testing.B) {
	l := NewLayout("app", "pgx dbname=app host=h:5432 user=bob")
	st := Analyze("SELECT * FROM orders WHERE id = $1")
	tok := l.RowToken(Hash{1})
	b.ReportAllocs()
	for b.Loop() {
		sinkKey = l.RowEntry(tok, st, Hash{2})
	}
}
