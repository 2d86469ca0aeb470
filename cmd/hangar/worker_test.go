package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestWorkerHelp pins `hangar worker --help` and its usage errors.
func TestWorkerHelp(t *testing.T) {
	t.Parallel()
	noEnv := func(string) string { return "" }
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"worker", "--help"}, noEnv, &out, &errOut); code != 0 || errOut.Len() > 0 {
		t.Fatalf("hangar worker --help: exit %d, stderr %q", code, errOut.String())
	}
	golden(t, "help_worker", out.String())

	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no environment", []string{"worker", "--environment-key", "k"}, nil, "--environment-id is required"},
		{"no key", []string{"worker", "--environment-id", "env_1"}, nil, "--environment-key (or HANGAR_ENVIRONMENT_KEY) is required"},
		{"bad url", []string{"worker", "--environment-id", "env_1", "--base-url", "ftp://x"}, map[string]string{"HANGAR_ENVIRONMENT_KEY": "k"}, "want an http or https URL"},
		{"bad idle", []string{"worker", "--environment-id", "env_1", "--environment-key", "k", "--max-idle", "0s"}, nil, "--max-idle must be positive"},
		{"extra argument", []string{"worker", "--environment-id", "env_1", "--environment-key", "k", "now"}, nil, `unexpected argument "now"`},
		{"unknown flag", []string{"worker", "--bogus"}, nil, "flag provided but not defined"},
		{"bad sandbox", []string{"worker", "--environment-id", "env_1", "--environment-key", "k", "--sandbox", "docker"}, nil, "want none or bwrap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			getenv := func(k string) string { return tc.env[k] }
			if code := run(context.Background(), tc.args, getenv, &out, &errOut); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("stderr = %q, want it to mention %q", errOut.String(), tc.want)
			}
		})
	}
}
