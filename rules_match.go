package cachedsql

import "github.com/cachedsql/cachedsql/keying"

// FirstMatch returns the rule that decides for st: the first rule of rs that matches it, disabled or
// not (where [Rules.Match] returns nil for a disabled one). It returns nil when no rule matches or st
// is not a cacheable read. The rule has its defaults filled in; it is shared, and callers must not
// modify it. The cachedsql command's explain uses it to say which rule a statement falls under.
func (rs *Rules) FirstMatch(st *keying.Statement) *Rule { return rs.first(st) }
