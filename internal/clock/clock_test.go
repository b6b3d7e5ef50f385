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

func TestFakeTimers(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	early, _ := f.NewTimer(time.Second)
	late, _ := f.NewTimer(3 * time.Second)
	stopped, stop := f.NewTimer(2 * time.Second)
	now, _ := f.NewTimer(0)
	select {
	case <-now:
	default:
		t.Errorf("NewTimer(0) did not fire at once")
	}
	if !stop() {
		t.Errorf("stop() of a pending timer = false, want true")
	}
	if stop() {
		t.Errorf("second stop() = true, want false")
	}
	if got := f.Pending(); got != 2 {
		t.Errorf("Pending() = %d, want 2", got)
	}
	f.Advance(999 * time.Millisecond)
	select {
	case <-early:
		t.Errorf("timer of 1s fired at 999ms")
	default:
	}
	if !f.AdvanceToNext() {
		t.Fatalf("AdvanceToNext() = false with timers pending")
	}
	if got, want := <-early, time.Unix(1, 0); !got.Equal(want) {
		t.Errorf("timer of 1s fired with %v, want %v", got, want)
	}
	f.Set(time.Unix(10, 0))
	if got, want := <-late, time.Unix(10, 0); !got.Equal(want) {
		t.Errorf("timer of 3s fired with %v, want %v (the time it was moved to)", got, want)
	}
	select {
	case <-stopped:
		t.Errorf("a stopped timer fired")
	default:
	}
	if f.AdvanceToNext() {
		t.Errorf("AdvanceToNext() = true with no timer pending")
	}
}

func TestSystemTimer(t *testing.T) {
	c, stop := System.NewTimer(time.Millisecond)
	<-c
	if stop() {
		t.Errorf("stop() after the timer fired = true, want false")
	}
	if got := Since(System, time.Now().Add(-time.Hour)); got < time.Hour {
		t.Errorf("Since(an hour ago) = %v, want at least an hour", got)
	}
}
