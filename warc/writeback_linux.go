//go:build linux

package warc

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing n bytes of f from off
// to disk, without waiting for it (sync_file_range with
// SYNC_FILE_RANGE_WRITE): the file's data then goes out while the crawl
// runs rather than all at the fsync that completes the file, which was
// most of what finishing a file cost. It is advice; it makes nothing
// durable, and an error changes nothing.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
