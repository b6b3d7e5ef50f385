package keying

// Value is where one key value of a statement comes from: an argument
// (a placeholder) or a literal written in the text. Exactly one of Ordinal,
// Name and IsLiteral is set. It is a comparable value type.
//
// NOTE: a placeholder is named by the text alone. A caller that has no
// argument for a Value (MySQL's @name is a user variable, not a placeholder;
// go-sql-driver/mysql takes no named arguments) must treat the statement as
// not pinned.
type Value struct {
	// Ordinal is the 1-based position of the argument for $n, ?n and the
	// n-th bare ?; 0 for a named placeholder or a literal.
	Ordinal int
	// Name is the name of a :name, @name or $name placeholder, without its
	// sigil; "" otherwise.
	Name string
	// Literal is the value of a literal: a number as written (with its
	// leading minus, if any), or the contents of a string literal with its
	// quotes removed and doubled quotes undone. Valid when IsLiteral.
	Literal string
	// IsLiteral reports that the value is the literal in Literal.
	IsLiteral bool
}

// Pins names the rows a write may change, by the values of some of their
// columns (see [Statement.Pins]). A Pins is shared by every caller of its
// Statement: it is safe for concurrent reads, and must not be modified.
type Pins struct {
	// Table is the written table, as in Statement.Writes.
	Table string
	// Columns are the pinned columns, lower-cased (quoted names byte-exact),
	// sorted, without duplicates.
	Columns []string
	// Rows holds one tuple per row, each len(Columns) long, values in
	// Columns order.
	Rows [][]Value
	// Creates reports that the statement can only add rows (an INSERT
	// without a conflict clause that updates or replaces): no existing row
	// changes. Columns and Rows then describe the rows added (Columns may be
	// empty when the inserted columns are not known).
	Creates bool
}

// MaxPinnedRows bounds len(Pins.Rows): a write that pins more rows is not
// pinned.
const MaxPinnedRows = 1000

// Pins returns the rows a write statement may change, or nil when it cannot
// tell (then the write must be treated as changing any row of its tables).
//
// It is non-nil only for one UPDATE, DELETE or INSERT of one table, without
// a WITH clause:
//
//   - UPDATE t SET … WHERE c and DELETE FROM t WHERE c, where c is an AND
//     chain (a top-level OR, XOR or || gives nil), pin each column compared
//     with = or IN to placeholders or literals in a conjunct of its own
//     (col = v, v = col, col IN (v, …)); other conjuncts only narrow and are
//     ignored. Rows is the product of the columns' values. A column that the
//     UPDATE assigns is not pinned (its new value differs). UPDATE … FROM,
//     USING, joins, several targets, WHERE CURRENT OF and UPDATE OR REPLACE
//     give nil.
//   - INSERT without a conflict clause, with ON CONFLICT … DO NOTHING, INSERT
//     OR IGNORE and INSERT IGNORE set Creates; Columns are the inserted
//     columns whose value is a placeholder or a literal in every VALUES row.
//   - INSERT … ON CONFLICT (cols) DO UPDATE pins the conflict target columns
//     to their values in each VALUES row (nil when the target is missing, is a
//     constraint name, or is assigned by the DO UPDATE).
//   - REPLACE, INSERT OR REPLACE, UPSERT, ON DUPLICATE KEY UPDATE, MERGE,
//     TRUNCATE and anything else give nil.
//
// A literal value is a number (with an optional leading minus) or a plain or
// dollar-quoted string without backslashes; TRUE, FALSE, NULL and DEFAULT are
// not values. A value may carry one cast (v::type, CAST(v AS type)) to text,
// varchar, citext, uuid, an integer type or numeric, without a modifier; a
// literal cast to an integer type must be an integer.
//
// WARNING: Pins reads the statement alone. A trigger, a rule, a
// self-referencing foreign key with ON DELETE/ON UPDATE CASCADE or SET NULL,
// a SQLite column declared with ON CONFLICT REPLACE, or a generated key
// column can change rows the statement does not name: do not use row-level
// invalidation on such tables. Values are named as written: a database that
// converts a value before storing or comparing it (rounding 5.7 into an
// integer column, pgx truncating a float64 argument for an integer
// parameter, MySQL comparing '5abc' equal to 5) may change a row whose key
// differs from the pinned value.
func (st *Statement) Pins() *Pins { return st.pins }

// Lookup is the shape of a read that fetches rows of one table by equality
// on some of its columns (see [Statement.Lookup]). Each call of
// Statement.Lookup returns a new one, which the caller owns.
type Lookup struct {
	// Table is the one table read.
	Table string
	// Columns are the columns compared for equality with a placeholder or a
	// literal in the top-level AND chain of WHERE, sorted, without
	// duplicates, in the same form as Pins.Columns.
	Columns []string
	// Values holds the value each column is compared with, in Columns order.
	Values []Value
}

// Lookup returns the shape of a read of rows of one table by equality on
// columns, or nil and the reason it does not have that shape: a short
// lower-case phrase such as "not a cacheable read", "reads 2 tables",
// "no WHERE clause", "WHERE is not an AND chain", "join", "subquery",
// "set operation", "WITH clause", "GROUP BY", "window function",
// "not a plain SELECT", "FROM clause not understood",
// "dialect-dependent text" (see below) or "no equality on a column".
//
// The statement must be one cacheable SELECT … FROM t [[AS] alias] WHERE c
// [ORDER BY …] [LIMIT …] [OFFSET …] [FETCH …] without subqueries, where c is
// an AND chain; the conjuncts col = v and v = col (v a value as for
// [Statement.Pins]) give Columns and Values, and a column compared twice
// keeps its first value. Lookup reads the text again on every call: keep its
// result.
//
// Both Lookup and [Statement.Pins] refuse text that MySQL splits into other
// tokens than PostgreSQL and SQLite do, since it could hide a condition: a
// quoted token whose end moves under MySQL's backslash escapes, a "--"
// comment not followed by a space, and any "#" (a comment in MySQL, an
// operator in PostgreSQL).
func (st *Statement) Lookup() (*Lookup, string) {
	if st.Kind != KindRead || !st.Cacheable || st.Multi {
		return nil, "not a cacheable read"
	}
	if len(st.Reads) != 1 {
		return nil, "reads " + itoa(len(st.Reads)) + " tables"
	}
	lx := lex(st.Query)
	segs := splitSegments(lx.toks)
	if len(segs) != 1 {
		return nil, "not a cacheable read"
	}
	if !dialectSafe(st.Query, lx) {
		return nil, "dialect-dependent text"
	}
	return newRowParser(st.Query, segs[0]).lookup(st.Reads[0])
}

// pinsOf computes Statement.pins for Analyze.
func pinsOf(st *Statement, lx lexResult, segs [][]token) *Pins {
	if st.Multi || len(segs) != 1 || st.Kind != KindWrite || len(st.Writes) != 1 || st.AllTables ||
		lx.unterminated || lx.oddComment || st.Reason != reasonNotRead || !dialectSafe(st.Query, lx) {
		return nil
	}
	return newRowParser(st.Query, segs[0]).pins(st.Writes[0])
}
