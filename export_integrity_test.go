package cachedsql

// BeforeRefresh sets o's hook that runs when a background refresh is about to start.
func BeforeRefresh(o *Options, f func()) { o.test.beforeRefresh = f }
