package cloudtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// What the vendor fakes need for environment builds: package managers that work without
// a network, and sandboxes copied from a snapshot of another.

// StubBin is where InstallStubs puts the stub package managers in a box, and StubPath the
// PATH of a fake image that has them: fakes use it for commands that bring no PATH.
const (
	StubBin  = "/opt/fakepm/bin"
	StubPath = StubBin + ":/usr/local/bin:/usr/bin:/bin"
	// Installed is where a stub records what it installed: Installed/<manager>/<name>.
	Installed = "/opt/fakepm/installed"
)

// stubScript stands for apt-get, dnf, npm, python3 (-m pip), pip, cargo, gem and go: for
// each package argument of "install" it writes Installed/<manager>/<name> and an
// executable StubBin/<name> printing "<name> installed by <manager>", where <name> is the
// package without scope, version or import path ("@scope/x@1" → x, "golang.org/x/y@v1"
// → y). A package named missing* fails the way apt-get fails on an unknown package.
// Anything else python3 is asked to run goes to the real python3.
const stubScript = `#!/bin/sh
set -eu
tool=${0##*/}
if [ "$tool" = python3 ]; then
	if [ "${1:-}" = -m ] && [ "${2:-}" = pip ]; then shift 2; tool=pip; else exec /usr/bin/python3 "$@"; fi
fi
mgr=$tool
[ "$tool" = apt-get ] && mgr=apt
[ "$tool" = dnf ] && mgr=apt
sub=
for a in "$@"; do
	case "$a" in -*) continue;; esac
	if [ -z "$sub" ]; then
		sub=$a
		if [ "$sub" = update ]; then echo "stub $tool: package lists updated"; exit 0; fi
		[ "$sub" = install ] || { echo "stub $tool: unsupported command $sub" >&2; exit 2; }
		continue
	fi
	case "$a" in missing*) echo "E: Unable to locate package $a" >&2; exit 100;; esac
	n=${a#@}; n=${n%%[@=<>~^!,]*}; n=${n##*/}
	mkdir -p ` + Installed + `/$mgr
	echo "$a" > ` + Installed + `/$mgr/$n
	printf '#!/bin/sh\necho "%s installed by %s"\n' "$n" "$mgr" > ` + StubBin + `/$n
	chmod +x ` + StubBin + `/$n
	echo "stub $tool: installed $a"
done
[ -n "$sub" ] || { echo "stub $tool: no command" >&2; exit 2; }
`

// stubTools are the commands the stub stands for.
var stubTools = []string{"apt-get", "dnf", "npm", "python3", "pip", "cargo", "gem", "go"}

// InstallStubs puts the stub package managers in the box at StubBin, as an image built
// for these tests would carry them: no network, no root, real processes and real files.
func InstallStubs(b *Box) error {
	for _, t := range stubTools {
		if err := b.WriteFile(StubBin+"/"+t, []byte(stubScript), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// CopyRoot copies the directory src (a box's root) to dst, which must not exist, keeping
// modes and symbolic links: a vendor snapshot of a sandbox's filesystem.
func CopyRoot(dst, src string) error {
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		return fmt.Errorf("copy %s: %v: %s", src, err, out)
	}
	return nil
}

// NewBoxFrom returns a box under dir whose files are a copy of the directory snapshot
// (made with CopyRoot): a sandbox created from a vendor snapshot.
func NewBoxFrom(dir, snapshot string) (*Box, error) {
	root, err := os.MkdirTemp(dir, "box-")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(root); err != nil {
		return nil, err
	}
	if err := CopyRoot(root, snapshot); err != nil {
		return nil, err
	}
	return &Box{Root: root, procs: map[*Cmd]bool{}}, nil
}

// SnapshotDir returns a new, not yet existing path under dir for a snapshot.
func SnapshotDir(dir string) (string, error) {
	d, err := os.MkdirTemp(dir, "snapshot-")
	if err != nil {
		return "", err
	}
	return filepath.Clean(d), os.Remove(d)
}
