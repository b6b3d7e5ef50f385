package lockstore_test

import (
	"testing"
	"time"

	"github.com/cachedsql/cachedsql/lockstore"
)

func TestLeaseTTL(t *testing.T) {
	s, ms := time.Second, time.Millisecond
	tests := []struct {
		name                     string
		measured, floor, ceiling time.Duration
		want                     time.Duration
	}{
		{"nothing measured", 0, 0, 0, lockstore.DefaultLeaseFloor},
		{"negative measured", -s, 0, 0, lockstore.DefaultLeaseFloor},
		{"fast query gets floor", 50 * ms, 0, 0, lockstore.DefaultLeaseFloor},
		{"three times measured", 2 * s, 0, 0, 6 * s},
		{"slow query gets cap", 20 * s, 0, 0, lockstore.DefaultLeaseCap},
		{"exactly cap/3", 10 * s, 0, 0, 30 * s},
		{"custom floor", 100 * ms, 500 * ms, 0, 500 * ms},
		{"custom floor and cap", 200 * ms, 100 * ms, 400 * ms, 400 * ms},
		{"cap below floor", 10 * s, 2 * s, s, 2 * s},
		{"huge measured no overflow", time.Duration(1 << 62), 0, 0, lockstore.DefaultLeaseCap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lockstore.LeaseTTL(tt.measured, tt.floor, tt.ceiling); got != tt.want {
				t.Errorf("LeaseTTL(%v, %v, %v) = %v, want %v", tt.measured, tt.floor, tt.ceiling, got, tt.want)
			}
		})
	}
}
