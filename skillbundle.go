package hangar

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strings"
)

// Limits of a skill upload (Anthropic's: 8 MB per skill, SKILL.md name ≤ 64 and description
// ≤ 1024 characters).
const (
	MaxSkillBytes     = 8 << 20
	MaxSkillFiles     = 1000
	MaxSkillNameLen   = 64
	MaxSkillDescLen   = 1024
	skillInstructions = "SKILL.md"
)

var skillNameRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// SkillFile is one file of a skill, its Path relative to the skill's parent directory
// ("<directory>/SKILL.md", "<directory>/scripts/x.py").
type SkillFile struct {
	Path string
	Data []byte
}

// SkillMeta is what a skill's SKILL.md frontmatter declares, and the folder holding it.
type SkillMeta struct {
	Name        string
	Description string
	Directory   string
}

// PackSkill validates an upload and returns it as a zip of "<directory>/..." entries. The
// upload is either one zip archive, or files whose paths share one top-level directory, or
// a lone SKILL.md (its directory is then the frontmatter name). Paths must be relative and
// stay inside the directory; the directory must hold a SKILL.md whose YAML frontmatter has
// a name (lowercase letters, digits and hyphens, ≤ 64) and a description (≤ 1024).
func PackSkill(files []SkillFile) ([]byte, SkillMeta, error) {
	if len(files) == 1 && isZip(files[0]) {
		var err error
		if files, err = readZip(files[0].Data); err != nil {
			return nil, SkillMeta{}, err
		}
	}
	if len(files) == 0 {
		return nil, SkillMeta{}, Errorf(KindInvalidRequest, "files: at least one file is required")
	}
	if len(files) > MaxSkillFiles {
		return nil, SkillMeta{}, Errorf(KindInvalidRequest, "files: at most %d files are allowed (got %d)", MaxSkillFiles, len(files))
	}
	var total int64
	clean := make([]SkillFile, 0, len(files))
	for _, f := range files {
		p, err := cleanSkillPath(f.Path)
		if err != nil {
			return nil, SkillMeta{}, err
		}
		total += int64(len(f.Data))
		clean = append(clean, SkillFile{Path: p, Data: f.Data})
	}
	if total > MaxSkillBytes {
		return nil, SkillMeta{}, Errorf(KindTooLarge, "files: the skill exceeds %d bytes", MaxSkillBytes)
	}
	// A SKILL.md at the root (a lone SKILL.md, or a zip of the folder's contents) means
	// the files have no folder: they are placed in one named after the skill.
	for _, f := range clean {
		if f.Path != skillInstructions {
			continue
		}
		meta, err := parseSkillMD(f.Data)
		if err != nil {
			return nil, SkillMeta{}, err
		}
		for i := range clean {
			clean[i].Path = meta.Name + "/" + clean[i].Path
		}
		break
	}
	dir := ""
	var instructions []byte
	seen := map[string]bool{}
	for _, f := range clean {
		top, rest, ok := strings.Cut(f.Path, "/")
		if !ok || rest == "" {
			return nil, SkillMeta{}, Errorf(KindInvalidRequest, "files: %q must be inside the skill's top-level directory", f.Path)
		}
		if dir == "" {
			dir = top
		} else if top != dir {
			return nil, SkillMeta{}, Errorf(KindInvalidRequest, "files: all files must share one top-level directory (%q and %q)", dir, top)
		}
		if seen[f.Path] {
			return nil, SkillMeta{}, Errorf(KindInvalidRequest, "files: duplicate path %q", f.Path)
		}
		seen[f.Path] = true
		if rest == skillInstructions {
			instructions = f.Data
		}
	}
	if instructions == nil {
		return nil, SkillMeta{}, Errorf(KindInvalidRequest, "files: %s/%s is required", dir, skillInstructions)
	}
	meta, err := parseSkillMD(instructions)
	if err != nil {
		return nil, SkillMeta{}, err
	}
	meta.Directory = dir
	sort.Slice(clean, func(i, j int) bool { return clean[i].Path < clean[j].Path })
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range clean {
		w, err := zw.Create(f.Path)
		if err != nil {
			return nil, SkillMeta{}, fmt.Errorf("pack skill: %w", err)
		}
		if _, err := w.Write(f.Data); err != nil {
			return nil, SkillMeta{}, fmt.Errorf("pack skill: %w", err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, SkillMeta{}, fmt.Errorf("pack skill: %w", err)
	}
	return buf.Bytes(), meta, nil
}

// UnpackSkill returns the files of a zip made by PackSkill, checking its paths again (the
// zip comes from the blob store, which the runner does not trust to stay inside a folder).
func UnpackSkill(data []byte) ([]SkillFile, error) {
	files, err := readZip(data)
	if err != nil {
		return nil, err
	}
	for i, f := range files {
		if files[i].Path, err = cleanSkillPath(f.Path); err != nil {
			return nil, err
		}
	}
	return files, nil
}

func isZip(f SkillFile) bool {
	return strings.HasSuffix(strings.ToLower(f.Path), ".zip") || bytes.HasPrefix(f.Data, []byte("PK\x03\x04"))
}

// readZip reads every regular file of a zip, bounding the uncompressed total (zip bombs).
func readZip(data []byte) ([]SkillFile, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, Errorf(KindInvalidRequest, "files: not a valid zip archive: %v", err)
	}
	if len(zr.File) > MaxSkillFiles {
		return nil, Errorf(KindInvalidRequest, "files: the zip holds more than %d entries", MaxSkillFiles)
	}
	var out []SkillFile
	left := int64(MaxSkillBytes)
	for _, zf := range zr.File {
		if zf.FileInfo().IsDir() {
			continue
		}
		if !zf.Mode().IsRegular() {
			return nil, Errorf(KindInvalidRequest, "files: zip entry %q is not a regular file", zf.Name)
		}
		rc, err := zf.Open()
		if err != nil {
			return nil, Errorf(KindInvalidRequest, "files: zip entry %q: %v", zf.Name, err)
		}
		b, err := io.ReadAll(io.LimitReader(rc, left+1))
		rc.Close()
		if err != nil {
			return nil, Errorf(KindInvalidRequest, "files: zip entry %q: %v", zf.Name, err)
		}
		if left -= int64(len(b)); left < 0 {
			return nil, Errorf(KindTooLarge, "files: the skill exceeds %d bytes uncompressed", MaxSkillBytes)
		}
		out = append(out, SkillFile{Path: zf.Name, Data: b})
	}
	return out, nil
}

// cleanSkillPath rejects absolute paths, backslashes and any ".." (path traversal), and
// strips a leading "./".
func cleanSkillPath(p string) (string, error) {
	bad := Errorf(KindInvalidRequest, "files: invalid path %q: paths must be relative and stay inside the skill's directory", p)
	if p == "" || strings.ContainsAny(p, "\\\x00") || path.IsAbs(p) {
		return "", bad
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return "", bad
		}
	}
	c := path.Clean(p)
	if c == "." || strings.HasPrefix(c, "../") {
		return "", bad
	}
	return c, nil
}

// parseSkillMD reads the name and description of a SKILL.md's YAML frontmatter (simple
// "key: value" lines, optionally quoted, which is what skills use).
func parseSkillMD(b []byte) (SkillMeta, error) {
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	rest, ok := strings.CutPrefix(text, "---\n")
	if !ok {
		return SkillMeta{}, Errorf(KindInvalidRequest, "SKILL.md: must start with a YAML frontmatter (---) declaring name and description")
	}
	front, _, ok := strings.Cut(rest, "\n---")
	if !ok {
		return SkillMeta{}, Errorf(KindInvalidRequest, "SKILL.md: the frontmatter is not closed by ---")
	}
	var m SkillMeta
	for _, line := range strings.Split(front, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, " ") {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		switch strings.TrimSpace(k) {
		case "name":
			m.Name = v
		case "description":
			m.Description = v
		}
	}
	switch {
	case m.Name == "":
		return SkillMeta{}, Errorf(KindInvalidRequest, "SKILL.md: frontmatter name is required")
	case len(m.Name) > MaxSkillNameLen || !skillNameRE.MatchString(m.Name):
		return SkillMeta{}, Errorf(KindInvalidRequest, "SKILL.md: name %q must be 1-%d lowercase letters, digits and hyphens", m.Name, MaxSkillNameLen)
	case m.Description == "":
		return SkillMeta{}, Errorf(KindInvalidRequest, "SKILL.md: frontmatter description is required")
	case len(m.Description) > MaxSkillDescLen:
		return SkillMeta{}, Errorf(KindInvalidRequest, "SKILL.md: description exceeds %d characters", MaxSkillDescLen)
	}
	return m, nil
}
