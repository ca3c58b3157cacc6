package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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
