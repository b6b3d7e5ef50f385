package testenv

import (
	"testing"
)

func TestAttemptsRetriesInconclusive(t *testing.T) {
	t.Parallel()
	runs := 0
	Attempts(t, 3, func(a *Attempt) {
		runs++
		a.Inconclusive(func() string {
			if runs == 1 {
				return "first run too slow"
			}
			return ""
		})
		if runs == 1 {
			a.Fatal("counted what timing decided")
		}
	})
	if runs != 2 {
		t.Errorf("body ran %d times, want 2 (an inconclusive failure, then a pass)", runs)
	}
}

func TestAttemptsPassOnce(t *testing.T) {
	t.Parallel()
	runs := 0
	Attempts(t, 3, func(a *Attempt) {
		runs++
		a.Inconclusive(func() string { return "never consulted: the attempt passes" })
		a.Log("fine")
	})
	if runs != 1 {
		t.Errorf("body ran %d times, want 1", runs)
	}
}
