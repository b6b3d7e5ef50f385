package keying

import (
	"database/sql/driver"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Package-level sinks keep the compiler from optimising benchmarks away.
var (
	sinkStatement *Statement
	sinkHash      Hash
	sinkKey       string
)

const typicalQuery = `-- name: ListOrders :many
SELECT o.id, o.total, o.created_at, u.name
FROM orders o JOIN users u ON u.id = o.user_id
WHERE o.user_id = $1 AND o.status = 'paid' AND o.total > $2
ORDER BY o.created_at DESC LIMIT 50`

func BenchmarkAnalyze(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(typicalQuery)))
	for b.Loop() {
		sinkStatement = Analyze(typicalQuery)
	}
}

func BenchmarkHashArgs(b *testing.B) {
	args := []driver.NamedValue{
		{Ordinal: 1, Value: int64(42)},
		{Ordinal: 2, Value: "paid"},
		{Ordinal: 3, Value: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
	}
	b.ReportAllocs()
	for b.Loop() {
		h, err := HashArgs(args)
		if err != nil {
			b.Fatal(err)
		}
		sinkHash = h
	}
}

func BenchmarkLayoutEntry(b *testing.B) {
	l := NewLayout("app", "pgx dbname=app host=h:5432 user=bob")
	st := Analyze(typicalQuery)
	args := Hash{1, 2, 3}
	b.ReportAllocs()
	for b.Loop() {
		sinkKey = l.Entry(st, args)
	}
}

// BenchmarkAnalyzeOperatorRun analyses a text with a long run of + and - (which PostgreSQL splits into
// single-character operators): its cost must grow linearly with the run, not with its cube.
func BenchmarkAnalyzeOperatorRun(b *testing.B) {
	for _, n := range []int{1000, 4000} {
		q := "SELECT 1 " + strings.Repeat("+-", n/2) + " 1"
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				sinkStatement = Analyze(q)
			}
		})
	}
}
