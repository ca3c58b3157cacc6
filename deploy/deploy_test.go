package deploy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// Paths, relative to this package's directory (where go test runs).
const (
	unitPath          = "systemd/crawld.service"
	dockerfilePath    = "docker/Dockerfile"
	kubernetesDir     = "kubernetes"
	daemonConfigPath  = "../configs/crawld-daemon.yaml"
	crawlConfigPath   = "../configs/crawld.yaml"
	unitBinary        = "/usr/local/bin/crawld"
	unitConfig        = "/etc/crawld/crawld.yaml"
	defaultShutdown   = 10 * time.Second
	adminPort         = "9090"
	containerDataDir  = "/var/lib/crawld"
	containerConfDir  = "/etc/crawld"
	containerUID      = 65532
	secretExampleFile = "secret.example.yaml"
)

// daemonKeys are the keys the daemon adds to the crawl keys of
// configs/crawld.yaml.
var daemonKeys = []string{
	"admin.listen", "admin.token", "admin.insecure", "admin.pprof",
	"storage", "data_dir", "shutdown_grace", "recrawl_interval",
	"output_max_size_mb", "output_max_backups",
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ---- systemd ---------------------------------------------------------------

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

// ---- configs/crawld-daemon.yaml -------------------------------------------

// flatten turns nested maps into dotted keys: {admin: {listen: x}} becomes
// {"admin.listen": x}.
func flatten(prefix string, m map[string]any, out map[string]any) map[string]any {
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if sub, ok := v.(map[string]any); ok {
			flatten(key, sub, out)
			continue
		}
		out[key] = v
	}
	return out
}

func parseYAMLMap(t *testing.T, name string, data []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if m == nil {
		t.Fatalf("%s: empty", name)
	}
	return flatten("", m, nil)
}

func daemonConfig(t *testing.T) map[string]any {
	t.Helper()
	return parseYAMLMap(t, daemonConfigPath, readFile(t, daemonConfigPath))
}

// checkConfigKeys fails for a key that is neither a crawl key of
// configs/crawld.yaml nor a daemon key (a typo would stop crawld with exit
// code 2).
func checkConfigKeys(t *testing.T, name string, cfg map[string]any) {
	t.Helper()
	crawl := parseYAMLMap(t, crawlConfigPath, readFile(t, crawlConfigPath))
	for k := range cfg {
		if _, ok := crawl[k]; !ok && k != "user_agent" && !slices.Contains(daemonKeys, k) {
			t.Errorf("%s: unknown key %q (not in %s nor a daemon key)", name, k, crawlConfigPath)
		}
	}
}

func TestDaemonExampleConfig(t *testing.T) {
	cfg := daemonConfig(t)
	want := map[string]any{
		"seeds":                []any{"https://example.com/"},
		"rate":                 1,
		"burst":                1,
		"per_host_concurrency": 1,
		"workers":              16,
		"robots":               true,
		"storage":              "pebble",
		"data_dir":             containerDataDir,
		"output":               containerDataDir + "/records.jsonl",
		"output_max_size_mb":   100,
		"output_max_backups":   10,
		"shutdown_grace":       "10s",
		"recrawl_interval":     "24h",
		"admin.listen":         "127.0.0.1:9090",
		"admin.token":          "",
		"admin.insecure":       false,
		"admin.pprof":          false,
		"log_level":            "info",
		"log_format":           "json",
	}
	for k, v := range want {
		got, ok := cfg[k]
		if !ok {
			t.Errorf("%s: key %s is missing", daemonConfigPath, k)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(v) {
			t.Errorf("%s: %s = %v; want %v", daemonConfigPath, k, got, v)
		}
	}
	for _, k := range []string{"shutdown_grace", "recrawl_interval"} {
		if s, _ := cfg[k].(string); s != "" {
			if _, err := time.ParseDuration(s); err != nil {
				t.Errorf("%s: %s: %v", daemonConfigPath, k, err)
			}
		}
	}
	if s, _ := cfg["output"].(string); !strings.HasPrefix(s, fmt.Sprint(cfg["data_dir"])+"/") {
		t.Errorf("%s: output %q is not under data_dir, the only writable directory under systemd and in the containers", daemonConfigPath, s)
	}
	checkConfigKeys(t, daemonConfigPath, cfg)

	checkKeyComments(t, daemonConfigPath, string(readFile(t, daemonConfigPath)))
}

// checkKeyComments checks the style of configs/crawld.yaml: every key has a
// comment line above it.
func checkKeyComments(t *testing.T, name, text string) {
	t.Helper()
	lines := strings.Split(text, "\n")
	keyLine := regexp.MustCompile(`^\s*[a-z_]+:`)
	for i, l := range lines {
		if keyLine.MatchString(l) && (i == 0 || !strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#")) {
			t.Errorf("%s:%d: key without a comment line above it: %s", name, i+1, l)
		}
	}
}

// ---- Kubernetes --------------------------------------------------------------

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
	Exec *struct {
		Command []string `yaml:"command"`
	} `yaml:"exec"`
}

type k8sContainer struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name     string `yaml:"name"`
				Key      string `yaml:"key"`
				Optional *bool  `yaml:"optional"`
			} `yaml:"secretKeyRef"`
			FieldRef *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	StartupProbe   *k8sProbe `yaml:"startupProbe"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *struct {
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		RunAsUser                *int  `yaml:"runAsUser"`
		Privileged               *bool `yaml:"privileged"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type k8sMeta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type k8sStatefulSet struct {
	Spec struct {
		Replicas            *int   `yaml:"replicas"`
		ServiceName         string `yaml:"serviceName"`
		PodManagementPolicy string `yaml:"podManagementPolicy"`
		Selector            struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata k8sMeta `yaml:"metadata"`
			Spec     struct {
				TerminationGracePeriodSeconds *int `yaml:"terminationGracePeriodSeconds"`
				SecurityContext               struct {
					RunAsNonRoot   *bool `yaml:"runAsNonRoot"`
					RunAsUser      *int  `yaml:"runAsUser"`
					FSGroup        *int  `yaml:"fsGroup"`
					SeccompProfile struct {
						Type string `yaml:"type"`
					} `yaml:"seccompProfile"`
				} `yaml:"securityContext"`
				InitContainers []k8sContainer `yaml:"initContainers"`
				Containers     []k8sContainer `yaml:"containers"`
				Volumes        []struct {
					Name      string `yaml:"name"`
					ConfigMap *struct {
						Name  string `yaml:"name"`
						Items []struct {
							Key  string `yaml:"key"`
							Path string `yaml:"path"`
						} `yaml:"items"`
					} `yaml:"configMap"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata k8sMeta `yaml:"metadata"`
			Spec     struct {
				Resources struct {
					Requests map[string]string `yaml:"requests"`
				} `yaml:"resources"`
			} `yaml:"spec"`
		} `yaml:"volumeClaimTemplates"`
	} `yaml:"spec"`
}

type k8sService struct {
	Spec struct {
		Type     string            `yaml:"type"`
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

// k8sDoc is one YAML document: its header, and its node to decode further.
type k8sDoc struct {
	file       string
	APIVersion string  `yaml:"apiVersion"`
	Kind       string  `yaml:"kind"`
	Metadata   k8sMeta `yaml:"metadata"`
	node       *yaml.Node
}

func (d k8sDoc) String() string { return d.file + ": " + d.Kind + "/" + d.Metadata.Name }

// readManifests decodes every document of every YAML file in dir, skipping
// empty documents; kustomization.yaml is returned apart.
func readManifests(t *testing.T, dir string) (docs []k8sDoc, kustomization map[string]any) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.y*ml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no YAML files in %s", dir)
	}
	for _, f := range files {
		base := filepath.Base(f)
		dec := yaml.NewDecoder(bytes.NewReader(readFile(t, f)))
		for i := 0; ; i++ {
			var n yaml.Node
			err := dec.Decode(&n)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: document %d: %v", f, i, err)
			}
			if len(n.Content) == 0 || n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null" {
				continue
			}
			if base == "kustomization.yaml" {
				if err := n.Decode(&kustomization); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				continue
			}
			d := k8sDoc{file: base, node: &n}
			if err := n.Decode(&d); err != nil {
				t.Fatalf("%s: document %d: %v", f, i, err)
			}
			docs = append(docs, d)
		}
	}
	return docs, kustomization
}

func decodeDoc[T any](t *testing.T, d k8sDoc) T {
	t.Helper()
	var v T
	if err := d.node.Decode(&v); err != nil {
		t.Fatalf("%s: %v", d, err)
	}
	return v
}

func probeString(p *k8sProbe) string {
	if p == nil || p.HTTPGet == nil {
		return "<none>"
	}
	return fmt.Sprintf("httpGet %s :%v", p.HTTPGet.Path, p.HTTPGet.Port)
}

// checkNotInsecure fails if container c lifts crawld's refusal to serve
// the admin API off loopback without a token.
func checkNotInsecure(t *testing.T, where string, c k8sContainer) {
	t.Helper()
	for _, e := range c.Env {
		if e.Name == "CRAWLD_ADMIN_INSECURE" {
			t.Errorf("%s: sets CRAWLD_ADMIN_INSECURE; the admin API must need the token", where)
		}
	}
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--admin-insecure") {
			t.Errorf("%s: passes %s; the admin API must need the token", where, a)
		}
	}
}

func isTrue(b *bool) bool  { return b != nil && *b }
func isFalse(b *bool) bool { return b != nil && !*b }

func TestKubernetesManifests(t *testing.T) {
	docs, kust := readManifests(t, kubernetesDir)

	byKind := map[string][]k8sDoc{}
	namespace := ""
	for _, d := range docs {
		if d.APIVersion == "" || d.Kind == "" || d.Metadata.Name == "" {
			t.Errorf("%s: a document lacks apiVersion, kind or metadata.name (%q, %q, %q)", d.file, d.APIVersion, d.Kind, d.Metadata.Name)
			continue
		}
		byKind[d.Kind] = append(byKind[d.Kind], d)
		if d.Kind == "Namespace" {
			namespace = d.Metadata.Name
		}
	}
	for _, d := range docs {
		if namespace != "" && d.Kind != "Namespace" && d.Metadata.Namespace != namespace {
			t.Errorf("%s: namespace %q; want %q", d, d.Metadata.Namespace, namespace)
		}
	}
	one := func(kind string) k8sDoc {
		t.Helper()
		if len(byKind[kind]) != 1 {
			t.Fatalf("want exactly one %s, have %d", kind, len(byKind[kind]))
		}
		return byKind[kind][0]
	}

	// kustomization.yaml lists every manifest but the example Secret.
	if kust == nil {
		t.Fatal("no kustomization.yaml")
	}
	if kust["namespace"] != namespace {
		t.Errorf("kustomization.yaml namespace %v; want %q", kust["namespace"], namespace)
	}
	var listed []string
	res, _ := kust["resources"].([]any)
	for _, r := range res {
		listed = append(listed, fmt.Sprint(r))
	}
	for _, d := range docs {
		in := slices.Contains(listed, d.file)
		if d.file == secretExampleFile && in {
			t.Errorf("kustomization.yaml lists %s: its placeholder token would be deployed", secretExampleFile)
		}
		if d.file != secretExampleFile && !in {
			t.Errorf("kustomization.yaml does not list %s", d.file)
		}
	}
	for _, r := range listed {
		if _, err := os.Stat(filepath.Join(kubernetesDir, r)); err != nil {
			t.Errorf("kustomization.yaml: %v", err)
		}
	}

	// ConfigMap: the daemon config, listening on every interface, and the
	// same keys and values as configs/crawld-daemon.yaml otherwise.
	cmDoc := one("ConfigMap")
	cm := decodeDoc[struct {
		Data map[string]string `yaml:"data"`
	}](t, cmDoc)
	embedded, ok := cm.Data["crawld.yaml"]
	if !ok {
		t.Fatalf("%s: no data key crawld.yaml", cmDoc)
	}
	cfg := parseYAMLMap(t, cmDoc.String()+" crawld.yaml", []byte(embedded))
	if got := cfg["admin.listen"]; got != "0.0.0.0:"+adminPort {
		t.Errorf("%s: admin.listen = %v; want 0.0.0.0:%s", cmDoc, got, adminPort)
	}
	if got := cfg["data_dir"]; got != containerDataDir {
		t.Errorf("%s: data_dir = %v; want %s", cmDoc, got, containerDataDir)
	}
	checkConfigKeys(t, cmDoc.String(), cfg)
	example := daemonConfig(t)
	for k, v := range example {
		if k == "admin.listen" {
			continue
		}
		if got, ok := cfg[k]; !ok || fmt.Sprint(got) != fmt.Sprint(v) {
			t.Errorf("%s: %s = %v; configs/crawld-daemon.yaml has %v", cmDoc, k, got, v)
		}
	}
	for k := range cfg {
		if _, ok := example[k]; !ok {
			t.Errorf("%s: key %s is not in configs/crawld-daemon.yaml", cmDoc, k)
		}
	}

	// StatefulSet.
	ssDoc := one("StatefulSet")
	ss := decodeDoc[k8sStatefulSet](t, ssDoc)
	spec := ss.Spec
	if spec.Replicas == nil || *spec.Replicas != 1 {
		t.Errorf("%s: replicas must be 1 (single-writer store)", ssDoc)
	}
	pod := spec.Template.Spec
	ann := spec.Template.Metadata.Annotations
	for k, v := range map[string]string{
		"prometheus.io/scrape": "true",
		"prometheus.io/port":   adminPort,
		"prometheus.io/path":   "/metrics",
	} {
		if ann[k] != v {
			t.Errorf("%s: pod annotation %s = %q; want %q", ssDoc, k, ann[k], v)
		}
	}
	for k, v := range spec.Selector.MatchLabels {
		if spec.Template.Metadata.Labels[k] != v {
			t.Errorf("%s: selector %s=%s does not match the pod labels", ssDoc, k, v)
		}
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= defaultShutdown {
		t.Errorf("%s: terminationGracePeriodSeconds must exceed shutdown_grace (%s)", ssDoc, defaultShutdown)
	}
	psc := pod.SecurityContext
	if !isTrue(psc.RunAsNonRoot) {
		t.Errorf("%s: pod securityContext.runAsNonRoot is not true", ssDoc)
	}
	if psc.RunAsUser == nil || *psc.RunAsUser != containerUID || psc.FSGroup == nil || *psc.FSGroup != containerUID {
		t.Errorf("%s: pod securityContext runAsUser and fsGroup must be %d", ssDoc, containerUID)
	}
	if psc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("%s: pod seccompProfile %q; want RuntimeDefault", ssDoc, psc.SeccompProfile.Type)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers; want 1", ssDoc, len(pod.Containers))
	}
	c := pod.Containers[0]
	if got := probeString(c.LivenessProbe); got != "httpGet /healthz :"+adminPort {
		t.Errorf("%s: livenessProbe %s; want httpGet /healthz :%s", ssDoc, got, adminPort)
	}
	if got := probeString(c.ReadinessProbe); got != "httpGet /readyz :"+adminPort {
		t.Errorf("%s: readinessProbe %s; want httpGet /readyz :%s", ssDoc, got, adminPort)
	}
	csc := c.SecurityContext
	if csc == nil {
		t.Fatalf("%s: container has no securityContext", ssDoc)
	}
	if !isTrue(csc.ReadOnlyRootFilesystem) {
		t.Errorf("%s: readOnlyRootFilesystem is not true", ssDoc)
	}
	if !isFalse(csc.AllowPrivilegeEscalation) {
		t.Errorf("%s: allowPrivilegeEscalation is not false", ssDoc)
	}
	if !slices.Contains(csc.Capabilities.Drop, "ALL") {
		t.Errorf("%s: capabilities.drop lacks ALL", ssDoc)
	}
	if !slices.Equal(c.Args, []string{"run", "--config", containerConfDir + "/crawld.yaml"}) {
		t.Errorf("%s: args %q", ssDoc, c.Args)
	}
	if !slices.ContainsFunc(c.Ports, func(p struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	}) bool {
		return p.ContainerPort == 9090 && p.Name == "admin"
	}) {
		t.Errorf("%s: no container port 9090 named admin", ssDoc)
	}
	for _, r := range []struct{ what, got, want string }{
		{"requests.cpu", c.Resources.Requests["cpu"], "250m"},
		{"requests.memory", c.Resources.Requests["memory"], "256Mi"},
		{"limits.cpu", c.Resources.Limits["cpu"], "2"},
		{"limits.memory", c.Resources.Limits["memory"], "1Gi"},
	} {
		if r.got != r.want {
			t.Errorf("%s: resources.%s = %q; want %q", ssDoc, r.what, r.got, r.want)
		}
	}
	tokenOK := false
	for _, e := range c.Env {
		if e.Name == "CRAWLD_ADMIN_TOKEN" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			ref := e.ValueFrom.SecretKeyRef
			tokenOK = ref.Name == "crawld-admin" && ref.Key == "token" && isFalse(ref.Optional)
		}
	}
	if !tokenOK {
		t.Errorf("%s: want env CRAWLD_ADMIN_TOKEN from the required secret crawld-admin key token (optional: false): the admin API listens off loopback", ssDoc)
	}
	checkNotInsecure(t, ssDoc.String(), c)
	mounts := map[string]string{} // mountPath -> volume name
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	dataVol, ok := mounts[containerDataDir]
	if !ok {
		t.Errorf("%s: nothing mounted at %s", ssDoc, containerDataDir)
	}
	claimOK := false
	for _, vct := range spec.VolumeClaimTemplates {
		if vct.Metadata.Name == dataVol {
			claimOK = vct.Spec.Resources.Requests["storage"] == "10Gi"
		}
	}
	if !claimOK {
		t.Errorf("%s: %s is not a 10Gi volumeClaimTemplate (mounted volume %q)", ssDoc, containerDataDir, dataVol)
	}
	confVol, ok := mounts[containerConfDir]
	if !ok {
		t.Errorf("%s: nothing mounted at %s", ssDoc, containerConfDir)
	}
	confOK := false
	for _, v := range pod.Volumes {
		if v.Name == confVol && v.ConfigMap != nil {
			confOK = v.ConfigMap.Name == cmDoc.Metadata.Name
		}
	}
	if !confOK {
		t.Errorf("%s: %s is not the ConfigMap %s", ssDoc, containerConfDir, cmDoc.Metadata.Name)
	}

	// Service: ClusterIP on 9090, named admin, selecting the pod.
	svcDoc := one("Service")
	svc := decodeDoc[k8sService](t, svcDoc)
	if svc.Spec.Type != "ClusterIP" {
		t.Errorf("%s: type %q; want ClusterIP", svcDoc, svc.Spec.Type)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 9090 || svc.Spec.Ports[0].Name != "admin" {
		t.Errorf("%s: want one port 9090 named admin, have %+v", svcDoc, svc.Spec.Ports)
	}
	if len(svc.Spec.Selector) == 0 {
		t.Errorf("%s: no selector", svcDoc)
	}
	for k, v := range svc.Spec.Selector {
		if spec.Template.Metadata.Labels[k] != v {
			t.Errorf("%s: selector %s=%s does not match the pod labels", svcDoc, k, v)
		}
	}
	if spec.ServiceName != svcDoc.Metadata.Name {
		t.Errorf("%s: serviceName %q; the Service is %q", ssDoc, spec.ServiceName, svcDoc.Metadata.Name)
	}

	// The example Secret is the one the StatefulSet refers to.
	secDoc := one("Secret")
	sec := decodeDoc[struct {
		StringData map[string]string `yaml:"stringData"`
	}](t, secDoc)
	if secDoc.Metadata.Name != "crawld-admin" || sec.StringData["token"] == "" {
		t.Errorf("%s: want Secret crawld-admin with stringData.token", secDoc)
	}
}

// ---- Kubernetes, scaled out on Redis --------------------------------------------

// The scale-out example: crawld pods sharing one crawl in a Redis.
const (
	scaleoutDir      = "kubernetes-scaleout"
	crawldName       = "crawld"        // the crawld StatefulSet and Service
	crawldConfigName = "crawld-config" // its ConfigMap
	redisName        = "redis"         // the Redis StatefulSet and Service
	redisConfigName  = "redis-config"  // its ConfigMap
	redisConfFile    = "redis.conf"
	redisPort        = 6379
	redisUID         = 999
)

// scaleout is deploy/kubernetes-scaleout, parsed.
type scaleout struct {
	docs      []k8sDoc
	kust      map[string]any
	namespace string
}

func readScaleout(t *testing.T) scaleout {
	t.Helper()
	docs, kust := readManifests(t, scaleoutDir)
	s := scaleout{docs: docs, kust: kust}
	for _, d := range docs {
		if d.APIVersion == "" || d.Kind == "" || d.Metadata.Name == "" {
			t.Fatalf("%s: a document lacks apiVersion, kind or metadata.name (%q, %q, %q)", d.file, d.APIVersion, d.Kind, d.Metadata.Name)
		}
		if d.Kind == "Namespace" {
			s.namespace = d.Metadata.Name
		}
	}
	return s
}

// get returns the document of that kind and name.
func (s scaleout) get(t *testing.T, kind, name string) k8sDoc {
	t.Helper()
	for _, d := range s.docs {
		if d.Kind == kind && d.Metadata.Name == name {
			return d
		}
	}
	t.Fatalf("%s: no %s %s", scaleoutDir, kind, name)
	return k8sDoc{}
}

func (s scaleout) statefulSet(t *testing.T, name string) (k8sDoc, k8sStatefulSet) {
	t.Helper()
	d := s.get(t, "StatefulSet", name)
	return d, decodeDoc[k8sStatefulSet](t, d)
}

func (s scaleout) service(t *testing.T, name string) (k8sDoc, k8sService) {
	t.Helper()
	d := s.get(t, "Service", name)
	return d, decodeDoc[k8sService](t, d)
}

// configMapData returns the data key of the ConfigMap name.
func (s scaleout) configMapData(t *testing.T, name, key string) string {
	t.Helper()
	d := s.get(t, "ConfigMap", name)
	cm := decodeDoc[struct {
		Data map[string]string `yaml:"data"`
	}](t, d)
	v, ok := cm.Data[key]
	if !ok {
		t.Fatalf("%s: no data key %s", d, key)
	}
	return v
}

// crawldConfig is the daemon config of the scale-out ConfigMap, flattened.
func (s scaleout) crawldConfig(t *testing.T) (string, map[string]any) {
	t.Helper()
	text := s.configMapData(t, crawldConfigName, "crawld.yaml")
	return text, parseYAMLMap(t, scaleoutDir+"/"+crawldConfigName+" crawld.yaml", []byte(text))
}

// selects reports whether a selector picks pods with these labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkHardened checks a container's securityContext (with its pod's
// runAsNonRoot): non-root, no privilege escalation, no capabilities, a
// read-only root file system.
func checkHardened(t *testing.T, where string, podNonRoot *bool, c k8sContainer) {
	t.Helper()
	where += " container " + c.Name
	sc := c.SecurityContext
	if sc == nil {
		t.Errorf("%s: no securityContext", where)
		return
	}
	if !isTrue(sc.RunAsNonRoot) && !(sc.RunAsNonRoot == nil && isTrue(podNonRoot)) {
		t.Errorf("%s: runAsNonRoot is not true", where)
	}
	if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		t.Errorf("%s: runAsUser 0", where)
	}
	if isTrue(sc.Privileged) {
		t.Errorf("%s: privileged", where)
	}
	if !isFalse(sc.AllowPrivilegeEscalation) {
		t.Errorf("%s: allowPrivilegeEscalation is not false", where)
	}
	if !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("%s: capabilities.drop lacks ALL", where)
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Errorf("%s: readOnlyRootFilesystem is not true", where)
	}
}

// checkPodSecurity checks a pod's securityContext: non-root as uid (and
// fsGroup, which makes its volumes writable), seccomp RuntimeDefault.
func checkPodSecurity(t *testing.T, d k8sDoc, ss k8sStatefulSet, uid int) {
	t.Helper()
	psc := ss.Spec.Template.Spec.SecurityContext
	if !isTrue(psc.RunAsNonRoot) {
		t.Errorf("%s: pod securityContext.runAsNonRoot is not true", d)
	}
	if psc.RunAsUser == nil || *psc.RunAsUser != uid || psc.FSGroup == nil || *psc.FSGroup != uid {
		t.Errorf("%s: pod securityContext runAsUser and fsGroup must be %d", d, uid)
	}
	if psc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("%s: pod seccompProfile %q; want RuntimeDefault", d, psc.SeccompProfile.Type)
	}
	for _, c := range slices.Concat(ss.Spec.Template.Spec.InitContainers, ss.Spec.Template.Spec.Containers) {
		checkHardened(t, d.String(), psc.RunAsNonRoot, c)
	}
}

// mountedClaim returns the volumeClaimTemplate mounted at dir in c, if any.
func mountedClaim(ss k8sStatefulSet, c k8sContainer, dir string) (name, size string, ok bool) {
	for _, m := range c.VolumeMounts {
		if m.MountPath != dir {
			continue
		}
		for _, vct := range ss.Spec.VolumeClaimTemplates {
			if vct.Metadata.Name == m.Name {
				return vct.Metadata.Name, vct.Spec.Resources.Requests["storage"], true
			}
		}
	}
	return "", "", false
}

// mountedConfigMapFile returns where the key of ConfigMap cm appears in c's
// file system, if it does.
func mountedConfigMapFile(ss k8sStatefulSet, c k8sContainer, cm, key string) (string, bool) {
	for _, v := range ss.Spec.Template.Spec.Volumes {
		if v.ConfigMap == nil || v.ConfigMap.Name != cm {
			continue
		}
		file := key
		if len(v.ConfigMap.Items) > 0 {
			file = ""
			for _, it := range v.ConfigMap.Items {
				if it.Key == key {
					file = it.Path
				}
			}
		}
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name && file != "" {
				return path.Join(m.MountPath, file), true
			}
		}
	}
	return "", false
}

// checkKnownKeys fails for a key that configs/crawld.yaml, which lists every
// key, does not have (a typo would stop crawld with exit code 2). Nested
// maps are compared by their dotted keys.
func checkKnownKeys(t *testing.T, name string, cfg map[string]any) {
	t.Helper()
	known := parseYAMLMap(t, crawlConfigPath, readFile(t, crawlConfigPath))
	for k := range cfg {
		// user_agent is in configs/crawld.yaml, commented out (its default
		// depends on the version).
		if _, ok := known[k]; !ok && k != "user_agent" {
			t.Errorf("%s: unknown key %q (not in %s)", name, k, crawlConfigPath)
		}
	}
}

// configDuration reads a duration key of a config, or def if it is absent.
func configDuration(t *testing.T, name string, cfg map[string]any, key string, def time.Duration) time.Duration {
	t.Helper()
	v, ok := cfg[key]
	if !ok {
		return def
	}
	switch v := v.(type) {
	case int:
		if v == 0 {
			return 0
		}
	case string:
		d, err := time.ParseDuration(v)
		if err == nil {
			return d
		}
	}
	t.Errorf("%s: %s = %v is not a duration", name, key, v)
	return def
}

// parseRedisConf reads redis.conf's directives: the arguments of each
// one's last occurrence (as Redis applies them), quotes removed; names are
// lower-cased.
func parseRedisConf(text string) map[string][]string {
	out := map[string][]string{}
	for line := range strings.SplitSeq(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		args := make([]string, 0, len(f)-1)
		for _, a := range f[1:] {
			if u, err := strconv.Unquote(a); err == nil {
				a = u
			}
			args = append(args, a)
		}
		out[strings.ToLower(f[0])] = args
	}
	return out
}

// redisBytes reads a redis.conf memory size: 1k = 1000 bytes, 1kb = 1024,
// and so on for m(b) and g(b), in any case.
func redisBytes(s string) (int64, error) {
	s = strings.ToLower(s)
	mul := int64(1)
	for _, u := range []struct {
		suffix string
		mul    int64
	}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"b", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mul = strings.TrimSuffix(s, u.suffix), u.mul
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mul, err
}

// quantityBytes reads a Kubernetes memory quantity such as 2Gi or 512M.
func quantityBytes(q string) (int64, error) {
	mul := int64(1)
	for _, u := range []struct {
		suffix string
		mul    int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}} {
		if strings.HasSuffix(q, u.suffix) {
			q, mul = strings.TrimSuffix(q, u.suffix), u.mul
			break
		}
	}
	n, err := strconv.ParseInt(q, 10, 64)
	return n * mul, err
}

// TestScaleoutKustomization: one namespace for everything, enforcing the
// restricted Pod Security Standard, and kustomization.yaml lists every
// manifest but the example Secret, all from this directory.
func TestScaleoutKustomization(t *testing.T) {
	s := readScaleout(t)
	if s.namespace == "" {
		t.Fatalf("%s: no Namespace", scaleoutDir)
	}
	ns := s.get(t, "Namespace", s.namespace)
	if got := ns.Metadata.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("%s: pod-security.kubernetes.io/enforce = %q; want restricted", ns, got)
	}
	for _, d := range s.docs {
		if d.Kind != "Namespace" && d.Metadata.Namespace != s.namespace {
			t.Errorf("%s: namespace %q; want %q", d, d.Metadata.Namespace, s.namespace)
		}
	}
	if s.kust == nil {
		t.Fatalf("%s: no kustomization.yaml", scaleoutDir)
	}
	if s.kust["namespace"] != s.namespace {
		t.Errorf("%s/kustomization.yaml: namespace %v; want %q", scaleoutDir, s.kust["namespace"], s.namespace)
	}
	var listed []string
	res, _ := s.kust["resources"].([]any)
	for _, r := range res {
		listed = append(listed, fmt.Sprint(r))
	}
	files := map[string]bool{}
	for _, d := range s.docs {
		files[d.file] = true
	}
	for f := range files {
		in := slices.Contains(listed, f)
		if f == secretExampleFile && in {
			t.Errorf("%s/kustomization.yaml lists %s: its placeholder token would be deployed", scaleoutDir, secretExampleFile)
		}
		if f != secretExampleFile && !in {
			t.Errorf("%s/kustomization.yaml does not list %s", scaleoutDir, f)
		}
	}
	for _, r := range listed {
		if strings.Contains(r, "/") {
			t.Errorf("%s/kustomization.yaml: resource %s is outside the directory; keep the example self-contained", scaleoutDir, r)
		}
		if _, err := os.Stat(filepath.Join(scaleoutDir, r)); err != nil {
			t.Errorf("%s/kustomization.yaml: %v", scaleoutDir, err)
		}
	}
	if secret := s.get(t, "Secret", "crawld-admin"); secret.file != secretExampleFile {
		t.Errorf("%s is not in %s", secret, secretExampleFile)
	}
}

// TestScaleoutCrawld: several crawld pods, each named by its pod, hardened,
// probed on the admin port, with a volume for its own records.
func TestScaleoutCrawld(t *testing.T) {
	s := readScaleout(t)
	ssDoc, ss := s.statefulSet(t, crawldName)
	spec := ss.Spec
	pod := spec.Template.Spec
	labels := spec.Template.Metadata.Labels
	_, cfg := s.crawldConfig(t)

	if spec.Replicas == nil || *spec.Replicas < 2 {
		t.Errorf("%s: want replicas 2 or more (a shared crawl)", ssDoc)
	}
	if spec.PodManagementPolicy != "Parallel" {
		t.Errorf("%s: podManagementPolicy %q; want Parallel (the pods do not depend on one another)", ssDoc, spec.PodManagementPolicy)
	}
	if !selects(spec.Selector.MatchLabels, labels) {
		t.Errorf("%s: selector %v does not match the pod labels %v", ssDoc, spec.Selector.MatchLabels, labels)
	}
	for k, v := range map[string]string{
		"prometheus.io/scrape": "true",
		"prometheus.io/port":   adminPort,
		"prometheus.io/path":   "/metrics",
	} {
		if got := spec.Template.Metadata.Annotations[k]; got != v {
			t.Errorf("%s: pod annotation %s = %q; want %q", ssDoc, k, got, v)
		}
	}
	grace := configDuration(t, crawldConfigName, cfg, "shutdown_grace", defaultShutdown)
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= grace {
		t.Errorf("%s: terminationGracePeriodSeconds must exceed shutdown_grace (%s)", ssDoc, grace)
	}
	checkPodSecurity(t, ssDoc, ss, containerUID)

	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers; want 1", ssDoc, len(pod.Containers))
	}
	c := pod.Containers[0]
	if !slices.Equal(c.Args, []string{"run", "--config", containerConfDir + "/crawld.yaml"}) {
		t.Errorf("%s: args %q", ssDoc, c.Args)
	}
	for _, p := range []struct {
		what  string
		probe *k8sProbe
		want  string
	}{
		{"startupProbe", c.StartupProbe, "httpGet /healthz :" + adminPort},
		{"livenessProbe", c.LivenessProbe, "httpGet /healthz :" + adminPort},
		{"readinessProbe", c.ReadinessProbe, "httpGet /readyz :" + adminPort},
	} {
		if got := probeString(p.probe); got != p.want {
			t.Errorf("%s: %s %s; want %s", ssDoc, p.what, got, p.want)
		}
	}
	portOK := false
	for _, p := range c.Ports {
		portOK = portOK || p.Name == "admin" && strconv.Itoa(p.ContainerPort) == adminPort
	}
	if !portOK {
		t.Errorf("%s: no container port %s named admin", ssDoc, adminPort)
	}

	nodeIDOK, tokenOK := false, false
	for _, e := range c.Env {
		switch {
		case e.Name == "CRAWLD_NODE_ID":
			nodeIDOK = e.Value == "" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name"
		case e.Name == "CRAWLD_ADMIN_TOKEN" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			tokenOK = ref.Name == "crawld-admin" && ref.Key == "token" && isFalse(ref.Optional)
		case e.Name == "CRAWLD_STORAGE" || strings.HasPrefix(e.Name, "CRAWLD_REDIS_") || e.Name == "CRAWLD_RECRAWL_INTERVAL":
			t.Errorf("%s: env %s overrides the shared crawl's settings of the ConfigMap", ssDoc, e.Name)
		}
	}
	if !nodeIDOK {
		t.Errorf("%s: want env CRAWLD_NODE_ID from fieldRef metadata.name (the pod's name is the node id)", ssDoc)
	}
	if !tokenOK {
		t.Errorf("%s: want env CRAWLD_ADMIN_TOKEN from the required secret crawld-admin key token (optional: false): the admin API listens off loopback", ssDoc)
	}
	checkNotInsecure(t, ssDoc.String(), c)

	// The config comes from the ConfigMap; the records go to the pod's own
	// persistent volume.
	if got, ok := mountedConfigMapFile(ss, c, crawldConfigName, "crawld.yaml"); !ok || got != containerConfDir+"/crawld.yaml" {
		t.Errorf("%s: %s/crawld.yaml is not the ConfigMap %s (have %q)", ssDoc, containerConfDir, crawldConfigName, got)
	}
	out, _ := cfg["output"].(string)
	if !path.IsAbs(out) {
		t.Errorf("%s: output %q; want a file on the pod's volume", crawldConfigName, out)
	} else if claim, size, ok := mountedClaim(ss, c, path.Dir(out)); !ok || size == "" {
		t.Errorf("%s: the records' directory %s is not a volumeClaimTemplate with a size (claim %q, size %q)", ssDoc, path.Dir(out), claim, size)
	}

	// The admin Service selects these pods, and only them.
	svcDoc, svc := s.service(t, crawldName)
	if svc.Spec.Type != "ClusterIP" {
		t.Errorf("%s: type %q; want ClusterIP", svcDoc, svc.Spec.Type)
	}
	if len(svc.Spec.Ports) != 1 || strconv.Itoa(svc.Spec.Ports[0].Port) != adminPort || svc.Spec.Ports[0].Name != "admin" {
		t.Errorf("%s: want one port %s named admin, have %+v", svcDoc, adminPort, svc.Spec.Ports)
	}
	if !selects(svc.Spec.Selector, labels) {
		t.Errorf("%s: selector %v does not match the crawld pods %v", svcDoc, svc.Spec.Selector, labels)
	}
	_, redisSS := s.statefulSet(t, redisName)
	if selects(svc.Spec.Selector, redisSS.Spec.Template.Metadata.Labels) {
		t.Errorf("%s: selector %v also matches the Redis pods", svcDoc, svc.Spec.Selector)
	}
	if spec.ServiceName != svcDoc.Metadata.Name {
		t.Errorf("%s: serviceName %q; the Service is %q", ssDoc, spec.ServiceName, svcDoc.Metadata.Name)
	}
}

// TestScaleoutCrawldConfig: the shared ConfigMap's crawld config uses the
// Redis of this example, leaves the node id to each pod, and has only keys
// configs/crawld.yaml knows.
func TestScaleoutCrawldConfig(t *testing.T) {
	s := readScaleout(t)
	text, cfg := s.crawldConfig(t)
	name := crawldConfigName

	if cfg["storage"] != "redis" {
		t.Errorf("%s: storage = %v; want redis", name, cfg["storage"])
	}
	raw, _ := cfg["redis.url"].(string)
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "redis" || u.Port() == "" {
		t.Fatalf("%s: redis.url = %q; want redis://HOST:PORT/DB (err %v)", name, raw, err)
	}
	// The host is the Service's name, maybe qualified with the namespace.
	host, rest, _ := strings.Cut(u.Hostname(), ".")
	if rest != "" && rest != s.namespace && !strings.HasPrefix(rest, s.namespace+".svc") {
		t.Errorf("%s: redis.url %s is not in namespace %s", name, raw, s.namespace)
	}
	svcDoc, svc := s.service(t, host)
	portOK := false
	for _, p := range svc.Spec.Ports {
		portOK = portOK || strconv.Itoa(p.Port) == u.Port()
	}
	if !portOK {
		t.Errorf("%s: redis.url %s: %s has no port %s", name, raw, svcDoc, u.Port())
	}
	if _, redisSS := s.statefulSet(t, redisName); !selects(svc.Spec.Selector, redisSS.Spec.Template.Metadata.Labels) {
		t.Errorf("%s: redis.url %s: %s does not select the Redis pods", name, raw, svcDoc)
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if _, err := strconv.Atoi(db); err != nil {
			t.Errorf("%s: redis.url %s: database %q is not a number", name, raw, db)
		}
	}
	if id, ok := cfg["redis.crawl_id"]; ok {
		if v, _ := id.(string); v == "" || strings.ContainsAny(v, "{} \t\n") {
			t.Errorf("%s: redis.crawl_id = %v; want a name without braces or white space", name, id)
		}
	}
	if d := configDuration(t, name, cfg, "recrawl_interval", 0); d != 0 {
		t.Errorf("%s: recrawl_interval = %s; storage redis needs 0", name, d)
	}
	// One ConfigMap for every pod: a node_id here would give them all one
	// id, and the second pod would be refused. CRAWLD_NODE_ID sets it.
	if id, ok := cfg["node_id"]; ok && id != "" {
		t.Errorf("%s: node_id = %v; leave it to CRAWLD_NODE_ID (the pod's name)", name, id)
	}
	if got := cfg["admin.listen"]; got != "0.0.0.0:"+adminPort {
		t.Errorf("%s: admin.listen = %v; want 0.0.0.0:%s (probes, Service, Prometheus)", name, got, adminPort)
	}
	if out, _ := cfg["output"].(string); out == "" || out == "-" {
		t.Errorf("%s: output = %q; the records belong in a file on the pod's volume", name, out)
	}
	if insecure, _ := cfg["admin.insecure"].(bool); insecure {
		t.Errorf("%s: admin.insecure is true: the admin API on 0.0.0.0 would need no token", name)
	}
	if tok, _ := cfg["admin.token"].(string); tok != "" {
		t.Errorf("%s: admin.token is set in the ConfigMap; use the crawld-admin Secret", name)
	}
	checkKnownKeys(t, name, cfg)
	checkKeyComments(t, name, text)
}

// TestScaleoutRedis: one Redis that never evicts, persists with an AOF
// fsynced every second on a volume, is probed with redis-cli ping, runs
// as its non-root user and admits crawld's pods.
func TestScaleoutRedis(t *testing.T) {
	s := readScaleout(t)
	ssDoc, ss := s.statefulSet(t, redisName)
	spec := ss.Spec
	pod := spec.Template.Spec
	labels := spec.Template.Metadata.Labels

	if spec.Replicas == nil || *spec.Replicas != 1 {
		t.Errorf("%s: replicas must be 1 (crawld uses one Redis)", ssDoc)
	}
	if !selects(spec.Selector.MatchLabels, labels) {
		t.Errorf("%s: selector %v does not match the pod labels %v", ssDoc, spec.Selector.MatchLabels, labels)
	}
	checkPodSecurity(t, ssDoc, ss, redisUID)
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers; want 1", ssDoc, len(pod.Containers))
	}
	c := pod.Containers[0]

	// A pinned Redis 7 or later (crawld's scripts need 7.0).
	pinned := regexp.MustCompile(`^(?:docker\.io/(?:library/)?)?redis:(\d+)\.\d+\.\d+`)
	if m := pinned.FindStringSubmatch(c.Image); m == nil {
		t.Errorf("%s: image %q; want a pinned redis:X.Y.Z", ssDoc, c.Image)
	} else if major, _ := strconv.Atoi(m[1]); major < 7 {
		t.Errorf("%s: image %q; crawld needs Redis 7 or later", ssDoc, c.Image)
	}
	for _, ic := range s.initImages(t) {
		if ic != c.Image {
			t.Errorf("%s: init container image %q; want the Redis image %q (one image to pull and pin)", crawldName, ic, c.Image)
		}
	}

	// redis-server reads redis.conf from the ConfigMap.
	confPath, ok := mountedConfigMapFile(ss, c, redisConfigName, redisConfFile)
	if !ok {
		t.Fatalf("%s: the ConfigMap %s is not mounted", ssDoc, redisConfigName)
	}
	cmdline := slices.Concat(c.Command, c.Args)
	if !slices.Contains(cmdline, confPath) || !slices.Contains(cmdline, "redis-server") {
		t.Errorf("%s: command %q does not run redis-server %s", ssDoc, cmdline, confPath)
	}
	portOK := false
	for _, p := range c.Ports {
		portOK = portOK || p.ContainerPort == redisPort
	}
	if !portOK {
		t.Errorf("%s: no container port %d", ssDoc, redisPort)
	}
	for _, p := range []struct {
		what  string
		probe *k8sProbe
	}{{"startupProbe", c.StartupProbe}, {"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}} {
		if p.probe == nil || p.probe.Exec == nil {
			t.Errorf("%s: no exec %s", ssDoc, p.what)
			continue
		}
		cmd := strings.Join(p.probe.Exec.Command, " ")
		if !strings.Contains(cmd, "redis-cli") || !strings.Contains(strings.ToLower(cmd), "ping") {
			t.Errorf("%s: %s %q does not run redis-cli ping", ssDoc, p.what, cmd)
		}
		if p.what == "readinessProbe" && (!strings.Contains(cmd, "PONG") || strings.Contains(cmd, "LOADING")) {
			t.Errorf("%s: readinessProbe %q must want PONG: a Redis still loading its AOF is not ready", ssDoc, cmd)
		}
	}

	conf := parseRedisConf(s.configMapData(t, redisConfigName, redisConfFile))
	want := map[string]string{
		"appendonly":       "yes",
		"appendfsync":      "everysec",
		"maxmemory-policy": "noeviction",
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got := strings.Join(conf[k], " "); got != want[k] {
			t.Errorf("%s: %s %q; want %s", redisConfigName, k, got, want[k])
		}
	}
	// The data directory is the persistent volume.
	dir := "/data" // redis-server's working directory in the image
	if d := conf["dir"]; len(d) == 1 {
		dir = d[0]
	}
	if _, size, ok := mountedClaim(ss, c, dir); !ok || size == "" {
		t.Errorf("%s: Redis's dir %s is not a volumeClaimTemplate with a size", ssDoc, dir)
	}
	// maxmemory is set, with room below the container's limit for the AOF
	// rewrite's fork.
	mm, err := redisBytes(strings.Join(conf["maxmemory"], ""))
	limit, lerr := quantityBytes(c.Resources.Limits["memory"])
	switch {
	case err != nil || mm <= 0:
		t.Errorf("%s: maxmemory %q; want a size (0 would let Redis grow until the OOM killer ends it)", redisConfigName, conf["maxmemory"])
	case lerr != nil:
		t.Errorf("%s: limits.memory %q: %v", ssDoc, c.Resources.Limits["memory"], lerr)
	case mm > limit*3/4:
		t.Errorf("%s: maxmemory %d bytes is over 3/4 of the container's memory limit %s: no room for the AOF rewrite's fork", redisConfigName, mm, c.Resources.Limits["memory"])
	}
	if v := conf["set-max-intset-entries"]; len(v) == 1 {
		if n, err := strconv.Atoi(v[0]); err != nil || n < 512 {
			t.Errorf("%s: set-max-intset-entries %s; crawld's seen set wants 512 or more", redisConfigName, v[0])
		}
	}
	// Reachable from other pods: not bound to loopback alone, and without a
	// password protected mode would refuse them.
	if b := conf["bind"]; len(b) > 0 && !slices.ContainsFunc(b, func(a string) bool {
		a = strings.TrimPrefix(a, "-")
		return a == "*" || a == "0.0.0.0" || a == "::*" || a == "::"
	}) {
		t.Errorf("%s: bind %q: crawld's pods could not connect", redisConfigName, b)
	}
	if _, pass := conf["requirepass"]; !pass && strings.Join(conf["protected-mode"], "") != "no" {
		t.Errorf("%s: protected-mode %q without requirepass refuses every client but localhost; want no", redisConfigName, conf["protected-mode"])
	}

	// The Service crawld's redis.url names.
	svcDoc, svc := s.service(t, redisName)
	if svc.Spec.Type != "" && svc.Spec.Type != "ClusterIP" {
		t.Errorf("%s: type %q; want ClusterIP (cluster-internal)", svcDoc, svc.Spec.Type)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != redisPort {
		t.Errorf("%s: want one port %d, have %+v", svcDoc, redisPort, svc.Spec.Ports)
	} else if tp := fmt.Sprint(svc.Spec.Ports[0].TargetPort); !slices.ContainsFunc(c.Ports, func(p struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	}) bool {
		return tp == p.Name || tp == strconv.Itoa(p.ContainerPort)
	}) {
		t.Errorf("%s: targetPort %s is not a port of the Redis container", svcDoc, tp)
	}
	if !selects(svc.Spec.Selector, labels) {
		t.Errorf("%s: selector %v does not match the Redis pods %v", svcDoc, svc.Spec.Selector, labels)
	}
	_, crawldSS := s.statefulSet(t, crawldName)
	crawldLabels := crawldSS.Spec.Template.Metadata.Labels
	if selects(svc.Spec.Selector, crawldLabels) {
		t.Errorf("%s: selector %v also matches the crawld pods", svcDoc, svc.Spec.Selector)
	}
	if spec.ServiceName != svcDoc.Metadata.Name {
		t.Errorf("%s: serviceName %q; the Service is %q", ssDoc, spec.ServiceName, svcDoc.Metadata.Name)
	}

	// A NetworkPolicy admits crawld's pods to Redis's port.
	admitted := false
	for _, d := range s.docs {
		if d.Kind != "NetworkPolicy" {
			continue
		}
		np := decodeDoc[struct {
			Spec struct {
				PodSelector struct {
					MatchLabels map[string]string `yaml:"matchLabels"`
				} `yaml:"podSelector"`
				Ingress []struct {
					From []struct {
						PodSelector *struct {
							MatchLabels map[string]string `yaml:"matchLabels"`
						} `yaml:"podSelector"`
					} `yaml:"from"`
					Ports []struct {
						Port any `yaml:"port"`
					} `yaml:"ports"`
				} `yaml:"ingress"`
			} `yaml:"spec"`
		}](t, d)
		if !selects(np.Spec.PodSelector.MatchLabels, labels) {
			continue
		}
		for _, in := range np.Spec.Ingress {
			from := slices.ContainsFunc(in.From, func(f struct {
				PodSelector *struct {
					MatchLabels map[string]string `yaml:"matchLabels"`
				} `yaml:"podSelector"`
			}) bool {
				return f.PodSelector != nil && selects(f.PodSelector.MatchLabels, crawldLabels)
			})
			port := len(in.Ports) == 0 || slices.ContainsFunc(in.Ports, func(p struct {
				Port any `yaml:"port"`
			}) bool {
				return fmt.Sprint(p.Port) == strconv.Itoa(redisPort) || fmt.Sprint(p.Port) == "redis"
			})
			admitted = admitted || from && port
		}
	}
	if !admitted {
		t.Errorf("%s: no NetworkPolicy admits the crawld pods to Redis's port %d", scaleoutDir, redisPort)
	}
}

// initImages returns the images of the crawld pods' init containers.
func (s scaleout) initImages(t *testing.T) []string {
	t.Helper()
	_, ss := s.statefulSet(t, crawldName)
	var out []string
	for _, c := range ss.Spec.Template.Spec.InitContainers {
		out = append(out, c.Image)
	}
	return out
}

// ---- kustomize ---------------------------------------------------------------

// TestKustomizeBuild builds each example with `kubectl kustomize` (or
// `kustomize build`), where one is installed, and checks that the output
// holds exactly the listed manifests, in the example's namespace.
func TestKustomizeBuild(t *testing.T) {
	var tool []string
	if p, err := exec.LookPath("kubectl"); err == nil {
		tool = []string{p, "kustomize"}
	} else if p, err := exec.LookPath("kustomize"); err == nil {
		tool = []string{p, "build"}
	} else {
		t.Skip("neither kubectl nor kustomize is on PATH; the manifests are still checked as YAML")
	}
	for _, dir := range []string{kubernetesDir, scaleoutDir} {
		t.Run(dir, func(t *testing.T) {
			docs, kust := readManifests(t, dir)
			ns, _ := kust["namespace"].(string)
			want := map[string]bool{}
			for _, d := range docs {
				if d.file != secretExampleFile {
					want[d.Kind+"/"+d.Metadata.Name] = true
				}
			}

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, tool[0], append(tool[1:], dir)...)
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s %s: %v\n%s", strings.Join(tool[1:], " "), dir, err, stderr.String())
			}
			dec := yaml.NewDecoder(bytes.NewReader(out))
			got := map[string]bool{}
			for {
				var d k8sDoc
				err := dec.Decode(&d)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("%s: kustomize output: %v", dir, err)
				}
				key := d.Kind + "/" + d.Metadata.Name
				got[key] = true
				if d.Kind != "Namespace" && d.Metadata.Namespace != ns {
					t.Errorf("%s: built %s is in namespace %q; want %q", dir, key, d.Metadata.Namespace, ns)
				}
				if d.Metadata.Labels["app.kubernetes.io/part-of"] != "crawld" {
					t.Errorf("%s: built %s lacks the label app.kubernetes.io/part-of=crawld", dir, key)
				}
			}
			for k := range want {
				if !got[k] {
					t.Errorf("%s: kustomize output lacks %s", dir, k)
				}
			}
			for k := range got {
				if !want[k] {
					t.Errorf("%s: kustomize output has %s, which no listed file holds", dir, k)
				}
			}
		})
	}
}

// ---- Docker ----------------------------------------------------------------

// dockerInstruction is one Dockerfile instruction with continuations joined.
type dockerInstruction struct {
	cmd, args string
	stage     int // index of the FROM it follows
}

func parseDockerfile(data []byte) []dockerInstruction {
	var out []dockerInstruction
	stage := -1
	var cur string
	for line := range strings.SplitSeq(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasPrefix(trimmed, "#") { // comment inside a continued instruction
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur += strings.TrimSuffix(trimmed, `\`) + " "
			continue
		}
		cur += trimmed
		cmd, args, _ := strings.Cut(cur, " ")
		cmd = strings.ToUpper(cmd)
		if cmd == "FROM" {
			stage++
		}
		out = append(out, dockerInstruction{cmd: cmd, args: strings.Join(strings.Fields(args), " "), stage: stage})
		cur = ""
	}
	return out
}

func TestDockerfile(t *testing.T) {
	raw := readFile(t, dockerfilePath)
	ins := parseDockerfile(raw)
	var froms []string
	for _, in := range ins {
		if in.cmd == "FROM" {
			froms = append(froms, in.args)
		}
	}
	if len(froms) != 2 {
		t.Fatalf("want a two-stage build (two FROM lines), have %q", froms)
	}
	if !strings.HasPrefix(froms[0], "golang:1.26") {
		t.Errorf("build stage FROM %s; want golang:1.26", froms[0])
	}
	if froms[1] != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("final stage FROM %s; want gcr.io/distroless/static-debian12:nonroot", froms[1])
	}

	has := func(stage int, cmd string, match func(args string) bool) int {
		for i, in := range ins {
			if in.stage == stage && in.cmd == cmd && match(in.args) {
				return i
			}
		}
		return -1
	}
	contains := func(s string) func(string) bool { return func(a string) bool { return strings.Contains(a, s) } }
	equals := func(s string) func(string) bool { return func(a string) bool { return a == s } }

	if has(0, "ENV", contains("CGO_ENABLED=0")) < 0 && has(0, "RUN", contains("CGO_ENABLED=0 go build")) < 0 {
		t.Error("the build stage does not set CGO_ENABLED=0")
	}
	download := has(0, "RUN", contains("go mod download"))
	copyMods := has(0, "COPY", equals("go.mod go.sum ./"))
	copySrc := has(0, "COPY", equals(". ."))
	switch {
	case download < 0 || copyMods < 0 || copySrc < 0:
		t.Error("want COPY go.mod go.sum ./, RUN go mod download, then COPY . .")
	case !(copyMods < download && download < copySrc):
		t.Error("go mod download must run after copying go.mod/go.sum and before copying the source")
	}
	build := has(0, "RUN", contains("go build"))
	if build < 0 {
		t.Fatal("no go build in the build stage")
	}
	for _, flag := range []string{"-trimpath", "-ldflags='-s -w'", "./cmd/crawld"} {
		if !strings.Contains(ins[build].args, flag) {
			t.Errorf("go build lacks %s: %s", flag, ins[build].args)
		}
	}

	for _, want := range []struct{ cmd, args string }{
		{"USER", "nonroot:nonroot"},
		{"EXPOSE", "9090"},
		{"VOLUME", containerDataDir},
		{"ENV", "CRAWLD_ADMIN_LISTEN=0.0.0.0:9090"},
		{"ENTRYPOINT", `["/usr/local/bin/crawld"]`},
		{"CMD", `["run", "--config", "/etc/crawld/crawld.yaml"]`},
		{"COPY", "--from=build /src/configs/crawld-daemon.yaml /etc/crawld/crawld.yaml"},
	} {
		if has(1, want.cmd, equals(want.args)) < 0 {
			t.Errorf("final stage lacks %s %s", want.cmd, want.args)
		}
	}
	if has(1, "COPY", func(a string) bool { return strings.HasSuffix(a, " /usr/local/bin/crawld") }) < 0 {
		t.Error("final stage does not copy the binary to /usr/local/bin/crawld")
	}
	if has(1, "HEALTHCHECK", func(string) bool { return true }) >= 0 {
		t.Error("HEALTHCHECK cannot run in distroless (no shell); use orchestrator probes")
	}
	if !bytes.Contains(raw, []byte("docker build -f deploy/docker/Dockerfile -t crawld .")) {
		t.Error("the build command is not in a comment")
	}
	// The image listens on 0.0.0.0, where crawld refuses to start without
	// a token: the run examples must set one, and nothing may lift that.
	if has(1, "ENV", contains("CRAWLD_ADMIN_INSECURE")) >= 0 || has(1, "CMD", contains("--admin-insecure")) >= 0 {
		t.Error("the image lifts the admin token requirement (CRAWLD_ADMIN_INSECURE / --admin-insecure)")
	}
	for name, text := range map[string][]byte{dockerfilePath: raw, "README.md": readFile(t, "README.md")} {
		for _, run := range dockerRunExamples(text) {
			if !strings.Contains(run, "-e CRAWLD_ADMIN_TOKEN=") {
				t.Errorf("%s: a docker run example sets no CRAWLD_ADMIN_TOKEN (the image would exit 2):\n%s", name, run)
			}
		}
		if len(dockerRunExamples(text)) == 0 {
			t.Errorf("%s: no docker run example", name)
		}
	}
	// The files the build copies exist (the context is the repository root).
	for _, p := range []string{"go.mod", "go.sum", "cmd/crawld", "configs/crawld-daemon.yaml"} {
		if _, err := os.Stat(filepath.Join("..", p)); err != nil {
			t.Errorf("the build needs %s: %v", p, err)
		}
	}
}

// dockerRunExamples returns each `docker run` command of text, its
// backslash-continued lines joined and comment markers dropped.
func dockerRunExamples(text []byte) []string {
	var runs []string
	var cur string
	for _, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "#"))
		if cur == "" && !strings.HasPrefix(line, "docker run ") {
			continue
		}
		cur += strings.TrimSuffix(line, "\\") + " "
		if !strings.HasSuffix(line, "\\") {
			runs = append(runs, cur)
			cur = ""
		}
	}
	return runs
}
