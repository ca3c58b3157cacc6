package deploy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// unitFile is a parsed systemd unit: section -> key -> values in file order.
type unitFile map[string]map[string][]string

// parseUnit reads the systemd unit syntax: [Section] headers, Key=Value
// lines, comments starting with # or ;, and lines continued with a trailing
// backslash.
func parseUnit(data []byte) (unitFile, error) {
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	lineNo := 0
	var pending string
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if pending == "" && (line == "" || line[0] == '#' || line[0] == ';') {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			pending += strings.TrimSuffix(line, `\`) + " "
			continue
		}
		line, pending = pending+line, ""
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("line %d: bad section header %q", lineNo, line)
			}
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: no '=' in %q", lineNo, line)
		}
		if section == "" {
			return nil, fmt.Errorf("line %d: %q before any section", lineNo, line)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		u[section][key] = append(u[section][key], value)
	}
	if pending != "" {
		return nil, errors.New("file ends in a continued line")
	}
	return u, sc.Err()
}

// last returns the effective (last) value of a key and whether it is set.
func (u unitFile) last(section, key string) (string, bool) {
	vs := u[section][key]
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// parseTimespan reads the systemd time spans the unit uses: a bare number of
// seconds, or Go-style durations with systemd's longer unit names.
func parseTimespan(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	r := strings.NewReplacer(" ", "", "min", "m", "sec", "s", "msec", "ms", "hour", "h")
	return time.ParseDuration(r.Replace(s))
}

// TestSystemdUnitVerifies runs `systemd-analyze verify` on the unit, with
// ExecStart pointed at a stub (verify checks that the binary exists).
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not on PATH (apt-get install systemd); the unit's syntax is still checked by TestSystemdUnitHardening")
	}
	unit := readFile(t, unitPath)
	dir := t.TempDir()
	stub := filepath.Join(dir, "crawld-stub")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	prefix := "ExecStart=" + unitBinary + " "
	if !bytes.Contains(unit, []byte("\n"+prefix)) {
		t.Fatalf("%s: no line starting with %q to point at the stub", unitPath, prefix)
	}
	unit = bytes.Replace(unit, []byte("\n"+prefix), []byte("\nExecStart="+stub+" "), 1)
	unitFileName := filepath.Join(dir, "crawld.service")
	if err := os.WriteFile(unitFileName, unit, 0o644); err != nil {
		t.Fatal(err)
	}

	args := []string{"verify"}
	help, _ := exec.Command(analyze, "--help").CombinedOutput()
	if bytes.Contains(help, []byte("--man")) {
		args = append(args, "--man=no")
	}
	if bytes.Contains(help, []byte("--recursive-errors")) {
		// Exit non-zero on any warning about this unit, but not about the
		// machine's other units that it depends on.
		args = append(args, "--recursive-errors=no")
	}
	verify := func(path string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, analyze, append(slices.Clone(args), path)...).CombinedOutput()
		return string(out), err
	}
	if v, err := exec.Command(analyze, "--version").Output(); err == nil {
		t.Logf("%s", bytes.SplitN(v, []byte("\n"), 2)[0])
	}

	// A trivial unit first: if even that does not verify, systemd-analyze
	// cannot work here (no manager environment, sandbox limits), whatever
	// the unit says.
	probe := filepath.Join(dir, "crawld-probe.service")
	if err := os.WriteFile(probe, []byte("[Service]\nType=simple\nExecStart="+stub+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := verify(probe); err != nil {
		t.Skipf("systemd-analyze verify cannot run here (a trivial unit fails too: %v):\n%s", err, out)
	}

	out, err := verify(unitFileName)
	t.Logf("systemd-analyze %s %s: err=%v, output:\n%s", strings.Join(args, " "), unitFileName, err, out)
	if err != nil {
		t.Errorf("systemd-analyze verify failed: %v", err)
	}
	for line := range strings.SplitSeq(out, "\n") {
		if strings.Contains(line, "crawld.service") || strings.Contains(line, dir) {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
}

// TestSystemdUnitHardening checks the unit's directives as text.
func TestSystemdUnitHardening(t *testing.T) {
	u, err := parseUnit(readFile(t, unitPath))
	if err != nil {
		t.Fatalf("%s: %v", unitPath, err)
	}
	for _, s := range []string{"Unit", "Service", "Install"} {
		if u[s] == nil {
			t.Errorf("no [%s] section", s)
		}
	}

	want := map[string]string{
		"Type":                    "simple",
		"ExecStart":               unitBinary + " run --config " + unitConfig,
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"DynamicUser":             "yes",
		"StateDirectory":          "crawld",
		"ConfigurationDirectory":  "crawld",
		"Restart":                 "on-failure",
		"RestartSec":              "5s",
		"KillSignal":              "SIGTERM",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"NoNewPrivileges":         "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"ProtectControlGroups":    "yes",
		"ProtectClock":            "yes",
		"ProtectHostname":         "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"RestrictNamespaces":      "yes",
		"RestrictRealtime":        "yes",
		"RestrictSUIDSGID":        "yes",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"SystemCallArchitectures": "native",
		"SystemCallFilter":        "@system-service",
		"CapabilityBoundingSet":   "",
		"AmbientCapabilities":     "",
		"UMask":                   "0077",
		"LimitNOFILE":             "65536",
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		got, ok := u.last("Service", k)
		switch {
		case !ok:
			t.Errorf("[Service] %s= is missing; want %s=%s", k, k, want[k])
		case got != want[k]:
			t.Errorf("[Service] %s=%s; want %s=%s", k, got, k, want[k])
		}
	}
	// Hardening lists must not be weakened by a later assignment.
	for _, k := range []string{"SystemCallFilter", "RestrictAddressFamilies"} {
		if n := len(u["Service"][k]); n != 1 {
			t.Errorf("[Service] %s= is set %d times; want once", k, n)
		}
	}
	if got, _ := u.last("Install", "WantedBy"); got != "multi-user.target" {
		t.Errorf("[Install] WantedBy=%s; want multi-user.target", got)
	}

	// The state directory is the config's data_dir, and systemd waits
	// longer than crawld's shutdown grace before SIGKILL.
	cfg := daemonConfig(t)
	if dd := "/var/lib/" + want["StateDirectory"]; cfg["data_dir"] != dd {
		t.Errorf("%s data_dir = %v; the unit's StateDirectory is %s", daemonConfigPath, cfg["data_dir"], dd)
	}
	grace := defaultShutdown
	if s, ok := cfg["shutdown_grace"].(string); ok {
		if grace, err = time.ParseDuration(s); err != nil {
			t.Fatalf("%s shutdown_grace: %v", daemonConfigPath, err)
		}
	}
	stop, ok := u.last("Service", "TimeoutStopSec")
	if !ok {
		t.Fatal("[Service] TimeoutStopSec= is missing")
	}
	d, err := parseTimespan(stop)
	if err != nil {
		t.Fatalf("TimeoutStopSec=%s: %v", stop, err)
	}
	if d <= grace || d <= defaultShutdown {
		t.Errorf("TimeoutStopSec=%s is not longer than shutdown_grace (%s)", stop, grace)
	}
}
