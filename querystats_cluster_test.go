package cachedsql_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
	"github.com/cachedsql/cachedsql/keying"
)

// TestQueryStatsCluster: on a three-master Redis Cluster, where the hashes of two digests, the index
// and the writes land in different slots, a process's statistics reach the store when it closes, and
// Admin reads them back.
func TestQueryStatsCluster(t *testing.T) {
	t.Parallel()
	c := testenv.RedisCluster(t)
	ns := clusterNamespace(t, c)
	_, db := openSQLite(t, cachedsql.Options{Redis: c, Namespace: ns, Rules: qsRules(t)})
	qsWorkload(t, db, 12)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := cachedsql.NewAdmin(c, ns).QueryStats(context.Background(), cachedsql.AllDatabases)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{
		keying.DigestOf(fmt.Sprintf(qsUserRead, 1)).Fingerprint:    12,
		keying.DigestOf(fmt.Sprintf(qsOrderRead, "1")).Fingerprint: 12,
	}
	if len(got) != len(want) {
		t.Fatalf("QueryStats: %+v, want 2 digests", got)
	}
	for _, q := range got {
		if q.Calls != want[q.Fingerprint] {
			t.Errorf("%s: %d calls, want %d", q.Text, q.Calls, want[q.Fingerprint])
		}
	}
	writes, err := cachedsql.NewAdmin(c, ns).TableWrites(context.Background(), cachedsql.AllDatabases)
	if err != nil || len(writes) != 1 || writes[0].Writes != 12 {
		t.Errorf("TableWrites = %+v, %v; want 12 writes to orders", writes, err)
	}
}
