package pgsignal

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cachedsql/cachedsql"
)

// DefaultApplicationName is the application_name the listener's connection reports in
// pg_stat_activity when its connection string sets none.
const DefaultApplicationName = "cachedsql-pgsignal"

// Defaults of [ListenOptions].
const (
	defaultBackoff = 100 * time.Millisecond
	maxBackoff     = 10 * time.Second
	closeTimeout   = 5 * time.Second
)

// ListenOptions configures [Listen].
type ListenOptions struct {
	// Channel is the notification channel; it must be the one given to Install.
	// Default DefaultChannel ("cachedsql_changes").
	Channel string
	// Logger receives lost connections, reconnections and invalidation failures.
	// Default slog.Default().
	Logger *slog.Logger
	// ReconnectBackoff is the delay before the first attempt to reconnect after a lost connection;
	// it doubles after each failed attempt, up to 10 seconds or ReconnectBackoff if that is larger.
	// Default 100ms.
	ReconnectBackoff time.Duration
}

// Listener turns notifications from the triggers of [Install] into cache invalidations. Create one
// with [Listen]; stop it with [Listener.Close].
type Listener struct {
	cfg     *pgx.ConnConfig
	db      *sql.DB
	channel string
	log     *slog.Logger
	backoff time.Duration

	cancel    context.CancelFunc
	done      chan struct{} // closed when run returns
	ready     chan struct{} // closed when the first LISTEN is in effect
	listened  chan struct{} // one value (if room) after each LISTEN and its invalidation; for tests
	closeOnce sync.Once
}

// Listen connects to the database of connString (a pgx connection string) on a dedicated
// connection, runs LISTEN on the channel, and from then on, until Close, replaces the generation
// token of each table named by a notification in the cache behind db, which cachedsql opened.
// It returns an error if the first connection or LISTEN fails; later losses are retried with backoff,
// and once listening again the listener invalidates every entry of db's database (see the package
// doc). ctx bounds the first connection only; the listener keeps its values but not its
// cancellation. The connection reports DefaultApplicationName unless connString sets application_name.
func Listen(ctx context.Context, connString string, db *sql.DB, opts ListenOptions) (*Listener, error) {
	channel, err := channelOf(opts.Channel)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("pgsignal: listen: %w", err)
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = DefaultApplicationName
	}
	l := &Listener{
		cfg: cfg, db: db, channel: channel, log: opts.Logger, backoff: opts.ReconnectBackoff,
		done: make(chan struct{}), ready: make(chan struct{}), listened: make(chan struct{}, 16),
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	if l.backoff <= 0 {
		l.backoff = defaultBackoff
	}
	conn, err := l.connect(ctx)
	if err != nil {
		return nil, err
	}
	close(l.ready)
	l.signalListened()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel = cancel
	go l.run(runCtx, conn)
	return l, nil
}

// Ready returns a channel that is closed once the first LISTEN is in effect. Listen returns only
// after that, so it is always closed; it is there for callers that hand a Listener around.
func (l *Listener) Ready() <-chan struct{} { return l.ready }

// Close stops the listener, closes its connection and waits for its goroutine to return.
// It always returns nil; calling it again does nothing.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		l.cancel()
		<-l.done
	})
	return nil
}

// connect opens the dedicated connection and runs LISTEN on it.
func (l *Listener) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return nil, fmt.Errorf("pgsignal: listen: connect: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.channel}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, fmt.Errorf("pgsignal: listen: %w", err)
	}
	return conn, nil
}

// run serves conn until it fails, then reconnects and invalidates everything, until ctx ends.
func (l *Listener) run(ctx context.Context, conn *pgx.Conn) {
	defer close(l.done)
	for {
		err := l.serve(ctx, conn)
		closeConn(conn)
		if ctx.Err() != nil {
			return
		}
		l.log.WarnContext(ctx, "pgsignal: listener connection lost, reconnecting", "err", err)
		if conn = l.reconnect(ctx); conn == nil {
			return
		}
		// Notifications sent while no connection was listening are lost: any table may have changed.
		if err := cachedsql.Invalidate(ctx, l.db); err != nil {
			l.log.ErrorContext(ctx, "pgsignal: invalidate all after reconnecting", "err", err)
		}
		l.log.InfoContext(ctx, "pgsignal: listening again; cache invalidated")
		l.signalListened()
	}
}

// serve invalidates the table of each notification on conn until receiving one fails.
func (l *Listener) serve(ctx context.Context, conn *pgx.Conn) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if err := cachedsql.Invalidate(ctx, l.db, n.Payload); err != nil {
			l.log.ErrorContext(ctx, "pgsignal: invalidate", "table", n.Payload, "err", err)
		}
	}
}

// reconnect connects and listens again, waiting with exponential backoff between attempts.
// It returns nil when ctx ends first.
func (l *Listener) reconnect(ctx context.Context) *pgx.Conn {
	delay, limit := l.backoff, max(maxBackoff, l.backoff)
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		conn, err := l.connect(ctx)
		if err == nil {
			return conn
		}
		if ctx.Err() != nil {
			return nil
		}
		delay = min(2*delay, limit)
		l.log.WarnContext(ctx, "pgsignal: reconnect failed", "err", err, "retry_in", delay)
		timer.Reset(delay)
	}
}

// signalListened tells a waiting test that a LISTEN (and its invalidation) is in effect.
func (l *Listener) signalListened() {
	select {
	case l.listened <- struct{}{}:
	default:
	}
}

// closeConn closes conn within closeTimeout, whatever state it is in.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	conn.Close(ctx)
}
