package deploy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
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
	"admin.listen", "admin.token", "admin.pprof",
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

	// Style of configs/crawld.yaml: every key has a comment line above it.
	lines := strings.Split(string(readFile(t, daemonConfigPath)), "\n")
	keyLine := regexp.MustCompile(`^\s*[a-z_]+:`)
	for i, l := range lines {
		if keyLine.MatchString(l) && (i == 0 || !strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#")) {
			t.Errorf("%s:%d: key without a comment line above it: %s", daemonConfigPath, i+1, l)
		}
	}
}

// ---- Kubernetes --------------------------------------------------------------

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type k8sContainer struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Env   []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name     string `yaml:"name"`
				Key      string `yaml:"key"`
				Optional *bool  `yaml:"optional"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *struct {
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
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
		Replicas    *int   `yaml:"replicas"`
		ServiceName string `yaml:"serviceName"`
		Selector    struct {
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
				Containers []k8sContainer `yaml:"containers"`
				Volumes    []struct {
					Name      string `yaml:"name"`
					ConfigMap *struct {
						Name string `yaml:"name"`
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
			tokenOK = ref.Name == "crawld-admin" && ref.Key == "token" && isTrue(ref.Optional)
		}
	}
	if !tokenOK {
		t.Errorf("%s: want env CRAWLD_ADMIN_TOKEN from optional secret crawld-admin key token", ssDoc)
	}
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
	// The files the build copies exist (the context is the repository root).
	for _, p := range []string{"go.mod", "go.sum", "cmd/crawld", "configs/crawld-daemon.yaml"} {
		if _, err := os.Stat(filepath.Join("..", p)); err != nil {
			t.Errorf("the build needs %s: %v", p, err)
		}
	}
}
