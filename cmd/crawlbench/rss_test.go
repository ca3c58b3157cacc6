package main

import (
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

func TestParseVmHWM(t *testing.T) {
	status := "Name:\tcrawld\nVmPeak:\t 1300000 kB\nVmHWM:\t   51234 kB\nVmRSS:\t   40000 kB\n"
	if n, err := parseVmHWM(strings.NewReader(status)); err != nil || n != 51234*1024 {
		t.Errorf("parseVmHWM = %d, %v; want %d", n, err, 51234*1024)
	}
	for _, bad := range []string{"Name:\tzombie\nState:\tZ (zombie)\n", "VmHWM:\t12 MB\n", "VmHWM:\t x kB\n"} {
		if _, err := parseVmHWM(strings.NewReader(bad)); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
}

func TestPeakOf(t *testing.T) {
	const mib = 1 << 20
	// The kernel's figure is the child's when it exceeds the parent's peak.
	if got := peakOf(300*mib, 50*mib, 290*mib); got != 300*mib {
		t.Errorf("child above the parent: %d", got/mib)
	}
	// Otherwise it may be the parent's: the samples stand in.
	if got := peakOf(50*mib, 50*mib, 20*mib); got != 20*mib {
		t.Errorf("child below the parent: %d", got/mib)
	}
}

// TestMeteredProc runs a small child from a process that holds far more
// memory than it: the child's peak must be its own, not the parent's that
// Linux reports for it.
func TestMeteredProc(t *testing.T) {
	ballast := make([]byte, 96<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	proc, err := startMetered(exec.Command("sleep", "0.2"))
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.wait(); err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(ballast)
	peak, err := proc.peakRSS()
	if err != nil {
		t.Fatal(err)
	}
	if peak <= 0 || peak > 32<<20 {
		t.Errorf("sleep's peak RSS %.1f MiB; want its own few MiB, not the parent's 96", float64(peak)/(1<<20))
	}
	if proc.cpu() < 0 {
		t.Errorf("cpu %v", proc.cpu())
	}
}
