//go:build unix

package warc

import (
	"os"
	"syscall"
)

// errLocked says another process holds a file's lock.
var errLocked error = syscall.EWOULDBLOCK

// lockFile takes an exclusive lock on f, held until f is closed, without
// waiting: errLocked says another process holds it. The writer holds it
// on the file it writes; the kernel drops it when the process dies,
// however it dies.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
