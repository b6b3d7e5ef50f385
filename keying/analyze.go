package keying

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
)

// Statement is what [Analyze] learns from one SQL text. It is immutable
// after Analyze returns and safe for concurrent use; callers must not
// modify its slices.
type Statement struct {
	// Query is the text as given.
	Query string
	// Normalized is the canonical text: comments dropped, whitespace
	// collapsed, unquoted keywords and identifiers lower-cased, and quoted
	// identifiers, literals and placeholders kept byte-exact. Texts that
	// differ only in whitespace, comments or keyword case normalize
	// identically; a changed literal or quoted identifier changes it.
	// Trailing semicolons are dropped.
	Normalized string
	// Fingerprint is 32 lower-case hex digits: the first 128 bits of the
	// SHA-256 of Normalized.
	Fingerprint string
	// Name is the sqlc-style query name from a comment such as
	// "-- name: GetUser :one", or "" if there is none.
	Name string
	// Kind says what the statement does.
	Kind Kind
	// Reads lists the tables read, lower-cased, unquoted and unqualified,
	// sorted and deduplicated.
	Reads []string
	// Writes lists the tables written (DML targets, DDL objects), in the
	// same form as Reads.
	Writes []string
	// AllTables reports that the statement may change tables that Writes
	// does not name, so the write must be treated as touching every table.
	// It is set for KindOther, for all DDL except REFRESH MATERIALIZED
	// VIEW, for TRUNCATE … CASCADE and for several statements with a write.
	AllTables bool
	// Cacheable reports that the statement is a read whose result may be
	// cached. A read of no table at all (SELECT 1) is cacheable.
	Cacheable bool
	// Reason says, when Cacheable is false, why: a short stable phrase such
	// as "not a read", "calls now()", "FOR UPDATE", "several statements",
	// "system catalog" or "writable CTE".
	Reason string
	// Multi reports that the text holds more than one statement; a trailing
	// semicolon alone does not count.
	Multi bool
	// ChangesSession reports that running the statement may change the state of its session: every
	// KindSession statement, CREATE TEMP objects (they shadow tables for that session alone), calls of
	// set_config however spelled (pg: SELECT "set_config"('search_path', …)), and DO, CALL, EXECUTE
	// and other statements Analyze does not recognise (they may call set_config or SET).
	ChangesSession bool
	// Session lists, in order, the changes the statement makes to its session that can change what
	// later reads on the connection return, and the resets that undo them (RESET, SET … TO DEFAULT,
	// RESET ALL, DISCARD ALL). It leaves out settings that change no read's result (PRAGMA
	// foreign_keys, busy_timeout, journal_mode; statement_timeout, application_name, …), so a
	// statement may change the session (ChangesSession) and list nothing here.
	Session []SessionChange

	pins *Pins // see Pins

	sum [32]byte // SHA-256 of Normalized; valid when hasSum
	has bool
}

// Reasons a statement is not cacheable.
const (
	reasonNotRead     = "not a read"
	reasonMulti       = "several statements"
	reasonCatalog     = "system catalog"
	reasonWritableCTE = "writable CTE"
	reasonSelectInto  = "SELECT INTO"
	reasonUnterm      = "unterminated token"
	reasonUnbalanced  = "unbalanced parentheses"
	reasonOddComment  = "dialect-dependent comment"
	reasonUnsure      = "tables not understood"
	reasonListen      = "LISTEN/NOTIFY"
	reasonCopy        = "COPY TO"
)

// Analyze lexes and classifies query. It never panics and never fails: on
// text it cannot understand it returns [KindOther] with AllTables set and
// Cacheable false, and a read whose tables it is unsure of is not
// cacheable.
//
// Table names are taken from the text alone. NOTE: Analyze cannot see
// through views, triggers, rules, foreign keys with ON DELETE CASCADE or
// functions that write: a read of a view depends on the view's name only,
// and SELECT my_func() is a read. Rules must not cache such statements,
// or must name their tables explicitly.
func Analyze(query string) *Statement {
	lx := lex(query)
	segs := splitSegments(lx.toks)
	st := &Statement{Query: query, Name: lx.name}

	var b strings.Builder
	b.Grow(len(query))
	for i, seg := range segs {
		if i > 0 {
			b.WriteString("; ")
		}
		normalize(&b, seg)
	}
	st.Normalized = b.String()
	st.sum = sha256.Sum256([]byte(st.Normalized))
	st.has = true
	st.Fingerprint = hex.EncodeToString(st.sum[:16])
	st.Multi = len(segs) > 1

	classify(st, lx, segs)
	st.pins = pinsOf(st, lx, segs)
	return st
}

// splitSegments splits tokens into statements at each ";", dropping
// empty statements.
func splitSegments(toks []token) [][]token {
	var segs [][]token
	start := 0
	for i := 0; i <= len(toks); i++ {
		if i == len(toks) || toks[i].isPunct(";") {
			if i > start {
				segs = append(segs, toks[start:i])
			}
			start = i + 1
		}
	}
	return segs
}

// classify fills in the kind, tables and verdict of st.
func classify(st *Statement, lx lexResult, segs [][]token) {
	var reads, writes []string
	kinds := make([]Kind, 0, len(segs))
	reason := ""
	for _, seg := range segs {
		a := newAnalysis(seg)
		a.statement()
		reads = append(reads, a.reads...)
		writes = append(writes, a.writes...)
		st.AllTables = st.AllTables || a.allTables
		changes := a.sessionChanges()
		st.Session = append(st.Session, changes...)
		st.ChangesSession = st.ChangesSession || a.kind == KindSession || a.session || a.callsSetConfig() || len(changes) > 0
		kinds = append(kinds, a.kind)
		if reason == "" {
			reason = a.reason()
		}
	}
	st.Reads = sortedSet(reads)
	st.Writes = sortedSet(writes)
	st.Kind = combineKinds(kinds)
	switch {
	case len(segs) == 0:
		reason = "empty statement"
	case lx.unterminated:
		st.Kind, reason = KindOther, reasonUnterm
	case st.Multi:
		reason = reasonMulti
	case lx.oddComment && reason == "":
		reason = reasonOddComment
	}
	if st.Kind == KindOther || st.Multi && st.Kind != KindRead && st.Kind != KindSession {
		st.AllTables = true
	}
	st.Reason = reason
	st.Cacheable = reason == ""
}

// combineKinds is the kind of several statements in one text: their common
// kind, DDL when writes and DDL mix, and KindOther for any other mix.
func combineKinds(kinds []Kind) Kind {
	if len(kinds) == 0 {
		return KindOther
	}
	k := kinds[0]
	for _, o := range kinds[1:] {
		switch {
		case o == k:
		case (o == KindWrite || o == KindDDL) && (k == KindWrite || k == KindDDL):
			k = KindDDL
		default:
			return KindOther
		}
	}
	return k
}

func sortedSet(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	slices.Sort(s)
	return slices.Compact(s)
}
