//go:build race

package seen

const raceEnabled = true
