package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/cachedsql/cachedsql/pgsignal"
)

// runPG installs or removes the PostgreSQL change-signal triggers of package pgsignal:
//
//	cachedsql pg install -dsn DSN [-channel C] [-tables a,b]
//	cachedsql pg uninstall -dsn DSN
func runPG(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("pg: want install or uninstall")
	}
	sub := args[0]
	if sub != "install" && sub != "uninstall" {
		return fmt.Errorf("pg: unknown command %q; want install or uninstall", sub)
	}
	fs := flag.NewFlagSet("pg "+sub, flag.ContinueOnError)
	fs.SetOutput(out)
	dsn := fs.String("dsn", "", "PostgreSQL connection string")
	var channel, tables *string
	if sub == "install" {
		channel = fs.String("channel", pgsignal.DefaultChannel, "notification channel")
		tables = fs.String("tables", "", "tables to cover, separated by commas (default: every table in search_path)")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *dsn == "" {
		fs.Usage()
		return fmt.Errorf("pg %s: -dsn is required", sub)
	}
	db, err := sql.Open("pgx", *dsn)
	if err != nil {
		return fmt.Errorf("pg %s: %w", sub, err)
	}
	defer db.Close()
	if sub == "uninstall" {
		if err := pgsignal.Uninstall(ctx, db); err != nil {
			return err
		}
		fmt.Fprintln(out, "pg: uninstalled")
		return nil
	}
	opts := pgsignal.InstallOptions{Channel: *channel, Tables: splitList(*tables)}
	if err := pgsignal.Install(ctx, db, opts); err != nil {
		return err
	}
	fmt.Fprintf(out, "pg: installed on channel %s\n", opts.Channel)
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
