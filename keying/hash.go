package keying

import (
	"crypto/sha256"
	"database/sql/driver"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"time"
)

// Hash is a 128-bit hash of a statement's arguments.
type Hash [16]byte

// String returns h as 32 lower-case hex digits.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ErrUnhashable is returned, wrapped with the argument's ordinal and
// type, by [HashArgs] for a value it cannot hash completely.
var ErrUnhashable = errors.New("keying: argument cannot be hashed")

// maxDepth bounds pointer, slice and struct nesting; it also stops cycles.
// maxNodes bounds the values visited, so that a pointer graph that shares
// nodes cannot make the work exponential.
const (
	maxDepth = 32
	maxNodes = 1 << 20
)

// Type tags of the encoding. Every value starts with one.
const (
	tagNull byte = iota + 1
	tagInt64
	tagFloat64
	tagBool
	tagString
	tagBytes
	tagNilBytes
	tagTime
	tagValuer
	tagTypedNull
	tagInt
	tagUint
	tagFloat
	tagComplex
	tagSlice
	tagNilSlice
	tagArray
	tagStruct
	tagInterface
	tagPointer
)

// HashArgs returns a 128-bit hash of the typed, length-prefixed encoding of
// args: each argument's ordinal, name, type and value. Values of different
// types never hash alike: nil, "", []byte{}, 0, "0", false, int64(1),
// float64(1) and "1" all differ. A nil []byte hashes differently from both
// nil and an empty []byte, because drivers disagree on whether it is NULL.
// A time.Time hashes its instant, location name and offset, so two Equal
// times in different locations differ (drivers may render them
// differently). Other integer, float, complex and string kinds, named
// types (by package path and name), pointers (nil is a typed NULL),
// slices, arrays, structs (every field, exported or not) and
// driver.Valuer (its Value, tagged with its type) are hashed recursively.
// Maps, funcs, channels, unsafe pointers, cycles and nesting deeper than 32
// levels give an error wrapping [ErrUnhashable].
//
// WARNING: the hash is SHA-256, truncated to 128 bits, on purpose: a cache
// key must not collide even for adversarial arguments, since a collision
// would serve one tenant's rows to another. Do not replace it with a fast
// non-cryptographic hash.
func HashArgs(args []driver.NamedValue) (Hash, error) {
	e := encoders.Get().(*encoder)
	defer e.release()
	e.uvarint(uint64(len(args)))
	for i := range args {
		nv := &args[i]
		e.uvarint(uint64(nv.Ordinal))
		e.str(nv.Name)
		if err := e.value(nv.Value, 0); err != nil {
			return Hash{}, fmt.Errorf("%w: argument %d (%T): %v", ErrUnhashable, nv.Ordinal, nv.Value, err)
		}
	}
	sum := sha256.Sum256(e.buf)
	return Hash(sum[:16]), nil
}

// encoder appends the canonical encoding of values to buf.
type encoder struct {
	buf   []byte
	nodes int
}

// encoders holds encoders between calls of HashArgs: its buffer escapes (value recurses through
// reflection), so a buffer of its own would cost an allocation on every read.
var encoders = sync.Pool{New: func() any { return &encoder{buf: make([]byte, 0, 256)} }}

// maxPooledBuf bounds the buffer an encoder keeps in the pool: a rare huge argument does not pin its
// memory.
const maxPooledBuf = 64 << 10

// release returns e, emptied, to the pool.
func (e *encoder) release() {
	if cap(e.buf) > maxPooledBuf {
		return
	}
	e.buf, e.nodes = e.buf[:0], 0
	encoders.Put(e)
}

func (e *encoder) tag(t byte)         { e.buf = append(e.buf, t) }
func (e *encoder) uvarint(n uint64)   { e.buf = binary.AppendUvarint(e.buf, n) }
func (e *encoder) u64(n uint64)       { e.buf = binary.BigEndian.AppendUint64(e.buf, n) }
func (e *encoder) str(s string)       { e.uvarint(uint64(len(s))); e.buf = append(e.buf, s...) }
func (e *encoder) bytes(b []byte)     { e.uvarint(uint64(len(b))); e.buf = append(e.buf, b...) }
func (e *encoder) typ(t reflect.Type) { e.str(typeName(t)) }

// value encodes v. The common driver.Value types take a fast path that
// needs no reflection.
func (e *encoder) value(v any, depth int) error {
	switch x := v.(type) {
	case nil:
		e.tag(tagNull)
	case int64:
		e.tag(tagInt64)
		e.u64(uint64(x))
	case float64:
		e.tag(tagFloat64)
		e.u64(math.Float64bits(x))
	case bool:
		e.tag(tagBool)
		e.buf = append(e.buf, b2u(x))
	case string:
		e.tag(tagString)
		e.str(x)
	case []byte:
		if x == nil {
			e.tag(tagNilBytes)
			return nil
		}
		e.tag(tagBytes)
		e.bytes(x)
	case time.Time:
		e.time(x)
	default:
		return e.reflect(reflect.ValueOf(v), depth)
	}
	return nil
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func (e *encoder) time(t time.Time) {
	e.tag(tagTime)
	e.u64(uint64(t.Unix()))
	e.u64(uint64(t.Nanosecond()))
	name, offset := t.Zone()
	e.str(t.Location().String())
	e.str(name)
	e.u64(uint64(int64(offset)))
}

var (
	valuerType = reflect.TypeFor[driver.Valuer]()
	timeType   = reflect.TypeFor[time.Time]()
)

// reflect encodes any other value. It reads unexported fields through the
// Kind accessors only, never through Interface.
func (e *encoder) reflect(v reflect.Value, depth int) error {
	if depth > maxDepth {
		return errors.New("nested too deeply or cyclic")
	}
	if e.nodes++; e.nodes > maxNodes {
		return errors.New("too many values")
	}
	t := v.Type()
	if t.Kind() == reflect.Pointer && v.IsNil() {
		e.tag(tagTypedNull)
		e.typ(t)
		return nil
	}
	if v.CanInterface() && t.Implements(valuerType) {
		return e.valuer(v, depth)
	}
	if t == timeType {
		if !v.CanInterface() {
			return errors.New("unexported time.Time field")
		}
		e.time(v.Interface().(time.Time))
		return nil
	}
	return e.kind(v, t, depth)
}

func (e *encoder) valuer(v reflect.Value, depth int) error {
	val, err := v.Interface().(driver.Valuer).Value()
	if err != nil {
		return fmt.Errorf("Value: %w", err)
	}
	e.tag(tagValuer)
	e.typ(v.Type())
	return e.value(val, depth+1)
}

// kind encodes v by its reflect.Kind, tagged with its full type name.
func (e *encoder) kind(v reflect.Value, t reflect.Type, depth int) error {
	switch k := t.Kind(); k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.tag(tagInt)
		e.typ(t)
		e.u64(uint64(v.Int()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		e.tag(tagUint)
		e.typ(t)
		e.u64(v.Uint())
	case reflect.Float32, reflect.Float64:
		e.tag(tagFloat)
		e.typ(t)
		e.u64(math.Float64bits(v.Float()))
	case reflect.Complex64, reflect.Complex128:
		e.tag(tagComplex)
		e.typ(t)
		c := v.Complex()
		e.u64(math.Float64bits(real(c)))
		e.u64(math.Float64bits(imag(c)))
	case reflect.Bool:
		e.tag(tagBool)
		e.typ(t)
		e.buf = append(e.buf, b2u(v.Bool()))
	case reflect.String:
		e.tag(tagString)
		e.typ(t)
		e.str(v.String())
	case reflect.Pointer:
		e.tag(tagPointer)
		e.typ(t)
		return e.reflect(v.Elem(), depth+1)
	case reflect.Interface:
		if v.IsNil() {
			e.tag(tagTypedNull)
			e.typ(t)
			return nil
		}
		e.tag(tagInterface)
		return e.reflect(v.Elem(), depth+1)
	case reflect.Slice, reflect.Array:
		return e.list(v, t, depth)
	case reflect.Struct:
		e.tag(tagStruct)
		e.typ(t)
		for i := range v.NumField() {
			if err := e.reflect(v.Field(i), depth+1); err != nil {
				return fmt.Errorf("field %s: %w", t.Field(i).Name, err)
			}
		}
	default:
		return fmt.Errorf("%s values are not hashable", k)
	}
	return nil
}

// list encodes a slice or an array: its type, length and elements.
func (e *encoder) list(v reflect.Value, t reflect.Type, depth int) error {
	if t.Kind() == reflect.Slice && v.IsNil() {
		e.tag(tagNilSlice)
		e.typ(t)
		return nil
	}
	e.tag(tagSlice)
	if t.Kind() == reflect.Array {
		e.buf[len(e.buf)-1] = tagArray
	}
	e.typ(t)
	n := v.Len()
	e.uvarint(uint64(n))
	if t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice {
		e.bytes(v.Bytes()) // []uint8 of any named type
		return nil
	}
	for i := range n {
		if err := e.reflect(v.Index(i), depth+1); err != nil {
			return fmt.Errorf("element %d: %w", i, err)
		}
	}
	return nil
}

// typeNames caches typeName results by reflect.Type.
var typeNames sync.Map

// typeName returns a name for t that differs between any two distinct
// types: named types are qualified by their full package path, and
// unnamed types are spelled out from their parts.
func typeName(t reflect.Type) string {
	if n, ok := typeNames.Load(t); ok {
		return n.(string)
	}
	n := buildTypeName(t, 0)
	typeNames.Store(t, n)
	return n
}

func buildTypeName(t reflect.Type, depth int) string {
	if t.Name() != "" {
		if t.PkgPath() == "" {
			return t.Name()
		}
		return t.PkgPath() + "." + t.Name()
	}
	if depth > maxDepth {
		return "…"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return "*" + buildTypeName(t.Elem(), depth+1)
	case reflect.Slice:
		return "[]" + buildTypeName(t.Elem(), depth+1)
	case reflect.Array:
		return "[" + itoa(t.Len()) + "]" + buildTypeName(t.Elem(), depth+1)
	case reflect.Struct:
		s := "struct{"
		for i := range t.NumField() {
			f := t.Field(i)
			s += f.PkgPath + "." + f.Name + " " + buildTypeName(f.Type, depth+1) + ";"
		}
		return s + "}"
	}
	return t.String()
}
