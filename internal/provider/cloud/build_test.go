package cloud

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

func TestInstallSteps(t *testing.T) {
	steps := InstallSteps(hangar.Packages{Apt: []string{"jq"}, Pip: []string{"pandas>=2", "foo*"}, Go: []string{"example.com/x"}})
	var names []string
	for _, s := range steps {
		names = append(names, s.Name)
	}
	if got, want := strings.Join(names, "|"), "apt: installing jq|go: installing example.com/x@latest|pip: installing pandas>=2 foo*"; got != want {
		t.Errorf("steps %q, want %q", got, want)
	}
	// Pins and globs reach the installer as written: a shell runs the line with a fake
	// python3 that prints its arguments.
	line := strings.Replace(steps[2].Line(), "python3 -m pip install", "printf '%s\\n'", 1)
	line = strings.Replace(line, "command -v python3", "true", 1)
	out, err := exec.Command("sh", "-c", line).CombinedOutput()
	if err != nil || string(out) != "==> pip: installing pandas>=2 foo*\n--no-cache-dir\npandas>=2\nfoo*\n" {
		t.Errorf("pip step printed %q, %v", out, err)
	}
}

func TestStepWriter(t *testing.T) {
	var b strings.Builder
	w := &StepWriter{W: &b}
	for _, chunk := range []string{"==> apt: installing jq\nstub\n#2 [2/3] RUN set -e; echo '==> npm: installing x'; npm i\n", "#2 0.1 ==> npm: ", "installing x\n", "E: nope\n"} {
		w.Write([]byte(chunk))
	}
	if w.Last() != "npm: installing x" {
		t.Errorf("Last = %q", w.Last())
	}
	if !strings.HasPrefix(b.String(), "==> apt") {
		t.Errorf("output not passed through: %q", b.String())
	}
}

func TestNoteNetwork(t *testing.T) {
	limited := hangar.EnvironmentConfig{Networking: &hangar.Networking{Type: "limited", AllowedHosts: []string{"example.com"}}}
	for _, tc := range []struct {
		name    string
		env     hangar.EnvironmentConfig
		applied bool
		want    string
	}{
		{"unrestricted", hangar.EnvironmentConfig{}, false, "==> networking: unrestricted, as the environment's\n"},
		{"limited, applied", limited, true, "==> networking: limited, applied to the build sandbox: the allowed hosts (example.com) and the package registries\n"},
		{"limited, not applied", limited, false, "==> networking: limited is not applied to the build: daytona builds on its own builders, which have no network policy\n"},
	} {
		var b strings.Builder
		NoteNetwork(&b, "daytona", provider.BuildSpec{Environment: tc.env}, tc.applied)
		if b.String() != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, b.String(), tc.want)
		}
	}
}
