package cachedsql

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// LoadRules reads rule files and returns their rules as one set. Each path
// is a file or a folder; a folder contributes its *.yaml and *.yml files,
// recursively, in the lexical order of [filepath.WalkDir], skipping names
// that start with a dot. Rules keep the order of the files, and rule names
// must be unique across all of them.
//
// Every problem found is reported, each as a [*RuleError] with its file and
// line, joined with [errors.Join], so that all can be fixed in one pass.
func LoadRules(paths ...string) (*Rules, error) {
	if len(paths) == 0 {
		return nil, errors.New("cachedsql: no rule files given")
	}
	files, errs := ruleFiles(paths)
	var ds []decodedRule
	var ts []decodedTrigger
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			errs = append(errs, fileError(name, err))
			continue
		}
		fds, fts, ferrs := decodeFile(name, data)
		ds = append(ds, fds...)
		ts = append(ts, fts...)
		errs = append(errs, ferrs...)
	}
	return buildWithTriggers(ds, ts, errs)
}

// ParseRules parses one rule file held in data. filename is used in
// messages only. Problems are reported as by [LoadRules].
func ParseRules(filename string, data []byte) (*Rules, error) {
	ds, ts, errs := decodeFile(filename, data)
	return buildWithTriggers(ds, ts, errs)
}

// buildWithTriggers builds the rules of ds and adds the trigger declarations ts, reporting every
// problem of both.
func buildWithTriggers(ds []decodedRule, ts []decodedTrigger, errs []error) (*Rules, error) {
	rs, err := build(ds, errs)
	if len(ts) == 0 {
		return rs, err
	}
	rs2, terr := rs.withTriggers(ts)
	if err != nil || terr != nil {
		all := []error{}
		for _, e := range []error{err, terr} {
			if j, ok := e.(interface{ Unwrap() []error }); ok {
				all = append(all, j.Unwrap()...)
			} else if e != nil {
				all = append(all, e)
			}
		}
		sortErrors(all)
		return nil, errors.Join(all...)
	}
	return rs2, nil
}

// ruleFiles expands paths into the rule files to read.
func ruleFiles(paths []string) ([]string, []error) {
	var files []string
	var errs []error
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			errs = append(errs, fileError(p, err))
			continue
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		n := len(files)
		err = filepath.WalkDir(p, func(path string, e fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case path != p && strings.HasPrefix(e.Name(), "."):
				if e.IsDir() {
					return filepath.SkipDir
				}
			case !e.IsDir() && (filepath.Ext(path) == ".yaml" || filepath.Ext(path) == ".yml"):
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fileError(p, err))
		} else if len(files) == n {
			errs = append(errs, &RuleError{File: p, Msg: "no rule files (*.yaml, *.yml) in folder"})
		}
	}
	return files, errs
}

// fileError reports an I/O error about the file or folder name.
func fileError(name string, err error) *RuleError {
	msg := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		msg = pe.Err.Error()
	}
	return &RuleError{File: name, Msg: msg, err: err}
}

// decoder turns one rule file into rules, collecting every problem.
type decoder struct {
	file string
	errs []error
	// at records the positions of the settings of the rule being decoded,
	// and failed the settings whose values were rejected.
	at     map[string]position
	failed map[string]bool
	// rule names the rule being decoded, for errors.
	rule string
}

// errReported is returned by a setter that has reported its own errors.
var errReported = errors.New("reported")

// errorf records a problem at node n (nil: no position).
func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	e := &RuleError{File: d.file, Rule: d.rule, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

// yamlLineRE finds the line in a yaml syntax error.
var yamlLineRE = regexp.MustCompile(`^yaml: (?:line (\d+): )?`)

// syntaxError records an error from the YAML parser, keeping its line.
func (d *decoder) syntaxError(err error) {
	e := &RuleError{File: d.file, Msg: err.Error(), err: err}
	if m := yamlLineRE.FindStringSubmatch(e.Msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = e.Msg[len(m[0]):]
	}
	d.errs = append(d.errs, e)
}

// fileNodes holds the top-level settings of a rule file.
type fileNodes struct {
	version, defaults, rules, triggers *yaml.Node
}

// fileFields are the settings allowed at the top of a rule file.
var fileFields = []field[fileNodes]{
	{name: "version", set: func(_ *decoder, n *yaml.Node, f *fileNodes) error { f.version = n; return nil }},
	{name: "defaults", set: func(_ *decoder, n *yaml.Node, f *fileNodes) error { f.defaults = n; return nil }},
	{name: "rules", set: func(_ *decoder, n *yaml.Node, f *fileNodes) error { f.rules = n; return nil }},
	{name: "triggers", set: func(_ *decoder, n *yaml.Node, f *fileNodes) error { f.triggers = n; return nil }},
}

// decodeFile decodes the rule file data, named file in messages.
func decodeFile(file string, data []byte) ([]decodedRule, []decodedTrigger, []error) {
	d := &decoder{file: file}
	root := d.document(data)
	if root == nil {
		return nil, nil, d.errs
	}
	var top fileNodes
	if !decodeMapping(d, root, "file", "", fileFields, &top) {
		return nil, nil, d.errs
	}
	d.version(root, top.version)
	var defaults Rule
	if top.defaults != nil {
		decodeMapping(d, resolve(top.defaults), "defaults", "", defaultFields, &defaults)
	}
	ts := d.triggers(top.triggers)
	if top.triggers != nil && top.rules == nil {
		return nil, ts, d.errs // a file may declare triggers alone
	}
	return d.rules(top.rules, defaults), ts, d.errs
}

// triggers decodes the file's trigger declarations:
//
//	triggers:
//	  - table: orders
//	    writes: [order_audit]
func (d *decoder) triggers(n *yaml.Node) []decodedTrigger {
	if n == nil {
		return nil
	}
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "triggers: want a list of {table, writes}, got %s", describe(n))
		return nil
	}
	var ts []decodedTrigger
	for _, item := range n.Content {
		item = resolve(item)
		t := decodedTrigger{file: d.file, line: item.Line}
		before := len(d.errs)
		if !decodeMapping(d, item, "trigger", "", triggerFields, &t) || len(d.errs) > before {
			continue
		}
		if t.tableLine == 0 {
			d.errorf(item, "trigger: missing table")
			continue
		}
		if t.writesLine == 0 {
			d.errorf(item, "trigger of %q: missing writes (give [] if its triggers write no table)", t.Table)
			continue
		}
		ts = append(ts, t)
	}
	return ts
}

// triggerFields are the settings of a trigger declaration.
var triggerFields = []field[decodedTrigger]{
	{name: "table", set: func(_ *decoder, n *yaml.Node, t *decodedTrigger) error {
		t.tableLine = n.Line
		if err := stringValue(n, &t.Table); err != nil {
			return err
		}
		if _, ok := tableName(t.Table); !ok {
			return errors.New("must not be empty")
		}
		return nil
	}},
	{name: "writes", set: func(_ *decoder, n *yaml.Node, t *decodedTrigger) error {
		t.writesLine = n.Line
		return stringsValue(n, &t.Writes)
	}},
}

// document parses data and returns its top-level mapping, or nil after
// reporting why there is none.
func (d *decoder) document(data []byte) *yaml.Node {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			d.errorf(nil, "no rules")
		} else {
			d.syntaxError(err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		d.errorf(&extra, "several yaml documents: keep one per file")
	case err != io.EOF:
		d.syntaxError(err)
	}
	if len(doc.Content) == 0 {
		d.errorf(nil, "no rules")
		return nil
	}
	root := resolve(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		d.errorf(nil, "no rules")
		return nil
	}
	if root.Kind != yaml.MappingNode {
		d.errorf(root, "want a mapping with version and rules, got %s", describe(root))
		return nil
	}
	return root
}

// version checks the file's version setting.
func (d *decoder) version(root, n *yaml.Node) {
	if n == nil {
		d.errorf(root, "missing version: add \"version: 1\"")
		return
	}
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.errorf(n, "version: want 1, got %s", describe(n))
	} else if n.Value != "1" {
		d.errorf(n, "unsupported version %s (want 1)", n.Value)
	}
}

// rules decodes the rules list, starting each rule from defaults.
func (d *decoder) rules(n *yaml.Node, defaults Rule) []decodedRule {
	if n == nil {
		d.errorf(nil, "no rules")
		return nil
	}
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "rules: want a list of rules, got %s", describe(n))
		return nil
	}
	if len(n.Content) == 0 {
		d.errorf(n, "no rules")
		return nil
	}
	ds := make([]decodedRule, 0, len(n.Content))
	for _, item := range n.Content {
		if r, ok := d.decodeRule(resolve(item), defaults); ok {
			ds = append(ds, r)
		}
	}
	return ds
}

// decodeRule decodes the rule at n. It reports false when the rule cannot take
// part in the set checks because it has no name.
func (d *decoder) decodeRule(n *yaml.Node, defaults Rule) (decodedRule, bool) {
	r := decodedRule{
		rule:   defaults,
		at:     map[string]position{"": {n.Line, n.Column}},
		failed: map[string]bool{},
	}
	r.rule.file, r.rule.line = d.file, n.Line
	d.at, d.failed, d.rule = r.at, r.failed, ruleName(n)
	defer func() { d.at, d.failed, d.rule = nil, nil, "" }()
	if !decodeMapping(d, n, "rule", "", ruleFields, &r.rule) {
		return r, false
	}
	if _, given := r.at["name"]; !given {
		d.errorf(n, "missing name")
		return r, false
	}
	return r, r.rule.Name != ""
}

// ruleName peeks at the name of the rule at n, for messages.
func ruleName(n *yaml.Node) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "name" {
			return resolve(n.Content[i+1]).Value
		}
	}
	return ""
}

// field is one setting of a YAML mapping decoded into a T. set converts
// and stores the value at n, returning what is wrong with it, if anything.
// Adding a setting to rule files means adding one entry to a field table.
type field[T any] struct {
	name     string
	defaults bool // a rule setting also allowed under "defaults:"
	set      func(d *decoder, n *yaml.Node, v *T) error
}

// decodeMapping decodes the mapping at n into v using fields, reporting
// unknown and duplicate keys and bad values. prefix is prepended to key
// names in d.at; what names the mapping in messages. It returns false if n
// is not a mapping at all.
func decodeMapping[T any](d *decoder, n *yaml.Node, what, prefix string, fields []field[T], v *T) bool {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: want a mapping, got %s", what, describe(n))
		return false
	}
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], resolve(n.Content[i+1])
		if line, dup := seen[key.Value]; dup {
			d.errorf(key, "duplicate field %q (first at line %d)", key.Value, line)
			continue
		}
		seen[key.Value] = key.Line
		f := findField(fields, key.Value)
		if f == nil {
			d.errorf(key, "unknown field %q; allowed: %s", key.Value, fieldNames(fields))
			continue
		}
		if d.at != nil {
			d.at[prefix+key.Value] = position{val.Line, val.Column}
		}
		err := f.set(d, val, v)
		if err == nil {
			continue
		}
		if d.failed != nil {
			d.failed[prefix+key.Value] = true
		}
		if err != errReported {
			d.errorf(val, "%s%s: %v", prefix, key.Value, err)
		}
	}
	return true
}

// findField returns the entry of fields called name, or nil.
func findField[T any](fields []field[T], name string) *field[T] {
	for i := range fields {
		if fields[i].name == name {
			return &fields[i]
		}
	}
	return nil
}

// fieldNames lists the names in fields for messages.
func fieldNames[T any](fields []field[T]) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

// resolve follows aliases to the node they stand for.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// describe names the YAML type of n for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!str":
			return "a string"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		}
		return "a " + strings.TrimPrefix(n.ShortTag(), "!!")
	}
	return "an alias"
}

// ruleFields are the settings of a rule, and with defaults set, of the
// defaults section.
var ruleFields = []field[Rule]{
	{name: "name", set: func(_ *decoder, n *yaml.Node, r *Rule) error {
		if err := stringValue(n, &r.Name); err != nil || r.Name != "" {
			return err
		}
		return errors.New("must not be empty")
	}},
	{name: "match", set: func(d *decoder, n *yaml.Node, r *Rule) error {
		before := len(d.errs)
		if decodeMapping(d, n, "match", "match.", matchFields, &r.Match) && len(d.errs) == before {
			return nil
		}
		return errReported
	}},
	{name: "enabled", set: func(_ *decoder, n *yaml.Node, r *Rule) error {
		on := true
		err := boolValue(n, &on)
		r.Disabled = !on
		return err
	}},
	{name: "ttl", defaults: true, set: func(_ *decoder, n *yaml.Node, r *Rule) error { return durationValue(n, &r.TTL) }},
	{name: "skip_empty", defaults: true, set: func(_ *decoder, n *yaml.Node, r *Rule) error { return boolValue(n, &r.SkipEmpty) }},
	{name: "max_rows", defaults: true, set: func(_ *decoder, n *yaml.Node, r *Rule) error { return limitValue(n, &r.MaxRows, parseCount) }},
	{name: "max_bytes", defaults: true, set: func(_ *decoder, n *yaml.Node, r *Rule) error { return limitValue(n, &r.MaxBytes, parseSize) }},
	{name: "lease", defaults: true, set: func(_ *decoder, n *yaml.Node, r *Rule) error {
		on := true
		err := boolValue(n, &on)
		r.NoLease = !on
		return err
	}},
	{name: "lock_wait", defaults: true, set: func(_ *decoder, n *yaml.Node, r *Rule) error {
		return zeroOffDuration(n, &r.LockWait)
	}},
	{name: "beta", defaults: true, set: func(_ *decoder, n *yaml.Node, r *Rule) error { return betaValue(n, &r.Beta) }},
	{name: "stale_while_revalidate", defaults: true, set: func(_ *decoder, n *yaml.Node, r *Rule) error {
		return durationValue(n, &r.StaleWhileRevalidate)
	}},
	{name: "stale_if_error", defaults: true, set: func(_ *decoder, n *yaml.Node, r *Rule) error {
		return durationValue(n, &r.StaleIfError)
	}},
	{name: "refresh_ahead", defaults: true, set: func(_ *decoder, n *yaml.Node, r *Rule) error { return boolValue(n, &r.RefreshAhead) }},
	{name: "hot_hits", defaults: true, set: func(_ *decoder, n *yaml.Node, r *Rule) error { return countValue(n, &r.HotHits) }},
	{name: "key", set: func(_ *decoder, n *yaml.Node, r *Rule) error {
		if err := stringsValue(n, &r.Key); err != nil {
			return err
		}
		if len(r.Key) == 0 {
			return errors.New("want at least one column")
		}
		return nil
	}},
	{name: "write_through", defaults: true, set: func(_ *decoder, n *yaml.Node, r *Rule) error { return boolValue(n, &r.WriteThrough) }},
	{name: "write_through_limit", defaults: true, set: func(_ *decoder, n *yaml.Node, r *Rule) error {
		return countValue(n, &r.WriteThroughLimit)
	}},
	{name: "depends_on", set: func(_ *decoder, n *yaml.Node, r *Rule) error {
		r.DependsOn = []string{} // given, even empty: the functions the rule's reads call read no table
		return stringsValue(n, &r.DependsOn)
	}},
}

// defaultFields are the rule settings allowed under "defaults:".
var defaultFields = func() []field[Rule] {
	var fs []field[Rule]
	for _, f := range ruleFields {
		if f.defaults {
			fs = append(fs, f)
		}
	}
	return fs
}()

// matchFields are the conditions of a rule's match.
var matchFields = []field[Match]{
	{name: "query_name", set: func(_ *decoder, n *yaml.Node, m *Match) error { return stringValue(n, &m.QueryName) }},
	{name: "fingerprint", set: func(_ *decoder, n *yaml.Node, m *Match) error { return stringValue(n, &m.Fingerprint) }},
	{name: "regexp", set: func(_ *decoder, n *yaml.Node, m *Match) error { return stringValue(n, &m.Regexp) }},
	{name: "tables_any", set: func(_ *decoder, n *yaml.Node, m *Match) error { return stringsValue(n, &m.TablesAny) }},
	{name: "tables_all", set: func(_ *decoder, n *yaml.Node, m *Match) error { return stringsValue(n, &m.TablesAll) }},
	{name: "default", set: func(_ *decoder, n *yaml.Node, m *Match) error { return boolValue(n, &m.Default) }},
	{name: "sql", set: func(_ *decoder, n *yaml.Node, m *Match) error { return stringValue(n, &m.SQL) }},
}

// scalar returns an error unless n is a scalar with the given tag.
func scalar(n *yaml.Node, tag, want string) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != tag {
		return fmt.Errorf("want %s, got %s", want, describe(n))
	}
	return nil
}

// stringValue stores the string at n in s.
func stringValue(n *yaml.Node, s *string) error {
	if err := scalar(n, "!!str", "a string"); err != nil {
		return err
	}
	*s = n.Value
	return nil
}

// stringsValue stores the list of strings at n in s.
func stringsValue(n *yaml.Node, s *[]string) error {
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("want a list of table names, got %s", describe(n))
	}
	for i, item := range n.Content {
		var v string
		if err := stringValue(resolve(item), &v); err != nil {
			return fmt.Errorf("item %d: %w", i+1, err)
		}
		*s = append(*s, v)
	}
	return nil
}

// boolValue stores the boolean at n in b.
func boolValue(n *yaml.Node, b *bool) error {
	if err := scalar(n, "!!bool", "true or false"); err != nil {
		return err
	}
	return n.Decode(b)
}

// durationValue stores the positive duration at n in t.
func durationValue(n *yaml.Node, t *time.Duration) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		return fmt.Errorf("want a duration such as 30s, got %s", describe(n))
	}
	d, err := time.ParseDuration(n.Value)
	switch {
	case err != nil:
		if _, ferr := strconv.ParseFloat(n.Value, 64); ferr == nil {
			return fmt.Errorf("bad duration %q: durations need a unit, e.g. %ss", n.Value, n.Value)
		}
		return fmt.Errorf("bad duration %q: want e.g. 30s, 5m or 1h30m", n.Value)
	case d <= 0:
		return fmt.Errorf("must be positive, got %s", n.Value)
	}
	*t = d
	return nil
}

// zeroOffDuration stores the duration at n in t; in a file 0 means "none", stored as -1 (in Go, zero
// means the default).
func zeroOffDuration(n *yaml.Node, t *time.Duration) error {
	if n.Kind == yaml.ScalarNode && (n.Value == "0" || n.Value == "none") {
		*t = -1
		return nil
	}
	return durationValue(n, t)
}

// betaValue stores the XFetch weight at n in b: a non-negative number, 0 meaning off (stored as -1;
// in Go, zero means the default 1).
func betaValue(n *yaml.Node, b *float64) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" && n.ShortTag() != "!!float" {
		return fmt.Errorf("want a number such as 1 or 1.5, got %s", describe(n))
	}
	x, err := strconv.ParseFloat(n.Value, 64)
	switch {
	case err != nil || math.IsNaN(x) || math.IsInf(x, 0):
		return fmt.Errorf("bad number %q", n.Value)
	case x < 0:
		return fmt.Errorf("must not be negative, got %s (0 turns early recomputation off)", n.Value)
	case x == 0:
		x = -1
	}
	*b = x
	return nil
}

// countValue stores the positive whole number at n in v.
func countValue(n *yaml.Node, v *int) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		return fmt.Errorf("want a whole number, got %s", describe(n))
	}
	x, err := strconv.Atoi(n.Value)
	switch {
	case err != nil:
		return fmt.Errorf("bad number %q", n.Value)
	case x <= 0:
		return fmt.Errorf("must be positive, got %s", n.Value)
	}
	*v = x
	return nil
}

// limitValue stores in v the limit at n: "unlimited" (stored as -1), or a
// positive value read by parse.
func limitValue(n *yaml.Node, v *int, parse func(string) (int64, error)) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		return fmt.Errorf("want a number or \"unlimited\", got %s", describe(n))
	}
	if n.Value == "unlimited" {
		*v = -1
		return nil
	}
	x, err := parse(n.Value)
	switch {
	case err != nil:
		return err
	case x <= 0:
		return fmt.Errorf("must be positive, got %s (use \"unlimited\" for no limit)", n.Value)
	case x > math.MaxInt:
		return fmt.Errorf("%s is too large", n.Value)
	}
	*v = int(x)
	return nil
}

// parseCount parses a row count.
func parseCount(s string) (int64, error) {
	x, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad count %q: want a whole number or \"unlimited\"", s)
	}
	return x, nil
}

// sizeUnits are the units a size may carry.
var sizeUnits = map[string]int64{
	"": 1, "B": 1,
	"KB": 1e3, "MB": 1e6, "GB": 1e9,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
}

// parseSize parses a size in bytes: an integer, optionally followed by a
// unit such as KB or MiB.
func parseSize(s string) (int64, error) {
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '-' })
	if i < 0 {
		i = len(s)
	}
	x, err := strconv.ParseInt(s[:i], 10, 64)
	unit, ok := sizeUnits[strings.TrimSpace(s[i:])]
	if err != nil || !ok {
		return 0, fmt.Errorf("bad size %q: want bytes, or a whole number with KB, KiB, MB, MiB, GB or GiB", s)
	}
	if x > math.MaxInt64/unit || x < math.MinInt64/unit {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return x * unit, nil
}
