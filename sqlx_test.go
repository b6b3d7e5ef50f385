package cachedsql_test

import (
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/jmoiron/sqlx"
)

// account is the row shape of the sqlx scenario.
type account struct {
	ID      int            `db:"id"`
	Name    string         `db:"name"`
	Balance int            `db:"balance"`
	Note    sql.NullString `db:"note"`
}

func TestSqlxSameResults(t *testing.T) {
	for _, b := range ormBackends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			bareDB, cachedDB := b.open(t, false), b.open(t, true)
			bare := runSqlxScenario(t, sqlx.NewDb(bareDB, b.sqlxName))
			cached := runSqlxScenario(t, sqlx.NewDb(cachedDB, b.sqlxName))
			compareTranscripts(t, bare, cached)
			checkCachedRun(t, cachedDB)
		})
	}
}

// runSqlxScenario runs Get, Select, In, NamedExec, NamedQuery and transactions, reading each result
// twice, and checks that every read after a write sees it.
func runSqlxScenario(t *testing.T, db *sqlx.DB) []string {
	t.Helper()
	tr := &transcript{t: t}
	db.MustExec(`CREATE TABLE accounts (id integer PRIMARY KEY, name text NOT NULL, balance integer NOT NULL, note text)`)
	_, err := db.NamedExec(`INSERT INTO accounts (id, name, balance, note) VALUES (:id, :name, :balance, :note)`, []account{
		{ID: 1, Name: "ann", Balance: 100, Note: sql.NullString{String: "vip", Valid: true}},
		{ID: 2, Name: "bob", Balance: 50},
		{ID: 3, Name: "cy", Balance: 0},
	})
	tr.record("named insert", nil, err)
	sqlxReads(tr, db)

	_, err = db.NamedExec(`UPDATE accounts SET balance = :balance WHERE id = :id`, account{ID: 2, Balance: 75})
	tr.record("named update", nil, err)
	wantBalance(t, db, 2, 75)
	sqlxReads(tr, db)

	sqlxTransactions(t, tr, db)

	res, err := db.Exec(db.Rebind(`DELETE FROM accounts WHERE id = ?`), 3)
	n, _ := affected(res, err)
	tr.record("delete", n, err)
	var count int
	err = db.Get(&count, `SELECT count(*) FROM accounts`)
	if err != nil || count != 3 {
		t.Errorf("count after delete: got %d (error %v), want 3", count, err)
	}
	sqlxReads(tr, db)
	return tr.lines
}

// sqlxReads runs every kind of read twice.
func sqlxReads(tr *transcript, db *sqlx.DB) {
	tr.t.Helper()
	for i := range 2 {
		var a account
		err := db.Get(&a, db.Rebind(`SELECT * FROM accounts WHERE id = ?`), 1)
		tr.record(fmt.Sprint("get ", i), a, err)

		var all []account
		err = db.Select(&all, `SELECT * FROM accounts ORDER BY id`)
		tr.record(fmt.Sprint("select ", i), all, err)

		q, args, err := sqlx.In(`SELECT * FROM accounts WHERE id IN (?) ORDER BY id`, []int{1, 3})
		var some []account
		if err == nil {
			err = db.Select(&some, db.Rebind(q), args...)
		}
		tr.record(fmt.Sprint("in ", i), some, err)

		var rich []account
		rows, err := db.NamedQuery(`SELECT * FROM accounts WHERE balance >= :min ORDER BY id`, map[string]any{"min": 50})
		if err == nil {
			for rows.Next() {
				var a account
				if err = rows.StructScan(&a); err != nil {
					break
				}
				rich = append(rich, a)
			}
			rows.Close()
		}
		tr.record(fmt.Sprint("named query ", i), rich, err)

		var total int
		err = db.Get(&total, `SELECT coalesce(sum(balance), 0) FROM accounts`)
		tr.record(fmt.Sprint("sum ", i), total, err)
	}
}

// sqlxTransactions runs a committed transaction that writes then reads, and a rolled-back one.
func sqlxTransactions(t *testing.T, tr *transcript, db *sqlx.DB) {
	t.Helper()
	tx := db.MustBegin()
	_, err := tx.NamedExec(`INSERT INTO accounts (id, name, balance) VALUES (:id, :name, :balance)`, account{ID: 4, Name: "dee", Balance: 10})
	var inside account
	if err == nil {
		err = tx.Get(&inside, tx.Rebind(`SELECT * FROM accounts WHERE id = ?`), 4)
	}
	if err == nil {
		err = tx.Commit()
	} else {
		tx.Rollback()
	}
	tr.record("tx commit", inside, err)
	wantBalance(t, db, 4, 10)

	tx = db.MustBegin()
	tx.MustExec(tx.Rebind(`UPDATE accounts SET balance = ? WHERE id = ?`), 999, 1)
	var during int
	if err := tx.Get(&during, tx.Rebind(`SELECT balance FROM accounts WHERE id = ?`), 1); err != nil || during != 999 {
		t.Errorf("read inside the transaction: got %d (error %v), want 999", during, err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	wantBalance(t, db, 1, 100)
}

// wantBalance reads an account's balance twice (so that the second read may be a hit) and checks it.
func wantBalance(t *testing.T, db *sqlx.DB, id, want int) {
	t.Helper()
	for range 2 {
		var got int
		if err := db.Get(&got, db.Rebind(`SELECT balance FROM accounts WHERE id = ?`), id); err != nil {
			t.Fatalf("balance of %d: %v", id, err)
		}
		if got != want {
			t.Errorf("balance of %d: got %d, want %d", id, got, want)
		}
	}
}

func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	if res == nil {
		return 0, errors.New("no result")
	}
	return res.RowsAffected()
}
