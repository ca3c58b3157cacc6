// Package pebbleq holds what crawld's two Pebble-backed queues share: the
// durable frontier (package store) and the memory frontier's scratch
// overflow (package spill). It defines the encoding of a queued item, the
// per-host key layout <prefix><host>\x00<id> with the bookkeeping of each
// host's spilled tail (Tails), and the routing of Pebble's log lines and
// background events into crawld's zap logger.
package pebbleq

import (
	"errors"
	"strings"
)

// The hosts a per-host key cannot hold; see CheckHost.
var (
	ErrNoHost  = errors.New("item has no host")
	ErrNULHost = errors.New("item host contains a NUL byte")
)

// CheckHost returns ErrNoHost for an empty host and ErrNULHost for one with
// a NUL byte, and nil for every other: the NUL after the host in
// <prefix><host>\x00<id> ends it, so that one host's keys never interleave
// with those of a host it is a prefix of.
func CheckHost(host string) error {
	switch {
	case host == "":
		return ErrNoHost
	case strings.IndexByte(host, 0) >= 0:
		return ErrNULHost
	}
	return nil
}

// cmpOr returns a if it is not nil, else b.
func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
