package cachedsql

import (
	"math"
	"reflect"
	"testing"
)

// TestConvertLike checks the exact conversions write-through makes to give a written key value the Go
// type reads gave it, and that inexact ones are refused.
func TestConvertLike(t *testing.T) {
	t.Parallel()
	type myInt int32
	type myText string
	tests := []struct {
		v, like, want any
		ok            bool
	}{
		{int32(7), int64(0), int64(7), true},
		{uint8(7), int64(0), int64(7), true},
		{int64(7), int32(0), int32(7), true},
		{int64(7), myInt(0), myInt(7), true},
		{"7", int64(0), int64(7), true},
		{[]byte("-7"), int64(0), int64(-7), true},
		{int64(7), "", "7", true},
		{uint64(7), myText(""), myText("7"), true},
		{"abc", []byte(nil), []byte("abc"), true},
		{int64(7), float64(0), float64(7), true},
		{int64(-1), uint32(0), nil, false},
		{int64(math.MaxInt64), int32(0), nil, false},
		{uint64(math.MaxUint64), int64(0), nil, false},
		{"07", int64(0), nil, false},
		{" 7", int64(0), nil, false},
		{"7.0", int64(0), nil, false},
		{int64(1<<53 + 1), float64(0), nil, false},
		{int64(1<<24 + 1), float32(0), nil, false},
		{3.5, int64(0), nil, false},
		{nil, int64(0), nil, false},
		{int64(7), nil, nil, false},
	}
	for _, tt := range tests {
		got, ok := convertLike(tt.v, tt.like)
		if ok != tt.ok || ok && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("convertLike(%#v, %T) = %#v, %v; want %#v, %v", tt.v, tt.like, got, ok, tt.want, tt.ok)
		}
	}
}
