//go:build unix

package cachedsql

import (
	"fmt"
	"os"
	"syscall"
)

// fileIdentity names a file by device and inode, which every path, link or URI reaching it shares;
// it falls back to the path when the file cannot be examined.
func fileIdentity(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "file=" + path
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("dev=%d ino=%d", uint64(st.Dev), uint64(st.Ino)) //nolint:unconvert // the types vary by platform
	}
	return "file=" + path
}
