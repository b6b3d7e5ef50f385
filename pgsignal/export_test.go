package pgsignal

// Listened returns a channel that receives a value after each LISTEN of l is in effect (the first
// one included), after the invalidation that follows a reconnection.
func (l *Listener) Listened() <-chan struct{} { return l.listened }
