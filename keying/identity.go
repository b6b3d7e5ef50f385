package keying

import (
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Identity returns the database identity of a DSN: the driver name, then
// the host(s) and port(s), database, user and every parameter that can
// change results, sorted. Credentials (password, sslpassword, sslkey,
// passfile, SQLite encryption keys and any parameter whose name mentions a
// password, secret or token) are dropped: the password never appears.
//
// It understands PostgreSQL URLs (postgres:// and postgresql://, several
// hosts), PostgreSQL keyword/value DSNs ("host=h dbname=d password='x y'"),
// MySQL DSNs ("user:pass@tcp(host:3306)/db?params") and SQLite file names
// and URIs (relative paths are made absolute with filepath.Abs). For
// anything else it returns the DSN with "password=…" and ":pass@" removed.
// The URL and keyword/value forms of one PostgreSQL database give the same
// identity; a missing PostgreSQL port is 5432.
//
// NOTE: Identity is the spelling of a DSN, not the database: two spellings
// of one database (another parameter, a host alias) get two identities, and
// it does not read the environment (pgx and libpq fill missing parts from
// PGHOST, PGUSER, PGDATABASE and the like). The caching layer therefore
// reads PostgreSQL and SQLite identities from the server, and uses this one
// only for other databases, where the DSN's user and parameters also stand
// for the session.
// An in-memory SQLite database (":memory:", mode=memory, or an empty name)
// is private to its process, so its identity includes a random value
// chosen once per process.
func Identity(driverName, dsn string) string {
	d := strings.ToLower(driverName)
	lower := strings.ToLower(dsn)
	var id string
	switch {
	case strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://"):
		id = pgURL(dsn)
	case strings.Contains(d, "sqlite") || strings.HasPrefix(lower, "file:") || dsn == ":memory:":
		id = sqliteIdentity(dsn)
	case strings.Contains(d, "mysql") || strings.Contains(dsn, "@tcp(") || strings.Contains(dsn, "@unix("):
		id = mysqlIdentity(dsn)
	case strings.Contains(dsn, "=") && (strings.Contains(d, "pg") || strings.Contains(d, "postgres") ||
		!strings.Contains(dsn, ";")):
		id = pgKeywords(dsn)
	default:
		id = scrub(dsn)
	}
	// A last guard: whatever the form, no "password=" value survives.
	return pwParam.ReplaceAllString(id, "")
}

// isSecret reports whether a connection parameter holds a credential.
func isSecret(key string) bool {
	k := strings.TrimLeft(strings.ToLower(key), "_")
	switch k {
	case "password", "pass", "passwd", "pwd", "sslpassword", "sslkey", "passfile", "key",
		"auth_pass", "pragma_key", "hexkey":
		return true
	}
	return strings.Contains(k, "password") || strings.Contains(k, "secret") || strings.Contains(k, "token")
}

// pgParams collects PostgreSQL connection parameters.
type pgParams struct {
	hosts, ports []string
	kv           map[string]string
}

func (p *pgParams) set(k, v string) {
	switch k = strings.ToLower(k); k {
	case "host":
		p.hosts = strings.Split(v, ",")
	case "port":
		p.ports = strings.Split(v, ",")
	case "database":
		p.kv["dbname"] = v
	default:
		if !isSecret(k) {
			p.kv[k] = v
		}
	}
}

// String renders the parameters sorted, hosts paired with their ports.
func (p *pgParams) String() string {
	addrs := make([]string, len(p.hosts))
	for i, h := range p.hosts {
		port := "5432"
		switch {
		case i < len(p.ports) && p.ports[i] != "":
			port = p.ports[i]
		case len(p.ports) == 1 && p.ports[0] != "":
			port = p.ports[0]
		}
		addrs[i] = h + ":" + port
	}
	if len(addrs) > 0 {
		p.kv["host"] = strings.Join(addrs, ",")
	}
	keys := make([]string, 0, len(p.kv))
	for k := range p.kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + quoteValue(p.kv[k]))
	}
	return b.String()
}

// quoteValue quotes a keyword/value value when it needs it, as libpq does.
func quoteValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\n'\\") {
		return v
	}
	v = strings.ReplaceAll(v, `\`, `\\`)
	return "'" + strings.ReplaceAll(v, "'", `\'`) + "'"
}

// pgURL parses postgres://user:pass@h1:p1,h2:p2/db?k=v. The user part
// ends at the last "@" before "?", so an unescaped "/" or "@" in a
// password cannot leak into the host.
func pgURL(dsn string) string {
	p := &pgParams{kv: map[string]string{}}
	_, rest, _ := strings.Cut(dsn, "://")
	rest, query, _ := strings.Cut(rest, "?")
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		user, _, _ := strings.Cut(rest[:at], ":")
		p.set("user", unescape(user))
		rest = rest[at+1:]
	}
	hosts, db, _ := strings.Cut(rest, "/")
	if db != "" {
		p.set("dbname", unescape(db))
	}
	for h := range strings.SplitSeq(hosts, ",") {
		host, port := splitHostPort(h)
		if host != "" || port != "" {
			p.hosts = append(p.hosts, unescape(host))
			p.ports = append(p.ports, port)
		}
	}
	for kv := range strings.SplitSeq(query, "&") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			p.set(unescape(k), unescape(v))
		}
	}
	return p.String()
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

func splitHostPort(h string) (host, port string) {
	if strings.HasPrefix(h, "[") {
		if end := strings.IndexByte(h, ']'); end > 0 {
			host, rest := h[:end+1], h[end+1:]
			return host, strings.TrimPrefix(rest, ":")
		}
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		return h[:i], h[i+1:]
	}
	return h, ""
}

// pgKeywords parses "key=value key='quoted \' value'".
func pgKeywords(dsn string) string {
	p := &pgParams{kv: map[string]string{}}
	s := dsn
	for {
		s = strings.TrimLeft(s, " \t\n\r")
		if s == "" {
			break
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			p.set(strings.TrimSpace(s), "")
			break
		}
		key := strings.TrimSpace(s[:eq])
		var val string
		val, s = kwValue(strings.TrimLeft(s[eq+1:], " \t\n\r"))
		p.set(key, val)
	}
	return p.String()
}

// kwValue reads one value, quoted or not, with backslash escapes.
func kwValue(s string) (val, rest string) {
	var b strings.Builder
	quoted := strings.HasPrefix(s, "'")
	i := 0
	if quoted {
		i = 1
	}
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case quoted && c == '\'':
			return b.String(), s[i+1:]
		case !quoted && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return b.String(), s[i:]
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ""
}

// mysqlIdentity parses [user[:pass]@][proto[(addr)]]/db[?params], finding
// the last "/" as the MySQL driver does, so a password may hold "/" or "@".
func mysqlIdentity(dsn string) string {
	main, query, _ := strings.Cut(dsn, "?")
	slash := strings.LastIndexByte(main, '/')
	if slash < 0 {
		return scrub(dsn)
	}
	head, db := main[:slash], main[slash+1:]
	user, addr := "", head
	if at := strings.LastIndexByte(head, '@'); at >= 0 {
		user, _, _ = strings.Cut(head[:at], ":")
		addr = head[at+1:]
	}
	return user + "@" + addr + "/" + db + sortedQuery(query)
}

// sortedQuery returns "?k=v&…" with the secrets dropped and keys sorted.
func sortedQuery(query string) string {
	var kept []string
	for kv := range strings.SplitSeq(query, "&") {
		k, _, _ := strings.Cut(kv, "=")
		if kv != "" && !isSecret(unescape(k)) {
			kept = append(kept, kv)
		}
	}
	if len(kept) == 0 {
		return ""
	}
	slices.Sort(kept)
	return "?" + strings.Join(kept, "&")
}

// sqliteIdentity makes the path absolute and sorts the parameters.
func sqliteIdentity(dsn string) string {
	body := strings.TrimPrefix(dsn, "file:")
	path, query, _ := strings.Cut(body, "?")
	if strings.HasPrefix(path, "//") { // file:///abs/path or file://localhost/abs
		path = path[strings.IndexByte(path[2:], '/')+2:]
	}
	path = unescape(path)
	memory := path == "" || path == ":memory:" || strings.Contains(query, "mode=memory")
	if !memory {
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
	}
	return "file:" + path + sortedQuery(query)
}

// Private reports whether dsn names a database that only its opener can see: an in-memory SQLite
// database (":memory:", mode=memory, or an empty name). Its [Identity] is the same in every process,
// so a caller must add something unique to the opener (a random value) before sharing a store.
func Private(driverName, dsn string) bool {
	lower := strings.ToLower(dsn)
	if !strings.Contains(strings.ToLower(driverName), "sqlite") && !strings.HasPrefix(lower, "file:") && dsn != ":memory:" {
		return false
	}
	path, query, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	return path == "" || path == ":memory:" || strings.Contains(query, "mode=memory")
}

var (
	pwParam  = regexp.MustCompile(`(?i)(password|passwd|pwd)\s*=\s*('(\\.|[^'])*'|"[^"]*"|[^\s;&]*)`)
	userPass = regexp.MustCompile(`^([^:/@]*(://)?[^:/@]*):[^@]*@`)
)

// scrub removes passwords from a DSN of unknown form.
func scrub(dsn string) string {
	return userPass.ReplaceAllString(pwParam.ReplaceAllString(dsn, ""), "$1@")
}
