package codex

import (
	"errors"
	"os"
	"path/filepath"
)

// InstalledFake writes a fake native binary where locate looks for this platform's CLI
// under cacheDir and returns its path.
func InstalledFake(cacheDir string) (string, error) {
	ps := platforms()
	if len(ps) == 0 {
		return "", errors.New("no codex platform package for this machine")
	}
	bin := filepath.Join(InstallDir(cacheDir), "node_modules", "@openai", "codex-"+ps[0].pkg, "vendor", ps[0].triple, "bin", "codex")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", err
	}
	return bin, os.WriteFile(bin, []byte("\x7fELF fake binary"), 0o755)
}
