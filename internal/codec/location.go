package codec

import (
	"fmt"
	"math"
	"reflect"
	"sync"
	"time"
)

// Location kinds of an encoded time.Time.
const (
	locUTC byte = iota
	locLocal
	locNamed // reloaded with time.LoadLocation
	locFixed // rebuilt with time.FixedZone
	locUnsupported
)

// maxCachedLocations bounds each location cache: a driver that builds a new
// *time.Location per value must not make them grow without end.
const maxCachedLocations = 512

type fixedKey struct {
	name   string
	offset int
}

var locations struct {
	mu sync.RWMutex
	// kinds holds Encode's classification of named locations, by pointer.
	kinds map[*time.Location]byte
	// named holds Decode's time.LoadLocation results, by name.
	named map[string]*time.Location
	// fixed holds Decode's fixed zones, by name and offset.
	fixed map[fixedKey]*time.Location
}

// locationOf classifies the location of t and returns what appendTime records.
//
// An unnamed location is taken as a fixed zone (what time.Parse and pgx build
// for a numeric offset). A named one is a fixed zone when it equals the result
// of time.FixedZone with its name and offset, and a loaded zone when
// time.LoadLocation of its name gives the same zone at t; anything else is
// unsupported.
func locationOf(t time.Time) (kind byte, name string, offset int, err error) {
	loc := t.Location()
	switch loc {
	case time.UTC:
		return locUTC, "", 0, nil
	case time.Local:
		return locLocal, "", 0, nil
	}
	name = loc.String()
	zone, offset := t.Zone()
	switch {
	case offset < math.MinInt32 || offset > math.MaxInt32:
		kind = locUnsupported
	case name == "" && zone == "":
		kind = locFixed
	case name != "":
		kind = namedKind(loc, t)
	default:
		kind = locUnsupported
	}
	if kind == locUnsupported {
		return kind, "", 0, fmt.Errorf("%w: time location %q (zone %q, offset %d)", ErrUnsupported, name, zone, offset)
	}
	return kind, name, offset, nil
}

// namedKind classifies a location with a name, caching the answer by pointer.
func namedKind(loc *time.Location, t time.Time) byte {
	locations.mu.RLock()
	kind, ok := locations.kinds[loc]
	locations.mu.RUnlock()
	if ok {
		return kind
	}
	name := loc.String()
	zone, offset := t.Zone()
	kind = locUnsupported
	if zone == name && reflect.DeepEqual(loc, time.FixedZone(name, offset)) {
		kind = locFixed
	} else if loaded, err := loadLocation(name); err == nil && sameZone(t, loaded) {
		kind = locNamed
	}
	locations.mu.Lock()
	if locations.kinds == nil {
		locations.kinds = make(map[*time.Location]byte)
	}
	if len(locations.kinds) < maxCachedLocations {
		locations.kinds[loc] = kind
	}
	locations.mu.Unlock()
	return kind
}

func sameZone(t time.Time, loc *time.Location) bool {
	name, offset := t.Zone()
	name2, offset2 := t.In(loc).Zone()
	return name == name2 && offset == offset2
}

// loadLocation is time.LoadLocation with a cache, so that every decoded time
// in a zone shares one *time.Location.
func loadLocation(name string) (*time.Location, error) {
	locations.mu.RLock()
	loc, ok := locations.named[name]
	locations.mu.RUnlock()
	if ok {
		return loc, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.mu.Lock()
	defer locations.mu.Unlock()
	if cached, ok := locations.named[name]; ok {
		return cached, nil // another goroutine loaded it first: share its pointer
	}
	if locations.named == nil {
		locations.named = make(map[string]*time.Location)
	}
	if len(locations.named) < maxCachedLocations {
		locations.named[name] = loc
	}
	return loc, nil
}

// fixedZone is time.FixedZone with a cache.
func fixedZone(name string, offset int) *time.Location {
	key := fixedKey{name, offset}
	locations.mu.RLock()
	loc, ok := locations.fixed[key]
	locations.mu.RUnlock()
	if ok {
		return loc
	}
	loc = time.FixedZone(name, offset)
	locations.mu.Lock()
	defer locations.mu.Unlock()
	if locations.fixed == nil {
		locations.fixed = make(map[fixedKey]*time.Location)
	}
	if len(locations.fixed) < maxCachedLocations {
		locations.fixed[key] = loc
	}
	return loc
}
