package hangar_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"path"
	"strings"
	"testing"
)

const module = "github.com/hangar-dev/hangar"

// pluginHosts are the internal packages adapters may import: the interfaces engines and
// providers implement, and internal/provider/cloud, the HTTP client, process plumbing and
// handle the cloud providers (e2b, vercel, daytona...) share.
var pluginHosts = map[string]bool{module + "/internal/engine": true, module + "/internal/provider": true,
	module + "/internal/provider/cloud": true}

// TestDependencyDirection enforces STYLE.md §7.1: the root package imports only the standard
// library; internal packages import the root, the plugin hosts and third-party code, never a
// sibling adapter; only cmd/ wires concrete packages together; production code never imports
// a *test package.
func TestDependencyDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	n := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		n++
		for _, imp := range p.Imports {
			if why := violation(p.ImportPath, imp); why != "" {
				t.Errorf("%s imports %s: %s", p.ImportPath, imp, why)
			}
		}
	}
	if n < 10 {
		t.Fatalf("go list found only %d packages", n)
	}
}

func violation(pkg, imp string) string {
	own := strings.HasPrefix(imp, module+"/") || imp == module
	if pkg == module {
		if strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
			return "the root package imports only the standard library"
		}
		return ""
	}
	if own && strings.HasSuffix(imp, "test") && !strings.HasSuffix(pkg, "test") {
		return "production code must not import test helpers"
	}
	if !own || imp == module || !strings.HasPrefix(pkg, module+"/internal/") {
		return "" // cmd/ and bench/ wire anything; third-party and root imports are fine
	}
	if pluginHosts[imp] {
		return ""
	}
	// A test helper may import the package it tests, and the fake model server (a test
	// fake itself, never imported by production code).
	if strings.HasSuffix(pkg, "test") && (strings.TrimSuffix(path.Base(pkg), "test") == path.Base(imp) || imp == module+"/internal/fakemodel") {
		return ""
	}
	// An adapter may import its own subpackages (modal's generated modalpb), and a test
	// helper those of the adapter it fakes (modaltest: modalpb) and the shared test
	// helpers (cloudtest's sandbox boxes).
	if strings.HasPrefix(imp, pkg+"/") {
		return ""
	}
	if adapter := path.Dir(pkg); strings.HasSuffix(pkg, "test") && (strings.HasSuffix(imp, "test") ||
		adapter != module+"/internal" && !pluginHosts[adapter] && strings.HasPrefix(imp, adapter+"/")) {
		return ""
	}
	return "internal adapters must not import each other; wire them in cmd/"
}

func TestDependencyRules(t *testing.T) {
	for _, tc := range []struct {
		pkg, imp string
		bad      bool
	}{
		{module, "net/http", false},
		{module, "github.com/google/go-cmp/cmp", true},
		{module + "/internal/httpapi", module + "/internal/sqlstore", true},
		{module + "/internal/runner", module + "/internal/engine", false},
		{module + "/internal/runner", module + "/internal/engine/enginetest", true},
		{module + "/internal/storetest", module + "/internal/sqlstore", true},
		{module + "/internal/engine/enginetest", module + "/internal/engine", false},
		{module + "/cmd/hangar", module + "/internal/sqlstore", false},
		{module + "/cmd/hangar", module + "/internal/storetest", true},
		{module + "/internal/sqlstore", "modernc.org/sqlite", false},
		{module + "/internal/engine/enginetest", module + "/internal/fakemodel", false},
		{module + "/internal/engine/codex", module + "/internal/fakemodel", true},
		{module + "/internal/provider/modal", module + "/internal/provider/modal/modalpb", false},
		{module + "/internal/provider/modal/modaltest", module + "/internal/provider/modal/modalpb", false},
		{module + "/internal/provider/modal/modaltest", module + "/internal/provider/cloudtest", false},
		{module + "/internal/provider/modal/modalpb", module + "/internal/provider/e2b", true},
		{module + "/internal/provider/providertest", module + "/internal/provider/e2b", true},
		{module + "/internal/engine/enginetest", module + "/internal/engine/codex", true},
	} {
		if got := violation(tc.pkg, tc.imp) != ""; got != tc.bad {
			t.Errorf("violation(%s, %s) = %v, want %v", tc.pkg, tc.imp, got, tc.bad)
		}
	}
}
