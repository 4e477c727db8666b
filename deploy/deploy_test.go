package deploy

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// surgeConns is the connection surge of docs/performance.md: LimitNOFILE must
// hold it twice over (one descriptor per client connection, up to one per
// upstream connection, plus files).
const surgeConns = 50_000

// unit reads a systemd unit file into section -> key -> values, in order; a
// key set twice keeps both values, as systemd's list settings do. Comments and
// blank lines are skipped; the file has no continuation lines.
func unit(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, `\`) {
				t.Fatalf("%s:%d: %q is not a key=value line of a section", path, n, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

// TestUnitSettings checks the settings docs/deployment.md promises, so that a
// later edit cannot drop one silently (systemd-analyze accepts a unit without
// any of them).
func TestUnitSettings(t *testing.T) {
	svc := unit(t, "edged.service")["Service"]
	last := func(k string) string {
		if v := svc[k]; len(v) > 0 {
			return v[len(v)-1]
		}
		return ""
	}
	for _, tc := range []struct {
		name string
		ok   func() bool
	}{
		{"own user: DynamicUser=yes or User=", func() bool { return last("DynamicUser") == "yes" || (last("User") != "" && last("User") != "root") }},
		{"ProtectSystem=strict", func() bool { return last("ProtectSystem") == "strict" }},
		{"NoNewPrivileges=yes", func() bool { return last("NoNewPrivileges") == "yes" }},
		{"ProtectHome=yes", func() bool { return last("ProtectHome") == "yes" }},
		{"PrivateTmp=yes", func() bool { return last("PrivateTmp") == "yes" }},
		{"no capabilities", func() bool { return slices.Contains(svc["CapabilityBoundingSet"], "") }},
		{"a system call filter", func() bool { return slices.Contains(svc["SystemCallFilter"], "@system-service") }},
		{"LimitNOFILE holds the surge twice", func() bool {
			soft, hard, _ := strings.Cut(last("LimitNOFILE"), ":")
			if hard == "" {
				hard = soft
			}
			n, err := strconv.Atoi(hard)
			return err == nil && n >= 2*surgeConns
		}},
		// wazero's compiler maps the code it writes executable.
		{"no MemoryDenyWriteExecute", func() bool { return last("MemoryDenyWriteExecute") == "" || last("MemoryDenyWriteExecute") == "no" }},
		{"state and cache directories", func() bool {
			return slices.Contains(strings.Fields(last("StateDirectory")), "edged") && last("CacheDirectory") == "edged"
		}},
		{"serves the config", func() bool { return strings.Contains(last("ExecStart"), " serve -config /etc/edged/router.toml") }},
		{"validates before starting", func() bool { return strings.Contains(last("ExecStartPre"), " validate -config /etc/edged/router.toml") }},
		{"SIGHUP reloads", func() bool { return last("ExecReload") == "/bin/kill -HUP $MAINPID" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.ok() {
				t.Errorf("edged.service [Service] does not have %s", tc.name)
			}
		})
	}
}

// containerBuild returns the Containerfile's go build step, with its output
// path: the step the tests run outside a container.
func containerBuild(t *testing.T) (cmd, out string) {
	t.Helper()
	data, err := os.ReadFile("Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "RUN ")
		if !ok || !strings.Contains(rest, " go build ") {
			continue
		}
		f := strings.Fields(rest)
		i := slices.Index(f, "-o")
		if i < 0 || i+1 == len(f) {
			t.Fatalf("Containerfile: the go build step %q has no -o", rest)
		}
		return rest, f[i+1]
	}
	t.Fatal("Containerfile has no RUN ... go build step")
	return "", ""
}

var built struct {
	once sync.Once
	dir  string
	bin  string
	out  []byte
	err  error
}

// buildEdged runs the Containerfile's go build step from the repository root,
// writing the binary to a temporary directory instead of its -o path, once per
// test binary.
func buildEdged(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the edged binary; skipped with -short")
	}
	cmd, out := containerBuild(t)
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "edged-deploy-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "edged")
		c := command(buildTimeout, "sh", "-c", strings.Replace(cmd, out, built.bin, 1))
		c.Dir = ".."
		built.out, built.err = c.CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("the Containerfile's build step: %v\n%s", built.err, built.out)
	}
	return built.bin
}

// Bounds on the commands the tests run, so that a hung one fails its test
// instead of the whole binary's timeout.
const (
	buildTimeout = 5 * time.Minute
	runTimeout   = time.Minute
)

// command is exec.Command killed after d; its output pipes are closed a
// second later even if a child process still holds them.
func command(d time.Duration, name string, args ...string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	c := exec.CommandContext(ctx, name, args...)
	c.WaitDelay = time.Second
	c.Cancel = func() error { cancel(); return c.Process.Kill() }
	return c
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// TestContainerfile checks the Containerfile's promises: the final stage is a
// distroless static base run as a non-root user, and its build step makes a
// static binary that runs edged version and edged validate.
func TestContainerfile(t *testing.T) {
	data, err := os.ReadFile("Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	var from, user string
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "FROM":
			from, user = f[1], "" // a new stage: USER starts over
		case len(f) >= 2 && f[0] == "USER":
			user = f[1]
		}
	}
	t.Run("final stage", func(t *testing.T) {
		if !strings.Contains(from, "distroless/static") {
			t.Errorf("final stage FROM %s, want a distroless/static base", from)
		}
		if name, _, _ := strings.Cut(user, ":"); name == "" || name == "root" || name == "0" {
			t.Errorf("final stage USER %q, want a non-root user", user)
		}
	})
	t.Run("static build", func(t *testing.T) {
		if cmd, _ := containerBuild(t); !strings.HasPrefix(cmd, "CGO_ENABLED=0 ") {
			t.Errorf("build step %q does not start with CGO_ENABLED=0", cmd)
		}
		bin := buildEdged(t)
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s has a program interpreter: not a static binary", bin)
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("%s needs shared libraries %q", bin, libs)
		}
	})
	t.Run("runs", func(t *testing.T) {
		bin := buildEdged(t)
		out, err := command(runTimeout, bin, "version").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "edged ") {
			t.Errorf("edged version = %q, %v; want edged ...", out, err)
		}
		c := command(runTimeout, bin, "validate", "-config", "router.toml")
		c.Dir = ".."
		if out, err := c.CombinedOutput(); err != nil {
			t.Errorf("edged validate -config router.toml: %v\n%s", err, out)
		}
	})
}

// TestUnitVerify runs systemd-analyze on the unit, with ExecStart pointing at
// a binary built by the Containerfile's step (verify checks that it exists):
// verify must print nothing (it exits 0 on unknown keys, with a warning), and
// the offline security review must rate the unit at most 2.0 ("OK").
func TestUnitVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (Debian: systemd)")
	}
	bin := buildEdged(t)
	data, err := os.ReadFile("edged.service")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "edged.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(data, []byte("/usr/local/bin/edged"), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"verify", []string{"verify", path}},
		{"security", []string{"security", "--offline=yes", "--threshold=20", path}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			c := command(runTimeout, sa, tc.args...)
			c.Stderr = &stderr
			out, err := c.Output()
			if err != nil || (tc.name == "verify" && len(out)+stderr.Len() > 0) {
				t.Errorf("systemd-analyze %s: %v\n%s%s", strings.Join(tc.args, " "), err, out, stderr.Bytes())
			}
		})
	}
}

// TestContainerBuild builds the Containerfile where a builder is available and
// runs edged version in the image. Building pulls the base images.
func TestContainerBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image; skipped with -short")
	}
	var builder []string
	for _, b := range []string{"podman", "buildah", "docker"} {
		p, err := exec.LookPath(b)
		if err != nil {
			continue
		}
		// docker needs its daemon; podman and buildah need nothing running.
		if b == "docker" && command(runTimeout, p, "info").Run() != nil {
			continue
		}
		builder = []string{p, b}
		break
	}
	if builder == nil {
		t.Skip("no container builder (podman, buildah, or docker with a running daemon); TestContainerfile ran its build step")
	}
	tag := "localhost/edged-deploy-test:" + strconv.Itoa(os.Getpid())
	build := []string{"build", "-f", "deploy/Containerfile", "-t", tag, "."}
	if builder[1] == "buildah" {
		build[0] = "bud"
	}
	c := command(4*buildTimeout, builder[0], build...)
	c.Dir = ".."
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", builder[1], strings.Join(build, " "), err, out)
	}
	t.Cleanup(func() { _ = command(runTimeout, builder[0], "rmi", tag).Run() })
	run := builder[0]
	if builder[1] == "buildah" {
		p, err := exec.LookPath("podman")
		if err != nil {
			t.Skip("built with buildah; podman is needed to run the image")
		}
		run = p
	}
	out, err := command(runTimeout, run, "run", "--rm", tag, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "edged ") {
		t.Errorf("run %s version = %q, %v", tag, out, err)
	}
}
