package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
