package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// rssSampleEvery is how often a meteredProc reads the child's peak RSS.
const rssSampleEvery = 20 * time.Millisecond

// meteredProc is a child process whose peak RSS and CPU time are measured.
//
// The kernel's peak (ru_maxrss, from wait4) is not enough on its own: Linux
// starts a child's at the peak RSS of the process it was forked from, when
// it execs, so a crawld started by a crawlbench that once held 50 MiB (the
// records of a big crawl, the site's request log) reports at least 50 MiB.
// ru_maxrss is trusted only when it exceeds crawlbench's own peak, read
// after the start, since it can then only be the child's. Otherwise the
// child's own peak, VmHWM of /proc/PID/status (kept per address space, new
// at exec), sampled while it runs, stands in; it misses what the child grew
// in its last rssSampleEvery at most.
type meteredProc struct {
	cmd       *exec.Cmd
	parentHWM int64         // crawlbench's peak RSS in bytes, after the start
	sampled   int64         // the child's largest VmHWM seen, bytes; read after stopped
	stop      chan struct{} // closed by wait
	stopped   chan struct{} // closed by the sampler on its way out
}

// startMetered starts cmd and samples its peak RSS until wait.
func startMetered(cmd *exec.Cmd) (*meteredProc, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	parent, _ := vmHWM("/proc/self/status")
	m := &meteredProc{cmd: cmd, parentHWM: parent, stop: make(chan struct{}), stopped: make(chan struct{})}
	go m.sample(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	return m, nil
}

func (m *meteredProc) sample(status string) {
	defer close(m.stopped)
	tick := time.NewTicker(rssSampleEvery)
	defer tick.Stop()
	for {
		// A zombie's status has no VmHWM, and an exited child's none at
		// all: both are errors, and the last sample stands.
		if v, err := vmHWM(status); err == nil {
			m.sampled = max(m.sampled, v)
		}
		select {
		case <-m.stop:
			return
		case <-tick.C:
		}
	}
}

// wait waits for the child to exit, as exec.Cmd.Wait, and stops sampling.
func (m *meteredProc) wait() error {
	err := m.cmd.Wait()
	close(m.stop)
	<-m.stopped
	return err
}

// peakRSS is the child's peak RSS in bytes, after wait.
func (m *meteredProc) peakRSS() (int64, error) {
	usage, ok := m.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, errors.New("no resource usage for crawld")
	}
	return peakOf(usage.Maxrss*1024, m.parentHWM, m.sampled), nil // Linux reports KiB
}

// peakOf picks the child's peak RSS from the kernel's figure, the parent's
// peak when the child started and the child's sampled peak (see
// meteredProc).
func peakOf(kernel, parent, sampled int64) int64 {
	if kernel > parent {
		return kernel
	}
	return sampled
}

// cpu is the child's CPU time, user and system, after wait.
func (m *meteredProc) cpu() time.Duration {
	return m.cmd.ProcessState.UserTime() + m.cmd.ProcessState.SystemTime()
}

// vmHWM reads the VmHWM line of a /proc status file, in bytes.
func vmHWM(status string) (int64, error) {
	f, err := os.Open(status)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseVmHWM(f)
}

// parseVmHWM finds "VmHWM:   1234 kB" in a /proc status file.
func parseVmHWM(f io.Reader) (int64, error) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, ok := strings.CutSuffix(strings.TrimSpace(rest), " kB")
		if !ok {
			return 0, fmt.Errorf("VmHWM %q: not in kB", rest)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(kb), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmHWM %q: %w", rest, err)
		}
		return n * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmHWM")
}
