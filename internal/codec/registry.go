package codec

import (
	"database/sql"
	"fmt"
	"reflect"
	"sync"
	"time"
)

var scanTypes struct {
	mu     sync.RWMutex
	byName map[string]reflect.Type
	byType map[reflect.Type]string
}

func init() {
	builtins := []reflect.Type{
		reflect.TypeFor[bool](), reflect.TypeFor[string](),
		reflect.TypeFor[int](), reflect.TypeFor[int8](), reflect.TypeFor[int16](),
		reflect.TypeFor[int32](), reflect.TypeFor[int64](),
		reflect.TypeFor[uint](), reflect.TypeFor[uint8](), reflect.TypeFor[uint16](),
		reflect.TypeFor[uint32](), reflect.TypeFor[uint64](), reflect.TypeFor[uintptr](),
		reflect.TypeFor[float32](), reflect.TypeFor[float64](),
		reflect.TypeFor[complex64](), reflect.TypeFor[complex128](),
		reflect.TypeFor[any](), reflect.TypeFor[time.Time](),
	}
	for _, t := range builtins {
		RegisterScanType(t)
		RegisterScanType(reflect.PointerTo(t))
	}
	for _, t := range []reflect.Type{
		reflect.TypeFor[[]byte](), reflect.TypeFor[sql.RawBytes](),
		reflect.TypeFor[sql.NullString](), reflect.TypeFor[sql.NullInt64](),
		reflect.TypeFor[sql.NullInt32](), reflect.TypeFor[sql.NullInt16](),
		reflect.TypeFor[sql.NullByte](), reflect.TypeFor[sql.NullFloat64](),
		reflect.TypeFor[sql.NullBool](), reflect.TypeFor[sql.NullTime](),
	} {
		RegisterScanType(t)
	}
}

// RegisterScanType makes t encodable and decodable as a [Column] ScanType. Types
// are keyed by a stable name: PkgPath+"."+Name for named types (Name alone for
// predeclared ones) and t.String() for unnamed composite types such as []uint8
// or *int64. Registering a type again is a no-op; registering a type whose name
// another type already holds, or a nil type, panics. It is safe for concurrent use.
//
// Pre-registered are the predeclared scalar types and pointers to them, any,
// *any, time.Time, *time.Time, []byte, and database/sql's RawBytes, NullString,
// NullInt64, NullInt32, NullInt16, NullByte, NullFloat64, NullBool and NullTime.
func RegisterScanType(t reflect.Type) {
	if t == nil {
		panic("codec: RegisterScanType of a nil type")
	}
	name := typeName(t)
	scanTypes.mu.Lock()
	defer scanTypes.mu.Unlock()
	if prev, ok := scanTypes.byName[name]; ok {
		if prev != t {
			panic(fmt.Sprintf("codec: scan type name %q of %v is already registered to %v", name, t, prev))
		}
		return
	}
	if scanTypes.byName == nil {
		scanTypes.byName = make(map[string]reflect.Type)
		scanTypes.byType = make(map[reflect.Type]string)
	}
	scanTypes.byName[name] = t
	scanTypes.byType[t] = name
}

func typeName(t reflect.Type) string {
	switch {
	case t.Name() == "":
		return t.String()
	case t.PkgPath() == "":
		return t.Name()
	default:
		return t.PkgPath() + "." + t.Name()
	}
}

// scanTypeName returns the registered name of t, or "" for a nil t.
func scanTypeName(t reflect.Type) (string, error) {
	if t == nil {
		return "", nil
	}
	scanTypes.mu.RLock()
	name, ok := scanTypes.byType[t]
	scanTypes.mu.RUnlock()
	if !ok {
		return "", fmt.Errorf("%w: unregistered scan type %v", ErrUnsupported, t)
	}
	return name, nil
}

func lookupScanType(name string) (reflect.Type, bool) {
	scanTypes.mu.RLock()
	defer scanTypes.mu.RUnlock()
	t, ok := scanTypes.byName[name]
	return t, ok
}
