package health

import (
	"slices"
	"testing"
)

// TestPendingRequeuedDuringDelivery: a key that a write queues again after a delivery attempt took its
// snapshot stays pending when that attempt succeeds (the write's replacement may have been made after
// the attempt's).
func TestPendingRequeuedDuringDelivery(t *testing.T) {
	t.Parallel()
	var d Pending
	d.Init(10)
	d.Add([]string{"a", "b"}, "epoch")
	b := d.Snapshot()
	d.Add([]string{"b"}, "epoch")
	d.Delivered(b)
	if !d.Holds([]string{"b"}) || d.Holds([]string{"a"}) || d.Count() != 1 || !d.Any() {
		t.Fatalf("after delivery: holds b %v, holds a %v, count %d; want b only", d.Holds([]string{"b"}), d.Holds([]string{"a"}), d.Count())
	}
	d.Delivered(d.Snapshot())
	if d.Any() || d.Count() != 0 {
		t.Fatal("nothing should be pending")
	}
}

// TestPendingOverflow: past its bound the set holds the epoch alone, which stands for every key.
func TestPendingOverflow(t *testing.T) {
	t.Parallel()
	var d Pending
	d.Init(2)
	d.Add([]string{"a", "b", "c"}, "epoch")
	if !d.Holds([]string{"anything"}) || d.Count() != 3 {
		t.Fatalf("overflowed: holds %v, count %d; want every key, 3", d.Holds([]string{"anything"}), d.Count())
	}
	b := d.Snapshot()
	if !slices.Equal(b.Keys, []string{"epoch"}) {
		t.Fatalf("snapshot %q, want the epoch alone", b.Keys)
	}
	d.Add([]string{"d"}, "epoch") // after the snapshot: its write may come after the epoch's replacement
	d.Delivered(b)
	if !d.Holds([]string{"d"}) || d.Holds([]string{"a"}) || d.Count() != 1 {
		t.Fatalf("after the epoch's delivery: count %d; want d alone pending", d.Count())
	}
}

// TestPendingDown: MarkDown reports the first failure of an outage only; MarkUp ends it.
func TestPendingDown(t *testing.T) {
	t.Parallel()
	var d Pending
	d.Init(1)
	if !d.MarkDown() || d.MarkDown() || !d.Down() {
		t.Fatal("MarkDown: want true, then false, and Down")
	}
	d.MarkUp()
	if d.Down() || !d.MarkDown() {
		t.Fatal("MarkUp did not end the outage")
	}
}
