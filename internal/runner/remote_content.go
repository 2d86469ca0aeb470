package runner

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// sandboxContent copies session content into a remote sandbox and reads it back, with
// sb.PutFile, sb.GetFile and a few POSIX shell commands run with sb.Exec (sh, find,
// sha256sum, chmod, rm, mkdir: in any Debian, Ubuntu, Alpine or busybox image). Listing
// hashes the files inside the sandbox, so only new and changed files cross the network.
//
// Read-only content (file resources, read_only memory stores) is made read-only with
// chmod a-w after each upload. Unlike a read-only bind mount, this is advice, not
// enforcement: the agent owns the files and could chmod them back. What the agent does to
// a read-only store is never written back, and the next turn restores it.
type sandboxContent struct {
	sb provider.Sandbox
}

// listScript prints "<sha256>  ./<path>" for each regular file of $1 of at most $2 bytes,
// and "large ./<path>" for bigger ones; nothing when $1 does not exist.
const listScript = `[ -d "$1" ] || exit 0
cd "$1" || exit 1
find . -type f -size +"$2"c -exec sh -c 'for f; do printf "large %s\n" "$f"; done' sh {} + || exit 1
find . -type f ! -size +"$2"c -exec sha256sum {} +`

// prepScript creates $1 (with sudo -n when the agent's user cannot: /mnt is often
// root's), makes it writable again and removes the files named after it (relative).
const prepScript = `d=$1; shift
if [ ! -d "$d" ]; then
  mkdir -p "$d" 2>/dev/null || { sudo -n mkdir -p "$d" && sudo -n chown "$(id -u):$(id -g)" "$d"; } || exit 1
fi
chmod -R u+w "$d" 2>/dev/null
cd "$d" || exit 1
for f; do rm -f "./$f" || exit 1; done`

// lockScript takes the write bits off $1 and everything under it.
const lockScript = `chmod -R a-w "$1"`

func (c sandboxContent) replace(ctx context.Context, d contentDir, files map[string][]byte, readOnly bool) error {
	have, err := c.list(ctx, d, 1<<40) // no limit that matters: every file is compared
	if err != nil {
		if len(files) == 0 {
			// Nothing to deliver: a sandbox without a POSIX shell (or without the
			// directory's parent) still runs sessions that have no such content.
			return nil
		}
		return err
	}
	var stale []string
	for rel := range have {
		if _, ok := files[rel]; !ok {
			stale = append(stale, rel)
		}
	}
	sort.Strings(stale)
	write := map[string][]byte{}
	for rel, data := range files {
		if have[rel].SHA256 != sha256Hex(data) {
			write[rel] = data
		}
	}
	if len(files) == 0 && len(have) == 0 {
		return nil // nothing there, nothing to put: no need for the directory either
	}
	if len(write) > 0 || len(stale) > 0 || len(have) == 0 {
		if _, err := c.run(ctx, append([]string{"/bin/sh", "-c", prepScript, "prep", d.sandbox}, stale...)...); err != nil {
			return fmt.Errorf("prepare %s: %w", d.sandbox, err)
		}
	}
	for _, rel := range sortedKeys(write) {
		p := path.Join(d.sandbox, rel)
		if err := c.sb.PutFile(ctx, p, write[rel], 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	if readOnly {
		if _, err := c.run(ctx, "/bin/sh", "-c", lockScript, "lock", d.sandbox); err != nil {
			return fmt.Errorf("make %s read-only: %w", d.sandbox, err)
		}
	}
	return nil
}

func (c sandboxContent) ensure(ctx context.Context, d contentDir) error {
	if _, err := c.run(ctx, "/bin/sh", "-c", prepScript, "prep", d.sandbox); err != nil {
		return fmt.Errorf("create %s: %w", d.sandbox, err)
	}
	return nil
}

func (c sandboxContent) list(ctx context.Context, d contentDir, maxBytes int64) (map[string]contentSum, error) {
	out, err := c.run(ctx, "/bin/sh", "-c", listScript, "list", d.sandbox, strconv.FormatInt(maxBytes, 10))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d.sandbox, err)
	}
	sums := map[string]contentSum{}
	for line := range strings.Lines(out) {
		line = strings.TrimSuffix(line, "\n")
		if rel, ok := strings.CutPrefix(line, "large ./"); ok {
			sums[rel] = contentSum{TooLarge: true}
			continue
		}
		// sha256sum escapes names holding a newline or backslash with a leading "\":
		// such names are skipped rather than guessed.
		sum, name, ok := strings.Cut(line, "  ./")
		if !ok || len(sum) != 64 || name == "" {
			continue
		}
		sums[name] = contentSum{SHA256: sum}
	}
	return sums, nil
}

func (c sandboxContent) read(ctx context.Context, d contentDir, rel string) ([]byte, error) {
	return c.sb.GetFile(ctx, path.Join(d.sandbox, rel))
}

// maxCommandOutput bounds what run keeps of a command's output (a listing of thousands
// of files is well under it).
const maxCommandOutput = 16 << 20

// run runs args in the sandbox with no input and returns its standard output; a non-zero
// exit is an error carrying the standard error.
func (c sandboxContent) run(ctx context.Context, args ...string) (string, error) {
	pr, err := c.sb.Exec(ctx, provider.ExecSpec{Args: args, Dir: "/"})
	if err != nil {
		return "", err
	}
	pr.Stdin().Close() // providers with buffered stdin start the command here
	var stdout, stderr bytes.Buffer
	var wg sync.WaitGroup
	wg.Go(func() { io.Copy(&stderr, io.LimitReader(pr.Stderr(), 64<<10)); io.Copy(io.Discard, pr.Stderr()) })
	io.Copy(&stdout, io.LimitReader(pr.Stdout(), maxCommandOutput))
	io.Copy(io.Discard, pr.Stdout())
	wg.Wait()
	code, err := pr.Wait()
	if err != nil {
		return "", err
	}
	if code != 0 {
		return "", hangar.Errorf(hangar.KindInternal, "exit %d: %s", code, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
