package deploy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

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
