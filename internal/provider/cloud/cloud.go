// Package cloud holds what Hangar's cloud sandbox providers (e2b, vercel, daytona...)
// share: a JSON-over-HTTP client that maps vendor status codes to hangar error kinds, a
// Process whose output is fed by a vendor's stream, the sandbox Handle they persist, and
// the mapping of an environment's networking policy.
//
// It is a plugin host like internal/provider (deps_test.go allows adapters to import it):
// the providers stay independent of each other and of this package's callers.
package cloud

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Handle is what a cloud provider persists to Recover a sandbox: the vendor's sandbox ID
// and the directories the session was created with.
type Handle struct {
	ID      string `json:"id"`
	WorkDir string `json:"work_dir,omitempty"`
	HomeDir string `json:"home_dir,omitempty"`
}

// Encode returns h as a provider.Handle.
func (h Handle) Encode() provider.Handle {
	b, _ := json.Marshal(h) // a struct of strings always marshals
	return b
}

// DecodeHandle parses a Handle written by Encode.
func DecodeHandle(vendor string, raw provider.Handle) (Handle, error) {
	var h Handle
	if err := json.Unmarshal(raw, &h); err != nil || h.ID == "" {
		return Handle{}, hangar.Errorf(hangar.KindInvalidRequest, "%s sandbox handle %q is malformed", vendor, raw)
	}
	return h, nil
}

// Resolve makes p absolute against dir (the sandbox's work dir), the way providers
// interpret relative file paths.
func Resolve(dir, p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	if dir == "" {
		dir = "/"
	}
	return path.Join(dir, p)
}

// Limited reports whether env restricts networking ("limited") and the hosts it allows.
func Limited(env hangar.EnvironmentConfig) (bool, []string) {
	if env.Networking == nil || env.Networking.Type != "limited" {
		return false, nil
	}
	return true, env.Networking.AllowedHosts
}

// Env turns KEY=VALUE pairs into a map, later entries winning.
func Env(kv []string) map[string]string {
	m := make(map[string]string, len(kv))
	for _, e := range kv {
		k, v, _ := strings.Cut(e, "=")
		if k != "" {
			m[k] = v
		}
	}
	return m
}

// Quote quotes s for a POSIX shell.
func Quote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Script is a shell command line running args in dir with env added, for vendor APIs
// that take one command string.
func Script(dir string, env map[string]string, args []string) string {
	var b strings.Builder
	if dir != "" {
		fmt.Fprintf(&b, "cd %s && ", Quote(dir))
	}
	b.WriteString("exec")
	if len(env) > 0 {
		b.WriteString(" env")
		for _, k := range sortedKeys(env) {
			b.WriteString(" " + Quote(k+"="+env[k]))
		}
	}
	for _, a := range args {
		b.WriteString(" " + Quote(a))
	}
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ { // insertion sort: env maps are tiny
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// Unsupported is the invalid_request_error a provider returns for an environment
// setting its vendor cannot enforce.
func Unsupported(vendor, format string, args ...any) error {
	return hangar.Errorf(hangar.KindInvalidRequest, "provider %s: %s", vendor, fmt.Sprintf(format, args...))
}
