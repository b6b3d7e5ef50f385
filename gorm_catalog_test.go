package cachedsql_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"

	"github.com/cachedsql/cachedsql"
)

// gormAuthor declares its cascades in a struct tag, as GORM users do (GORM's TestForeignKeyConstraints).
type gormAuthor struct {
	ID    uint
	Name  string
	Books []gormBook `gorm:"foreignKey:AuthorID;constraint:OnUpdate:CASCADE,OnDelete:CASCADE;"`
}

func (gormAuthor) TableName() string { return "authors" }

type gormBook struct {
	ID       uint
	AuthorID uint
	Title    string
}

func (gormBook) TableName() string { return "books" }

// TestIssue8GormCascade: with GORM, deleting or re-keying an author through the wrapper cascades to its
// books, and a cached read of the books is not served stale (it was on PostgreSQL and SQLite).
func TestIssue8GormCascade(t *testing.T) {
	for _, b := range []struct {
		name    string
		open    func(t *testing.T) *sql.DB
		dialect func(db *sql.DB) gorm.Dialector
	}{
		{"postgres", func(t *testing.T) *sql.DB { return openPG(t, "simple_protocol", true) },
			func(db *sql.DB) gorm.Dialector { return postgres.New(postgres.Config{Conn: db}) }},
		{"sqlite", func(t *testing.T) *sql.DB {
			db, err := cachedsql.Open("sqlite3", filepath.Join(t.TempDir(), "g.db")+"?_foreign_keys=on", cachedsql.Options{Rules: cacheAll(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}, func(db *sql.DB) gorm.Dialector { return sqlite.New(sqlite.Config{Conn: db}) }},
	} {
		t.Run(b.name, func(t *testing.T) {
			g := openGorm(t, b.dialect(b.open(t)))
			if err := g.AutoMigrate(&gormAuthor{}, &gormBook{}); err != nil {
				t.Fatalf("AutoMigrate: %v", err)
			}
			ann := gormAuthor{Name: "ann", Books: []gormBook{{Title: "a1"}, {Title: "a2"}}}
			bob := gormAuthor{Name: "bob", Books: []gormBook{{Title: "b1"}}}
			if err := g.Create(&ann).Error; err != nil {
				t.Fatal(err)
			}
			if err := g.Create(&bob).Error; err != nil {
				t.Fatal(err)
			}
			books := func() []gormBook {
				t.Helper()
				var bs []gormBook
				for range 2 { // the second read is the one the cache serves
					bs = nil
					if err := g.Order("id").Find(&bs).Error; err != nil {
						t.Fatal(err)
					}
				}
				return bs
			}
			if n := len(books()); n != 3 {
				t.Fatalf("books: %d, want 3", n)
			}
			if err := g.Delete(&ann).Error; err != nil {
				t.Fatal(err)
			}
			if bs := books(); len(bs) != 1 || bs[0].Title != "b1" {
				t.Errorf("after deleting ann, books = %+v, want only b1 (ON DELETE CASCADE)", bs)
			}
			if err := g.Model(&gormAuthor{}).Where("id = ?", bob.ID).Update("id", 100).Error; err != nil {
				t.Fatal(err)
			}
			if bs := books(); len(bs) != 1 || bs[0].AuthorID != 100 {
				t.Errorf("after re-keying bob, books = %+v, want author_id 100 (ON UPDATE CASCADE)", bs)
			}
		})
	}
}
