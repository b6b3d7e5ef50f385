//go:build !unix

package cachedsql

import "path/filepath"

// fileIdentity names a file by its absolute path with links resolved (no inode numbers here).
func fileIdentity(path string) string {
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	if p, err := filepath.Abs(path); err == nil {
		path = p
	}
	return "file=" + path
}
