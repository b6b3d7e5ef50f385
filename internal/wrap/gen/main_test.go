package main

import (
	"bytes"
	"os"
	"testing"
)

// TestGeneratedIsFresh fails when ../zz_generated.go differs from what the
// generator writes now: run go generate in internal/wrap.
func TestGeneratedIsFresh(t *testing.T) {
	got, err := os.ReadFile("../zz_generated.go")
	if err != nil {
		t.Fatal(err)
	}
	want, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("zz_generated.go is stale (%d bytes, generator gives %d): run go generate ./internal/wrap", len(got), len(want))
	}
}
