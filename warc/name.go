package warc

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// names is crawld's WARC file-name generator, given to gowarc in place of
// its own, which looks up the host's outbound IP address by opening a UDP
// socket towards a public address: crawld sends nothing off the hosts it
// crawls. A name is PREFIX-TIMESTAMP-SERIAL-NODE (the WARC 1.1 annex C
// recommendation): a UTC timestamp to the millisecond, a serial counting
// this process's files from 1, and the node. The millisecond timestamp
// keeps names from two runs on one node apart; the node, names from two
// nodes writing into one directory.
type names struct {
	dir, prefix, node string
	serial            atomic.Int32
	now               func() time.Time
}

// NewWarcfileName implements gowarc.WarcFileNameGenerator: the directory
// and the name, without the .gz and .open suffixes gowarc adds.
func (n *names) NewWarcfileName() (string, string) {
	ts := n.now().UTC().Format("20060102150405.000")
	ts = strings.Replace(ts, ".", "", 1)
	return n.dir, fmt.Sprintf("%s-%s-%05d-%s.warc", n.prefix, ts, n.serial.Add(1), n.node)
}
