//go:build !unix

package warc

import (
	"errors"
	"os"
)

// errLocked says another process holds a file's lock; never, here.
var errLocked = errors.New("locked")

// lockFile does nothing where flock(2) is missing: there, two processes
// writing into one directory need distinct node names.
func lockFile(*os.File) error { return nil }
