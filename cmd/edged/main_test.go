package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantPos []string
		wantR   string
		wantErr error
	}{
		{"flags first", []string{"-reason", "x", "users"}, []string{"users"}, "x", nil},
		{"flags after", []string{"users", "-reason", "y"}, []string{"users"}, "y", nil},
		{"interleaved", []string{"users", "-reason", "z", "25"}, []string{"users", "25"}, "z", nil},
		{"double dash", []string{"--", "-users"}, []string{"-users"}, "", nil},
		{"none", nil, nil, "", nil},
		{"unknown flag", []string{"-nope"}, nil, "", errUsage},
		{"help", []string{"-h"}, nil, "", flag.ErrHelp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFlagSet("test", &bytes.Buffer{})
			reason := fs.String("reason", "", "")
			pos, err := parseFlags(fs, tc.args)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("parseFlags(%q) error = %v, want %v", tc.args, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if !slices.Equal(pos, tc.wantPos) || *reason != tc.wantR {
				t.Errorf("parseFlags(%q) = %q, reason %q; want %q, reason %q", tc.args, pos, *reason, tc.wantPos, tc.wantR)
			}
		})
	}
}

func FuzzParseFlags(f *testing.F) {
	f.Add("users\x00-reason\x00x\x0025")
	f.Add("--\x00-x")
	f.Add("-reason=\x00\x00-")
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		fs := newFlagSet("fuzz", &bytes.Buffer{})
		fs.String("reason", "", "")
		fs.Bool("v", false, "")
		pos, err := parseFlags(fs, args)
		if err != nil {
			return
		}
		// Every positional argument is one of the inputs, in order.
		i := 0
		for _, p := range pos {
			for i < len(args) && args[i] != p {
				i++
			}
			if i == len(args) {
				t.Fatalf("parseFlags(%q) = %q: %q is not an input argument in order", args, pos, p)
			}
			i++
		}
	})
}

func TestRunUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
		out  string
	}{
		{"no command", nil, 2, "Usage"},
		{"unknown", []string{"frobnicate"}, 2, "unknown command"},
		{"version", []string{"version"}, 0, "edged"},
		{"help", []string{"help"}, 0, "Usage"},
		{"serve without config", []string{"serve"}, 2, "-config is required"},
		{"bad log level", []string{"serve", "-config", "x.toml", "-log-level", "loud"}, 1, "-log-level"},
		{"weight without number", []string{"weight", "users", "-token-file", "/nonexistent"}, 2, "usage"},
		{"promote without route", []string{"promote"}, 2, "ROUTE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tc.args, &out, &errOut)
			if code != tc.want {
				t.Errorf("run(%q) = %d, want %d (stderr %q)", tc.args, code, tc.want, errOut.String())
			}
			if all := out.String() + errOut.String(); !strings.Contains(all, tc.out) {
				t.Errorf("run(%q) output %q lacks %q", tc.args, all, tc.out)
			}
		})
	}
}

func TestNewLogger(t *testing.T) {
	tests := []struct {
		level, format string
		ok            bool
	}{
		{"info", "text", true}, {"debug", "json", true}, {"WARN", "text", true}, {"error", "json", true},
		{"loud", "text", false}, {"info", "xml", false},
	}
	for _, tc := range tests {
		_, err := newLogger(&bytes.Buffer{}, tc.level, tc.format)
		if (err == nil) != tc.ok {
			t.Errorf("newLogger(%q, %q) error = %v, want ok=%v", tc.level, tc.format, err, tc.ok)
		}
	}
}

func TestEnsureToken(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a", "b", "admin.token")
	created, err := ensureToken(p)
	if err != nil || !created {
		t.Fatalf("ensureToken(new) = %v, %v; want true, nil", created, err)
	}
	first, err := os.ReadFile(p)
	if err != nil || len(first) != 65 { // and a newline
		t.Fatalf("token = %q, %v; want 64 hex digits", first, err)
	}
	info, err := os.Stat(p)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("token mode = %v, %v; want 0600", info.Mode().Perm(), err)
	}
	created, err = ensureToken(p)
	if err != nil || created {
		t.Fatalf("ensureToken(existing) = %v, %v; want false, nil", created, err)
	}
	if again, _ := os.ReadFile(p); string(again) != string(first) {
		t.Errorf("ensureToken replaced an existing token")
	}
}

func TestErrorLines(t *testing.T) {
	err := errors.Join(errors.New("a: bad"), errors.New("b: worse\n  detail"), errors.New(""))
	got := errorLines(err)
	want := []string{"a: bad", "b: worse", "  detail"}
	if !slices.Equal(got, want) {
		t.Errorf("errorLines() = %q, want %q", got, want)
	}
	if got := errorLines(nil); got != nil {
		t.Errorf("errorLines(nil) = %q, want nil", got)
	}
}

func TestFindModuleRoot(t *testing.T) {
	root := findModuleRoot(mustAbs(t, "."))
	if abs := mustAbs(t, "../.."); root != abs {
		t.Errorf("findModuleRoot(cmd/edged) = %q, want %q", root, abs)
	}
	if got := findModuleRoot(t.TempDir()); got != "" {
		t.Errorf("findModuleRoot(tempdir) = %q, want \"\"", got)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
