package cloud

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Environment builds on cloud providers (docs/sandboxes.md "Environment builds").
//
// A cloud layer is a vendor artefact (a snapshot, an image) built by running the same
// installer steps as root inside the vendor's sandbox image: the steps below are what
// every cloud Builder runs, either as commands in a build sandbox (then snapshotted) or
// as RUN lines of an image build. Unlike the docker builder's script they do not pick
// the egress proxy: a vendor sandbox cannot reach the server's unix socket, so builds use
// the vendor's own network.

// Step is one installer step of a build.
type Step struct {
	// Name says what the step does ("apt: installing jq hello"); a failed build names it.
	Name string
	// Script is one POSIX sh command line, run as root, that performs the step.
	Script string
}

// Line is the step as one command line that first prints "==> NAME" (the build log's
// step marker, which StepWriter recognises) and stops at the first failing command.
func (s Step) Line() string {
	return "set -e; echo " + Quote("==> "+s.Name) + "; " + s.Script
}

// need fails the step, naming what the image lacks, when cmd is not installed.
func need(cmd, manager string) string {
	return fmt.Sprintf(`command -v %s >/dev/null 2>&1 || { echo %s >&2; exit 127; }; `, cmd,
		Quote(manager+": the sandbox image has no "+cmd+": use a template/snapshot/image that has it"))
}

// quoteAll quotes package names (validated by provider.CheckPackages, but pins like
// "pandas>=2" or "foo*" must reach the installer unchanged).
func quoteAll(l []string) string {
	q := make([]string, len(l))
	for i, p := range l {
		q[i] = Quote(p)
	}
	return strings.Join(q, " ")
}

// InstallSteps returns the steps installing pk, in the local and docker builders'
// order: apt, npm, go, pip, cargo, gem. apt packages go through apt-get, or dnf on images
// without it (Vercel's Amazon Linux), with the same names.
func InstallSteps(pk hangar.Packages) []Step {
	var steps []Step
	if len(pk.Apt) > 0 {
		l := quoteAll(pk.Apt)
		steps = append(steps, Step{"apt: installing " + strings.Join(pk.Apt, " "),
			`export DEBIAN_FRONTEND=noninteractive; if command -v apt-get >/dev/null 2>&1; then apt-get -q update && apt-get -q install -y --no-install-recommends ` + l +
				` && rm -rf /var/lib/apt/lists/*; elif command -v dnf >/dev/null 2>&1; then echo "apt: the image has no apt-get: installing with dnf"; dnf install -y ` + l +
				`; else echo "apt: the sandbox image has neither apt-get nor dnf: use a template/snapshot/image that has one" >&2; exit 127; fi`})
	}
	if len(pk.Npm) > 0 {
		steps = append(steps, Step{"npm: installing " + strings.Join(pk.Npm, " "),
			need("npm", "npm") + "npm install -g --no-audit --no-fund --no-update-notifier " + quoteAll(pk.Npm)})
	}
	if gp := provider.GoPackages(pk); len(gp) > 0 {
		steps = append(steps, Step{"go: installing " + strings.Join(gp, " "),
			need("go", "go") + "GOBIN=/usr/local/bin GOPATH=/tmp/go GOCACHE=/tmp/go-cache go install " + quoteAll(gp)})
	}
	if len(pk.Pip) > 0 {
		// PIP_BREAK_SYSTEM_PACKAGES rather than the flag: older pips ignore the variable.
		steps = append(steps, Step{"pip: installing " + strings.Join(pk.Pip, " "),
			need("python3", "pip") + "PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir " + quoteAll(pk.Pip)})
	}
	if len(pk.Cargo) > 0 {
		steps = append(steps, Step{"cargo: installing " + strings.Join(pk.Cargo, " "),
			need("cargo", "cargo") + "CARGO_HOME=/tmp/cargo CARGO_INSTALL_ROOT=/usr/local cargo install " + quoteAll(pk.Cargo)})
	}
	if len(pk.Gem) > 0 {
		steps = append(steps, Step{"gem: installing " + strings.Join(pk.Gem, " "),
			need("gem", "gem") + "gem install --no-document " + quoteAll(pk.Gem)})
	}
	return steps
}

// Dockerfile is an image build installing pk over base, for vendors that build images
// from Dockerfile commands: root for the installers, then user (when given) again.
func Dockerfile(base, user string, pk hangar.Packages) string {
	var b strings.Builder
	fmt.Fprintf(&b, "FROM %s\nUSER root\n", base)
	for _, s := range InstallSteps(pk) {
		fmt.Fprintf(&b, "RUN %s\n", s.Line())
	}
	if user != "" {
		fmt.Fprintf(&b, "USER %s\n", user)
	}
	return b.String()
}

// NoteNetwork logs how the environment's networking policy applies to a cloud build,
// which runs on the vendor's network (it cannot reach the egress proxy's socket on the
// server; spec.EgressSocket is ignored). applied says the vendor enforces a limited
// policy on the build (BuildHosts added, so the installers reach their registries).
func NoteNetwork(log io.Writer, vendor string, spec provider.BuildSpec, applied bool) {
	limited, hosts := Limited(spec.Environment)
	switch {
	case !limited:
		fmt.Fprintf(log, "==> networking: unrestricted, as the environment's\n")
	case applied:
		fmt.Fprintf(log, "==> networking: limited, applied to the build sandbox: the allowed hosts (%s) and the package registries\n", strings.Join(hosts, " "))
	default:
		fmt.Fprintf(log, "==> networking: limited is not applied to the build: %s builds on its own builders, which have no network policy\n", vendor)
	}
}

// BuildHosts are the package registries a build under networking "limited" may reach,
// besides the environment's allowed hosts: those of networking.allow_package_managers
// (internal/egress.PackageManagerHosts), Debian's security mirror, and Amazon Linux's dnf
// mirror list (Vercel's image).
func BuildHosts() []string {
	return []string{
		"registry.npmjs.org", "registry.yarnpkg.com",
		"pypi.org", "files.pythonhosted.org",
		"deb.debian.org", "security.debian.org",
		"proxy.golang.org", "sum.golang.org",
		"crates.io", "static.crates.io", "index.crates.io",
		"rubygems.org", "index.rubygems.org",
		"cdn.amazonlinux.com",
	}
}

// layerKey is what a build key must look like to name a vendor snapshot.
var layerKey = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,99}$`)

// CheckBuild validates a build spec: a key usable in vendor names and plausible
// package names.
func CheckBuild(vendor string, spec provider.BuildSpec) error {
	if !layerKey.MatchString(spec.Key) {
		return hangar.Errorf(hangar.KindInvalidRequest, "%s build: bad key %q", vendor, spec.Key)
	}
	return provider.CheckPackages(&spec.Packages)
}

// StepWriter passes a build log through and remembers the last "==> step" line, which
// names the step a failed build failed in. It is safe for concurrent writes.
type StepWriter struct {
	W       io.Writer
	mu      sync.Mutex
	partial []byte
	step    string
}

func (s *StepWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, b...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		if step, ok := marker(string(s.partial[:i])); ok {
			s.step = step
		}
		s.partial = s.partial[i+1:]
	}
	if len(s.partial) > 4096 { // a long line without a newline is no step
		s.partial = s.partial[:0]
	}
	return s.W.Write(b)
}

// marker returns the step a "==> step" line names. Image builders prefix output lines
// ("#5 0.21 ==> apt: ..."), so the marker may follow a prefix, but not a quote: the
// builder's echo of the RUN line itself is no marker.
func marker(line string) (string, bool) {
	i := strings.Index(line, "==> ")
	if i < 0 || strings.ContainsAny(line[:i], `'"`) {
		return "", false
	}
	step := strings.TrimSpace(line[i+4:])
	return step, step != ""
}

// Last is the last step seen ("" when none).
func (s *StepWriter) Last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.step
}

// CannotBuild is the failure of a build on a provider whose vendor API offers no
// reusable layer (why says what is missing, bring what the image must carry instead): it
// is written to the build log, so GET build_log says it too.
func CannotBuild(vendor string, spec provider.BuildSpec, why, bring string) error {
	if err := CheckBuild(vendor, spec); err != nil {
		return err
	}
	err := hangar.Errorf(hangar.KindInvalidRequest, "the %s provider cannot build environment packages (%s): %s, or remove config.packages", vendor, why,
		strings.ReplaceAll(bring, "PACKAGES", provider.Describe(spec.Packages)))
	if spec.Log != nil {
		fmt.Fprintf(spec.Log, "==> %v\n", err)
	}
	return err
}
