package clock

import (
	"sync"
	"testing"
	"time"
)

func TestSystem(t *testing.T) {
	before := time.Now()
	got := System.Now()
	if got.Before(before) {
		t.Errorf("System.Now() = %v, want not before %v", got, before)
	}
}

func TestFake(t *testing.T) {
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		move func(f *Fake)
		want time.Time
	}{
		{"unmoved", func(*Fake) {}, t0},
		{"advance", func(f *Fake) { f.Advance(90 * time.Second) }, t0.Add(90 * time.Second)},
		{"advance twice", func(f *Fake) { f.Advance(time.Second); f.Advance(time.Minute) }, t0.Add(61 * time.Second)},
		{"backward", func(f *Fake) { f.Advance(-time.Hour) }, t0.Add(-time.Hour)},
		{"set", func(f *Fake) { f.Set(t0.AddDate(1, 0, 0)) }, t0.AddDate(1, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFake(t0)
			tt.move(f)
			if got := f.Now(); !got.Equal(tt.want) {
				t.Errorf("Now() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFakeAdvanceReturnsNow(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	got := f.Advance(time.Millisecond)
	if want := f.Now(); !got.Equal(want) {
		t.Errorf("Advance() = %v, want %v", got, want)
	}
}

func TestFakeConcurrent(t *testing.T) {
	const n = 50
	f := NewFake(time.Unix(0, 0))
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			f.Advance(time.Second)
			_ = f.Now()
		})
	}
	wg.Wait()
	if got, want := f.Now(), time.Unix(n, 0); !got.Equal(want) {
		t.Errorf("Now() after %d concurrent Advance(1s) = %v, want %v", n, got, want)
	}
}
