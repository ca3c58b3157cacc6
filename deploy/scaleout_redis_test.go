package deploy

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

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
