package pgtest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestFindBin(t *testing.T) {
	root := t.TempDir()
	mk := func(version string, names ...string) {
		t.Helper()
		dir := filepath.Join(root, version, "bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	pattern := filepath.Join(root, "*", "bin")
	t.Setenv("PATH", t.TempDir()) // nothing on the PATH

	_, err := findBin(pattern)
	var skip *skipError
	if !errors.As(err, &skip) {
		t.Fatalf("findBin with no binaries: err = %v, want a skip", err)
	}

	mk("9", "initdb", "postgres")
	mk("16", "initdb") // incomplete: no server
	mk("15", "initdb", "postgres")
	got, err := findBin(pattern)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "15", "bin"); got != want {
		t.Errorf("findBin = %s, want the newest complete version %s", got, want)
	}
}

func TestWithDatabase(t *testing.T) {
	for _, tc := range []struct{ base, want string }{
		{"postgres://u:p@h:5432/postgres?sslmode=disable", "postgres://u:p@h:5432/db1?sslmode=disable"},
		{"postgresql://u@/postgres?host=%2Ftmp%2Fx&dbname=other", "postgresql://u@/db1?host=%2Ftmp%2Fx"},
		{"host=h user=u", "host=h user=u dbname=db1"},
	} {
		got, err := withDatabase(tc.base, "db1")
		if err != nil || got != tc.want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", tc.base, got, err, tc.want)
		}
	}
}
