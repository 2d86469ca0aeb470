package provider

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/hangar-dev/hangar"
)

// Builder is implemented by providers that can prepare an environment's packages once,
// ahead of its sessions, into a reusable layer (local: a directory mounted into every
// sandbox; see docs/sandboxes.md "Environment builds"). Spec.Layer then names the layer.
type Builder interface {
	// Build installs spec.Packages into the layer keyed by spec.Key, writing progress
	// lines to spec.Log, and returns the layer reference for Spec.Layer. A build whose
	// layer already exists returns it at once. Errors name the failing installer step.
	Build(ctx context.Context, spec BuildSpec) (layer string, err error)
}

// LayerChecker is implemented by builders whose layers live at a vendor (a snapshot, a
// template, an image), where they may vanish (deleted, expired) while the server's build
// record says "ready": after a restart the record is confirmed with LayerExists before
// sessions use it, instead of building again.
type LayerChecker interface {
	// LayerExists reports whether layer, which Build returned for spec, still exists and
	// can start sandboxes (spec.Log is nil). It starts no build. A builder that tracks its
	// layers by key (vercel: snapshots have no name) learns spec.Key → layer from it.
	LayerExists(ctx context.Context, spec BuildSpec, layer string) (bool, error)
}

// BuildSpec describes one environment build.
type BuildSpec struct {
	// Key identifies the layer: the same key means the same content (see BuildKey).
	Key         string
	Packages    hangar.Packages
	Environment hangar.EnvironmentConfig
	Log         io.Writer
	// EgressSocket is the unix socket of the build's egress proxy attachment ("" when
	// none): isolated providers then give the installers no network but this proxy, at
	// EgressAddr, as HTTP(S)_PROXY.
	EgressSocket string
}

// Checker is implemented by providers that can tell whether their backend is usable right
// now (GET /v1/providers): nil when it is, else an error saying why not.
type Checker interface {
	Check(ctx context.Context) error
}

// Status is one provider's entry in GET /v1/providers.
type Status struct {
	Name      string
	Available bool
	// Reason says why the provider is not available ("" when it is).
	Reason       string
	Default      bool
	Capabilities *Capabilities // nil when the provider could not be created
}

// HasPackages reports whether pk lists anything to install.
func HasPackages(pk *hangar.Packages) bool {
	return pk != nil && len(pk.Apt)+len(pk.Cargo)+len(pk.Gem)+len(pk.Go)+len(pk.Npm)+len(pk.Pip) > 0
}

// packageName is what a package entry may look like in any package manager: names,
// versions and pins ("pandas==2.2.0", "@scope/pkg@1.2", "golang.org/x/tools/cmd/stringer@v0.1",
// "jq=1.6-2"), never whitespace, shell metacharacters or a leading "-" (an option).
var packageName = regexp.MustCompile(`^[A-Za-z0-9@_./+:=<>~^*][A-Za-z0-9@_./+:=<>~^*,!-]*$`)

// CheckPackages returns an invalid_request_error naming the first entry of pk that is not
// a plausible package name.
func CheckPackages(pk *hangar.Packages) error {
	if pk == nil {
		return nil
	}
	for _, l := range []struct {
		name string
		list []string
	}{{"apt", pk.Apt}, {"cargo", pk.Cargo}, {"gem", pk.Gem}, {"go", pk.Go}, {"npm", pk.Npm}, {"pip", pk.Pip}} {
		for i, p := range l.list {
			if !packageName.MatchString(p) || len(p) > 256 {
				return hangar.Errorf(hangar.KindInvalidRequest, "config.packages.%s[%d]: %q is not a package name", l.name, i, p)
			}
		}
	}
	return nil
}

// GoPackages returns pk.Go with "@latest" added to entries that name no version, as
// `go install` requires one outside a module.
func GoPackages(pk hangar.Packages) []string {
	out := make([]string, len(pk.Go))
	for i, p := range pk.Go {
		if !strings.Contains(p, "@") {
			p += "@latest"
		}
		out[i] = p
	}
	return out
}

// Describe returns a one-line summary of pk for logs ("apt: jq hello; npm: is-number").
func Describe(pk hangar.Packages) string {
	var parts []string
	for _, l := range []struct {
		name string
		list []string
	}{{"apt", pk.Apt}, {"cargo", pk.Cargo}, {"gem", pk.Gem}, {"go", pk.Go}, {"npm", pk.Npm}, {"pip", pk.Pip}} {
		if len(l.list) > 0 {
			parts = append(parts, fmt.Sprintf("%s: %s", l.name, strings.Join(l.list, " ")))
		}
	}
	return strings.Join(parts, "; ")
}
