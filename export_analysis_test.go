package cachedsql

// InjectAnalysis makes o's cache call f where it analyses a statement or its arguments: site is
// "plan" (the statement's text), "effect" (the rows a write is pinned to), "row" (the row a row
// rule's read looks up) or "args" (the hash of a read's arguments). f may panic, as a defect of the analysis would.
func InjectAnalysis(o *Options, f func(site, query string)) { o.test.analysis = f }

// PlainFirstWord exposes plainFirstWord.
var PlainFirstWord = plainFirstWord

// Analysed exposes analysed, which turns a panic while compiling a rule into a problem.
func Analysed(compile func() error) (msg string) {
	probs := analysed(func() []problem {
		if err := compile(); err != nil {
			return []problem{{"match.sql", err.Error()}}
		}
		return nil
	})
	for _, p := range probs {
		msg += p.field + ": " + p.msg
	}
	return msg
}
