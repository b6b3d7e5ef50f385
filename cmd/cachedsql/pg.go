package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/cachedsql/cachedsql/pgsignal"
)

const pgAbout = `
Pg installs or removes the PostgreSQL change-signal triggers of package pgsignal, which tell the
caching processes of writes made outside the wrapper.`

// pg installs or removes the PostgreSQL change-signal triggers of package pgsignal.
func (c *cli) pg(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("want install or uninstall")
	}
	sub := args[0]
	switch sub {
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(c.stdout, "usage: cachedsql pg install -dsn DSN [-channel C] [-tables a,b]\n       cachedsql pg uninstall -dsn DSN\n\n%s\n\nRun 'cachedsql pg install -h' for the flags.\n",
			strings.TrimSpace(pgAbout))
		return nil
	case "install", "uninstall":
	default:
		return usagef("unknown command %q; want install or uninstall", sub)
	}
	synopsis := "pg uninstall -dsn DSN"
	if sub == "install" {
		synopsis = "pg install -dsn DSN [-channel C] [-tables a,b]"
	}
	fs := c.flags("pg "+sub, pgAbout, synopsis)
	dsn := fs.String("dsn", "", "PostgreSQL connection string")
	var channel, tables *string
	if sub == "install" {
		channel = fs.String("channel", pgsignal.DefaultChannel, "notification channel")
		tables = fs.String("tables", "", "tables to cover, separated by commas (default: every table in search_path)")
	}
	rest, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if err := noArgs(rest); err != nil {
		return err
	}
	if *dsn == "" {
		return usagef("-dsn is required")
	}
	db, err := sql.Open("pgx", *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if sub == "uninstall" {
		if err := pgsignal.Uninstall(ctx, db); err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, "pg: uninstalled")
		return nil
	}
	opts := pgsignal.InstallOptions{Channel: *channel, Tables: splitList(*tables)}
	if err := pgsignal.Install(ctx, db, opts); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "pg: installed on channel %s\n", opts.Channel)
	return nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var items []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}
