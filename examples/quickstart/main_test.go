package main

import (
	"bytes"
	"context"
	"os"
	"testing"
)

func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := runInTemp(context.Background(), &out); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	want := `first read (miss): ann has 2 orders worth 30
second read (hit): ann has 2 orders worth 30
read after a write (miss): ann has 3 orders worth 35
stats: hits=1 misses=2 fills=2 invalidations=2
`
	if got := out.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

// TestQuickstartInterrupted: an interrupted run leaves no temporary file.
func TestQuickstartInterrupted(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := runInTemp(ctx, new(bytes.Buffer)); err == nil {
		t.Error("run on a cancelled context: no error")
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("left in the temporary folder: %v", left)
	}
}
