// Package buildinfo reports the version of the running crawld binary and the
// project URL that identifies it to the servers it crawls.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// ProjectURL is where site owners can read what crawld is and how to reach
// its operators; it goes into the default User-Agent.
const ProjectURL = "https://github.com/crawld/crawld"

// Version returns the module version the binary was built from, or "dev" for
// a build from a work tree (go build, go run), where Go records "(devel)".
func Version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok || info.Main.Version == "" || info.Main.Version == "(devel)" {
		return "dev"
	}
	return info.Main.Version
}

// UserAgent returns the default User-Agent: "crawld/<version> (+<project URL>)",
// the form robots.txt authors and log readers expect from a polite crawler.
func UserAgent() string {
	return fmt.Sprintf("crawld/%s (+%s)", Version(), ProjectURL)
}

// String returns a one-line description for `crawld version`.
func String() string {
	return fmt.Sprintf("crawld %s (%s, %s/%s)", Version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
