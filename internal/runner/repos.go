package runner

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// github_repository resources (docs/resources.md). The runner clones the repository on the
// host, authenticating with the resource's token (opened from its sealed form only here,
// and passed to git through the environment as an HTTP header, so it lands in no file),
// then copies the clone, .git included, into the sandbox at the resource's mount path. The
// token never enters the sandbox: the clone's origin is the bare URL. A repository is
// cloned once; later runs find its .git/HEAD and leave the agent's work alone.

// repoResource is the part of a stored github_repository resource the runner needs.
type repoResource struct {
	ID          string `json:"id"`
	URL         string `json:"url"`
	MountPath   string `json:"mount_path"`
	SealedToken []byte `json:"sealed_token"`
	TokenKeyID  string `json:"token_key_id"`
	Checkout    *struct {
		Type string `json:"type"`
		Name string `json:"name"`
		SHA  string `json:"sha"`
	} `json:"checkout"`
}

// mountRepo clones res into sb unless it is there already.
func (r *Runner) mountRepo(ctx context.Context, sb provider.Sandbox, raw json.RawMessage) error {
	var res repoResource
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("session resource: %w", err)
	}
	if _, err := sb.GetFile(ctx, path.Join(res.MountPath, ".git", "HEAD")); err == nil {
		return nil
	}
	fail := func(msg string, err error) error {
		return &engine.Error{Type: "unknown_error", Message: fmt.Sprintf("repository resource %s (%s): %s", res.ID, res.URL, msg), Err: err}
	}
	if r.cfg.Secrets == nil {
		return fail("no vault key to open its token", nil)
	}
	token, err := r.cfg.Secrets.Open(res.SealedToken, res.TokenKeyID)
	if err != nil {
		return fail("its token could not be opened", err)
	}
	defer clear(token)
	tmp, err := os.MkdirTemp("", "hangar-repo-")
	if err != nil {
		return fail("could not be cloned", err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "repo")
	if err := gitClone(ctx, tmp, dir, res.URL, token, res.Checkout); err != nil {
		return fail("could not be cloned", err)
	}
	if err := copyIntoSandbox(ctx, sb, dir, res.MountPath); err != nil {
		return fail("could not be copied into the sandbox at "+res.MountPath, err)
	}
	return nil
}

// gitClone clones url into dir with token as HTTP basic auth (GitHub's x-access-token
// form), then checks out the branch or commit asked for.
func gitClone(ctx context.Context, home, dir, url string, token []byte, checkout *struct {
	Type string `json:"type"`
	Name string `json:"name"`
	SHA  string `json:"sha"`
}) error {
	auth := "Authorization: Basic " + base64.StdEncoding.EncodeToString(append([]byte("x-access-token:"), token...))
	env := []string{
		"HOME=" + home, "PATH=" + os.Getenv("PATH"),
		"GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "GIT_ASKPASS=/bin/false",
		"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0=" + auth,
	}
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			// git's output names the URL and the failure, never the header.
			return fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	args := []string{"clone", "--quiet"}
	if checkout != nil && checkout.Type == "branch" {
		args = append(args, "--branch", checkout.Name)
	}
	if err := run(append(args, "--", url, dir)...); err != nil {
		return err
	}
	if checkout != nil && checkout.Type == "commit" {
		return run("-C", dir, "checkout", "--quiet", "--detach", checkout.SHA)
	}
	return nil
}

// copyIntoSandbox writes every regular file under dir into sb at target, keeping the
// executable bit. Symlinks are not copied (PutFile writes regular files only).
func copyIntoSandbox(ctx context.Context, sb provider.Sandbox, dir, target string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		mode := uint32(0o644)
		if info.Mode()&0o111 != 0 {
			mode = 0o755
		}
		return sb.PutFile(ctx, path.Join(target, filepath.ToSlash(rel)), data, mode)
	})
}
