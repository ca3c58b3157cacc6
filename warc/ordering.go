package warc

import "context"

// A payload's first capture claims its digest before its records are
// written, and another capture of the payload, finding the claim, is
// written as a revisit of it. Unordered, the revisit could reach the file,
// and the disk, before the original it refers to, and a crash between the
// two leave it referring to nothing. The writer therefore tracks the
// originals it is writing, and a revisit of one of them waits until it is
// appended to its file (which puts it before the revisit in the file, or
// in a file finished, and fsynced, before); if the original failed, its
// claim was given up, and the revisit claims the payload anew. Originals
// written by another process (a restart's, another node's) are on disk or
// beyond this writer's reach.

// originalWrite is an original this writer may be writing: done is closed
// once it is appended, or will not be; failed says the latter.
type originalWrite struct {
	done   chan struct{}
	failed bool // set before done is closed
}

// beginOriginal registers digest's capture as one this writer may be about
// to write in full, before its claim, so that a revisit that finds the
// claim finds the registration too. It returns nil if another capture of
// digest is registered already.
func (w *Writer) beginOriginal(digest string) *originalWrite {
	w.originalsMu.Lock()
	defer w.originalsMu.Unlock()
	if _, ok := w.originals[digest]; ok {
		return nil
	}
	o := &originalWrite{done: make(chan struct{})}
	w.originals[digest] = o
	return o
}

// endOriginal ends o, registered for digest (nil: nothing to end): its
// records were appended, or will not be (failed), or it is not an original
// after all (not failed: what it found is written, or elsewhere).
func (w *Writer) endOriginal(digest string, o *originalWrite, failed bool) {
	if o == nil {
		return
	}
	w.originalsMu.Lock()
	delete(w.originals, digest)
	w.originalsMu.Unlock()
	o.failed = failed
	close(o.done)
}

// awaitOriginal waits until the original of digest this writer is writing,
// if any, is appended; false if it failed.
func (w *Writer) awaitOriginal(ctx context.Context, digest string) (bool, error) {
	w.originalsMu.Lock()
	o := w.originals[digest]
	w.originalsMu.Unlock()
	if o == nil {
		return true, nil
	}
	select {
	case <-o.done:
		return !o.failed, nil
	case <-ctx.Done():
		return false, context.Cause(ctx)
	}
}
