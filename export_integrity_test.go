package cachedsql

// BeforeRefresh sets o's hook that runs when a background refresh is about to start.
func BeforeRefresh(o *Options, f func()) { o.test.beforeRefresh = f }

// MemoryStoreRefs returns how many open handles share the in-process store of namespace ns and
// database identity id (0: none is kept).
func MemoryStoreRefs(ns, id string) int {
	sharedMemories.mu.Lock()
	defer sharedMemories.mu.Unlock()
	if sm := sharedMemories.m[memoryStoreKey(ns, id)]; sm != nil {
		return sm.refs
	}
	return 0
}
