package keying

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIdentity(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, driver, dsn, want string
	}{
		{"pg url", "pgx", "postgres://bob:s3cret@db.example:5433/app?sslmode=disable",
			"dbname=app host=db.example:5433 sslmode=disable user=bob"},
		{"pg url default port", "pgx", "postgresql://bob:s3cret@db.example/app",
			"dbname=app host=db.example:5432 user=bob"},
		{"pg url multi-host", "pgx", "postgres://bob:s3cret@h1:5432,h2:5433,[::1]:5434/app?target_session_attrs=read-write",
			"dbname=app host=h1:5432,h2:5433,[::1]:5434 target_session_attrs=read-write user=bob"},
		{"pg url secrets in query", "pgx", "postgres://bob@h/app?password=s3cret&sslpassword=s3cret&sslkey=/k&passfile=/p&application_name=x",
			"application_name=x dbname=app host=h:5432 user=bob"},
		{"pg url unescaped slash in password", "pgx", "postgres://bob:s3/cr@et@h/app",
			"dbname=app host=h:5432 user=bob"},
		{"pg url socket host in query", "pgx", "postgres:///app?host=%2Fvar%2Frun%2Fpostgresql&user=bob",
			"dbname=app host=/var/run/postgresql:5432 user=bob"},
		{"pg keywords", "pgx", "host=db.example port=5433 dbname=app user=bob password='s3 cret' sslmode=disable",
			"dbname=app host=db.example:5433 sslmode=disable user=bob"},
		{"pg keywords quoted", "postgres", `host = h dbname='my app' user=bob password='it\'s s3cret' options='-c search_path=x'`,
			"dbname='my app' host=h:5432 options='-c search_path=x' user=bob"},
		{"pg keywords multi-host one port", "pgx", "host=h1,h2 port=6000 dbname=app",
			"dbname=app host=h1:6000,h2:6000"},
		{"mysql", "mysql", "bob:s3cret@tcp(db.example:3306)/app?parseTime=true&charset=utf8mb4",
			"bob@tcp(db.example:3306)/app?charset=utf8mb4&parseTime=true"},
		{"mysql password with slash", "mysql", "bob:s3/cr@et@tcp(h:3306)/app",
			"bob@tcp(h:3306)/app"},
		{"sqlite uri", "sqlite3", "file:test.db?cache=shared&_auth_pass=s3cret&_fk=1",
			"file:" + filepath.Join(wd, "test.db") + "?_fk=1&cache=shared"},
		{"sqlite abs", "sqlite3", "/var/data/app.db", "file:/var/data/app.db"},
		{"sqlite relative", "sqlite", "data/app.db", "file:" + filepath.Join(wd, "data/app.db")},
		{"file url", "sqlite3", "file:///var/data/app.db?mode=ro", "file:/var/data/app.db?mode=ro"},
		{"sqlite key", "sqlite3", "file:enc.db?_key=s3cret", "file:" + filepath.Join(wd, "enc.db")},
		{"unknown with password", "odbc", "Server=h;Password=s3cret;Database=app", "Server=h;;Database=app"},
		{"unknown url", "other", "redis://bob:s3cret@h:6379/0", "redis://bob@h:6379/0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Identity(tt.driver, tt.dsn)
			if got != tt.want {
				t.Errorf("Identity(%q, %q)\n got %q\nwant %q", tt.driver, tt.dsn, got, tt.want)
			}
			for _, secret := range []string{"s3cret", "s3 cret", "cr@et", "s3/"} {
				if strings.Contains(got, secret) {
					t.Errorf("Identity(%q) = %q: holds the secret %q", tt.dsn, got, secret)
				}
			}
			if again := Identity(tt.driver, tt.dsn); again != got {
				t.Errorf("Identity not deterministic: %q then %q", got, again)
			}
		})
	}
}

func TestIdentityFormsAgree(t *testing.T) {
	url := Identity("pgx", "postgres://bob:x@h:5432/app?sslmode=require")
	kw := Identity("pgx", "user=bob password=y host=h dbname=app sslmode=require")
	if url != kw {
		t.Errorf("URL form %q and keyword form %q differ", url, kw)
	}
	// The identity names the database, not the driver: writes through any driver must invalidate
	// reads through any other (the caller keys entries by driver).
	if other := Identity("postgres", "postgres://bob:x@h:5432/app?sslmode=require"); other != url {
		t.Errorf("drivers pgx and postgres: identities %q and %q differ", url, other)
	}
	if other := Identity("pgx", "postgres://alice:x@h:5432/app?sslmode=require"); other == url {
		t.Errorf("users bob and alice share identity %q", url)
	}
}

func TestPrivate(t *testing.T) {
	for _, tt := range []struct {
		driver, dsn string
		want        bool
	}{
		{"sqlite3", ":memory:", true},
		{"sqlite3", "file::memory:?cache=shared", true},
		{"sqlite3", "file:x?mode=memory", true},
		{"sqlite3", "", true},
		{"sqlite3", "app.db", false},
		{"sqlite3", "file:app.db?cache=shared", false},
		{"pgx", "", false},
		{"pgx", "postgres://h/db", false},
	} {
		if got := Private(tt.driver, tt.dsn); got != tt.want {
			t.Errorf("Private(%q, %q) = %v, want %v", tt.driver, tt.dsn, got, tt.want)
		}
	}
}
