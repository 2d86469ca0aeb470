package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Skills: the custom skills of a session's agent are written into its sandbox before each
// turn, where the engine's CLI discovers them: Claude Code reads $HOME/.claude/skills/<name>/
// (SKILL.md + supporting files) and loads a skill's instructions when the task matches its
// description. Other engines have no skills directory of their own; they get the same
// folders under $HOME/.agents/skills/<name>/ (the cross-agent convention), readable by the
// agent but not auto-discovered. Anthropic's prebuilt skills (type "anthropic": xlsx,
// docx...) are not served by Hangar and are skipped. Writing every turn is idempotent and
// picks up a sandbox that was created again.

// skillRef is one entry of an agent's resolved skills.
type skillRef struct {
	Type    string `json:"type"`
	SkillID string `json:"skill_id"`
	Version string `json:"version"`
}

// skillsDir is where the engine's CLI looks for skills inside the sandbox.
func skillsDir(home, engineName string) string {
	if engineName == hangar.EngineClaude {
		return path.Join(home, ".claude", "skills")
	}
	return path.Join(home, ".agents", "skills")
}

// installSkills writes the agent's custom skills into sb.
func (r *Runner) installSkills(ctx context.Context, sess *hangar.Session, sb provider.Sandbox) error {
	return r.installSkillsAt(ctx, sess, sb, r.cfg.HomeDir)
}

// installSkillsAt writes the custom skills of sess's agent into sb under the HOME home (a
// child thread's own HOME: thread_run.go).
func (r *Runner) installSkillsAt(ctx context.Context, sess *hangar.Session, sb provider.Sandbox, home string) error {
	var refs []skillRef
	if raw := sess.Agent.Skills; len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &refs); err != nil {
			return fmt.Errorf("agent skills: %w", err)
		}
	}
	if len(refs) == 0 {
		return nil
	}
	if r.cfg.Blobs == nil {
		r.log.Warn("skills not installed: the runner has no blob store", "session", sess.ID)
		return nil
	}
	dir := skillsDir(home, sess.Agent.Engine)
	for _, ref := range refs {
		if ref.Type != "custom" {
			r.log.Info("skipping skill not served by Hangar", "session", sess.ID, "type", ref.Type, "skill_id", ref.SkillID)
			continue
		}
		if err := r.installSkill(ctx, sb, dir, ref); err != nil {
			return &engine.Error{Type: "unknown_error", Message: fmt.Sprintf("skill %s could not be installed in the sandbox", ref.SkillID), Err: err}
		}
	}
	return nil
}

func (r *Runner) installSkill(ctx context.Context, sb provider.Sandbox, dir string, ref skillRef) error {
	version := ref.Version
	if version == "" {
		version = "latest"
	}
	v, err := r.store.GetSkillVersion(ctx, ref.SkillID, version)
	if err != nil {
		return err
	}
	rc, err := r.cfg.Blobs.Open(ctx, v.ID)
	if err != nil {
		return fmt.Errorf("open skill version %s: %w", v.ID, err)
	}
	data, err := io.ReadAll(io.LimitReader(rc, hangar.MaxSkillBytes+1))
	rc.Close()
	if err != nil {
		return fmt.Errorf("read skill version %s: %w", v.ID, err)
	}
	files, err := hangar.UnpackSkill(data)
	if err != nil {
		return err
	}
	for _, f := range files {
		// The folder is named after the skill (validated: [a-z0-9-]), whatever the upload's
		// top-level directory was called, as Claude Code expects.
		_, rest, _ := strings.Cut(f.Path, "/")
		dst := path.Join(dir, v.Name, rest)
		if err := sb.PutFile(ctx, dst, f.Data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", dst, err)
		}
	}
	return nil
}
