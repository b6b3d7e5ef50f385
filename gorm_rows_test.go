package cachedsql_test

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/cachedsql/cachedsql"
	"github.com/cachedsql/cachedsql/internal/testenv"
)

// TestGormRowRules checks a row rule on the statement GORM generates for First(&u, id) (read from a
// dry run, as a user would take it from GORM's log), with write-through: GORM's own updates and
// deletes by primary key are pinned, so other users stay hits and the updated one is a hit with its
// new values.
func TestGormRowRules(t *testing.T) {
	for _, tc := range []struct {
		name    string
		open    func(t *testing.T, rules *cachedsql.Rules) *sql.DB
		dialect func(db *sql.DB) gorm.Dialector
	}{
		{"postgres+redis", func(t *testing.T, rules *cachedsql.Rules) *sql.DB {
			db, err := cachedsql.Open("pgx", withParam(testenv.Postgres(t), "default_query_exec_mode", "simple_protocol"),
				cachedsql.Options{Redis: testenv.Redis(t), Namespace: namespace(t), Rules: rules})
			if err != nil {
				t.Fatal(err)
			}
			return db
		}, func(db *sql.DB) gorm.Dialector { return postgres.New(postgres.Config{Conn: db}) }},
		{"sqlite+memory", func(t *testing.T, rules *cachedsql.Rules) *sql.DB {
			db, err := cachedsql.Open("sqlite3", filepath.Join(t.TempDir(), "gorm.db"), cachedsql.Options{Rules: rules})
			if err != nil {
				t.Fatal(err)
			}
			return db
		}, func(db *sql.DB) gorm.Dialector { return sqlite.New(sqlite.Config{Conn: db}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &gorm.Config{Logger: logger.Discard}
			// The statement of First(&u, id), as GORM writes it for this dialect.
			dry := openGormConfig(t, tc.dialect(tc.open(t, nil)), cfg)
			first := dry.Session(&gorm.Session{DryRun: true}).First(&gormUser{}, 1).Statement.SQL.String()
			rules := mustRules(t, cachedsql.Rule{Name: "user", Match: cachedsql.Match{SQL: first},
				Key: []string{"id"}, WriteThrough: true, TTL: time.Minute})
			db := tc.open(t, rules)
			t.Cleanup(func() { db.Close() })
			g := openGormConfig(t, tc.dialect(db), cfg)
			if err := g.AutoMigrate(&gormUser{}, &gormPost{}); err != nil {
				t.Fatal(err)
			}
			users := []gormUser{{Name: "ann", Age: 30}, {Name: "bob", Age: 20}, {Name: "cy", Age: 41}}
			if err := g.Create(&users).Error; err != nil {
				t.Fatal(err)
			}
			read := func(id uint) (u gormUser, hit bool) {
				t.Helper()
				before := stats(t, db).Hits
				if err := g.First(&u, id).Error; err != nil {
					t.Fatalf("First(%d): %v", id, err)
				}
				return u, stats(t, db).Hits == before+1
			}
			for _, u := range users {
				read(u.ID)
			}
			if err := g.Model(&gormUser{ID: users[1].ID}).Updates(map[string]any{"name": "bea", "age": 21}).Error; err != nil {
				t.Fatal(err)
			}
			if u, hit := read(users[1].ID); u.Name != "bea" || u.Age != 21 || !hit {
				t.Errorf("updated user: %+v, hit %v; want bea, 21, a hit (%s)", u, hit, first)
			}
			for _, i := range []int{0, 2} {
				if u, hit := read(users[i].ID); u.Name != users[i].Name || !hit {
					t.Errorf("user %d after another's update: %+v, hit %v; want %s and a hit", i, u, hit, users[i].Name)
				}
			}
			if err := g.Delete(&gormUser{}, users[2].ID).Error; err != nil {
				t.Fatal(err)
			}
			var u gormUser
			if err := g.First(&u, users[2].ID).Error; err != gorm.ErrRecordNotFound {
				t.Errorf("First after Delete: %v, %+v; want ErrRecordNotFound", err, u)
			}
			if _, hit := read(users[0].ID); !hit {
				t.Error("user 0 after another's delete: not a hit")
			}
			if st := stats(t, db); st.WriteThroughs == 0 {
				t.Errorf("no write-through (stats %+v)", st)
			}
		})
	}
}
