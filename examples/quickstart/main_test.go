package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
)

func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, filepath.Join(t.TempDir(), "shop.db")); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	want := `first read (miss): ann has 2 orders worth 30
second read (hit): ann has 2 orders worth 30
read after a write (fresh): ann has 3 orders worth 35
stats: hits=1 misses=2 fills=2 invalidations=2
`
	if got := out.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}
