package main

import (
	"bufio"
	"context"
	"debug/elf"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// dockerfile is what the tests read of ../Dockerfile: the final stage's
// instructions and the build stage's `go build` line.
type dockerfile struct {
	build       string            // the RUN line that builds the binary
	env         map[string]string // the final stage's ENV
	user        string
	healthcheck string
	entrypoint  string
	finalBase   string
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	f, err := os.Open("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var d dockerfile
	d.env = map[string]string{}
	var lines []string
	sc := bufio.NewScanner(f)
	for cur := ""; sc.Scan(); {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		lines = append(lines, cur+l)
		cur = ""
	}
	for _, l := range lines {
		word, rest, _ := strings.Cut(l, " ")
		switch strings.ToUpper(word) {
		case "FROM":
			d.finalBase, d.env = strings.Fields(rest)[0], map[string]string{}
		case "RUN":
			if strings.Contains(rest, "go build") {
				d.build = rest
			}
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				d.env[k] = v
			}
		case "USER":
			d.user = rest
		case "HEALTHCHECK":
			d.healthcheck = rest
		case "ENTRYPOINT":
			d.entrypoint = rest
		}
	}
	if d.build == "" {
		t.Fatal("the Dockerfile has no RUN … go build line")
	}
	return d
}

// The image's recipe: a non-root user, a base with no libc, a HEALTHCHECK
// that the binary itself answers.
func TestDockerfileRecipe(t *testing.T) {
	d := readDockerfile(t)
	if !strings.Contains(d.finalBase, "distroless/static") {
		t.Errorf("final stage FROM %s: want a static distroless base (CA certificates, no libc, no shell)", d.finalBase)
	}
	if d.user == "" || strings.HasPrefix(d.user, "0") || strings.HasPrefix(d.user, "root") {
		t.Errorf("USER %q: the image must run as a non-root user", d.user)
	}
	if !strings.Contains(d.healthcheck, `"healthcheck"`) {
		t.Errorf("HEALTHCHECK %q: want the binary's healthcheck subcommand", d.healthcheck)
	}
	if !strings.Contains(d.build, "CGO_ENABLED=0") {
		t.Errorf("build line %q: want CGO_ENABLED=0 (a static binary)", d.build)
	}
}

// The binary built with the Dockerfile's exact command is static and starts
// as the image starts it: from an empty directory, with only the image's
// environment, needing no file outside itself; its healthcheck subcommand
// passes while it serves and fails once it has stopped.
func TestDockerBuildStartsAsTheImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	d := readDockerfile(t)
	bin := filepath.Join(t.TempDir(), "tokenserver")
	cmdline := regexp.MustCompile(`-o\s+\S+`).ReplaceAllString(d.build, "-o "+bin)
	cmdline = strings.ReplaceAll(cmdline, "${VERSION}", "test-image")
	build := exec.Command("sh", "-c", cmdline)
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmdline, err, out)
	}
	assertStatic(t, bin)

	port := freePort(t)
	env := []string{"PORT=" + port}
	for k, v := range d.env {
		if k != "PORT" {
			env = append(env, k+"="+v)
		}
	}
	work := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := exec.CommandContext(ctx, bin)
	srv.Dir, srv.Env = work, env
	logs := &syncBuffer{}
	srv.Stdout, srv.Stderr = logs, logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	waitLive(t, port, logs)
	if !strings.Contains(logs.String(), `"version":"test-image"`) && !strings.Contains(logs.String(), "test-image") {
		t.Errorf("the version given to the build does not show in the logs:\n%s", logs)
	}
	probe := func() ([]byte, error) {
		hc := exec.Command(bin, "healthcheck")
		hc.Env = env
		return hc.CombinedOutput()
	}
	if out, err := probe(); err != nil {
		t.Fatalf("healthcheck while serving: %v\n%s", err, out)
	}
	_ = srv.Process.Signal(os.Interrupt)
	if err := srv.Wait(); err != nil {
		t.Fatalf("server exit after SIGINT: %v\n%s", err, logs)
	}
	if out, err := probe(); err == nil {
		t.Fatalf("healthcheck passed with the server stopped:\n%s", out)
	} else if !strings.Contains(string(out), "/api/live") {
		t.Errorf("a failed healthcheck should say what it probed: %s", out)
	}
	if left, _ := os.ReadDir(work); len(left) != 0 {
		t.Errorf("sandbox mode wrote into its working directory: %v", left)
	}
}

// assertStatic fails unless the ELF file needs no dynamic loader or library.
func assertStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s asks for a dynamic loader: not static (cgo crept in?)", path)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v", path, libs)
	}
}

func waitLive(t *testing.T, port string, logs *syncBuffer) {
	t.Helper()
	u := "http://127.0.0.1:" + port + "/api/live"
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if res, err := http.Get(u); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
	}
	t.Fatalf("%s never answered 200; logs:\n%s", u, logs)
}
