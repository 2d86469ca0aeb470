package hangar_test

import (
	"archive/zip"
	"bytes"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar"
)

const skillMD = "---\nname: greet\ndescription: \"Greets people.\"\n---\nSay AHOY.\n"

func zipOf(t *testing.T, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i < len(files); i += 2 {
		w, err := zw.Create(files[i])
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(files[i+1]))
	}
	zw.Close()
	return buf.Bytes()
}

func TestPackSkill(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   []hangar.SkillFile
		want    string // sorted entry paths, or the error's substring after "!"
		wantDir string
	}{
		{"folder", []hangar.SkillFile{{"greet/SKILL.md", []byte(skillMD)}, {"greet/lib/x.py", []byte("x")}}, "greet/SKILL.md greet/lib/x.py", "greet"},
		{"other folder name", []hangar.SkillFile{{"./My Skill/SKILL.md", []byte(skillMD)}}, "My Skill/SKILL.md", "My Skill"},
		{"lone SKILL.md", []hangar.SkillFile{{"SKILL.md", []byte(skillMD)}}, "greet/SKILL.md", "greet"},
		{"zip of folder", []hangar.SkillFile{{"s.zip", zipOf(t, "greet/SKILL.md", skillMD, "greet/a.txt", "a")}}, "greet/SKILL.md greet/a.txt", "greet"},
		{"zip of contents", []hangar.SkillFile{{"s.zip", zipOf(t, "SKILL.md", skillMD, "a.txt", "a")}}, "greet/SKILL.md greet/a.txt", "greet"},
		{"zip traversal", []hangar.SkillFile{{"s.zip", zipOf(t, "greet/SKILL.md", skillMD, "greet/../../evil", "x")}}, "!invalid path", ""},
		{"absolute", []hangar.SkillFile{{"/etc/greet/SKILL.md", []byte(skillMD)}}, "!invalid path", ""},
		{"backslash", []hangar.SkillFile{{`greet\SKILL.md`, []byte(skillMD)}}, "!invalid path", ""},
		{"two dirs", []hangar.SkillFile{{"a/SKILL.md", []byte(skillMD)}, {"b/x", nil}}, "!one top-level directory", ""},
		{"file at root", []hangar.SkillFile{{"greet/SKILL.md", []byte(skillMD)}, {"x", nil}}, "!inside the skill's top-level directory", ""},
		{"no SKILL.md", []hangar.SkillFile{{"greet/README.md", nil}}, "!SKILL.md is required", ""},
		{"no frontmatter", []hangar.SkillFile{{"greet/SKILL.md", []byte("hi")}}, "!frontmatter", ""},
		{"bad name", []hangar.SkillFile{{"greet/SKILL.md", []byte("---\nname: Greet\ndescription: d\n---\n")}}, "!lowercase", ""},
		{"no description", []hangar.SkillFile{{"greet/SKILL.md", []byte("---\nname: greet\n---\n")}}, "!description is required", ""},
		{"too large", []hangar.SkillFile{{"greet/SKILL.md", []byte(skillMD)}, {"greet/big", make([]byte, hangar.MaxSkillBytes)}}, "!exceeds", ""},
		{"zip bomb", []hangar.SkillFile{{"s.zip", zipOf(t, "greet/SKILL.md", skillMD, "greet/big", strings.Repeat("0", hangar.MaxSkillBytes+1))}}, "!exceeds", ""},
		{"empty", nil, "!at least one file", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, meta, err := hangar.PackSkill(tc.files)
			if want, isErr := strings.CutPrefix(tc.want, "!"); isErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("err = %v, want one containing %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			files, err := hangar.UnpackSkill(data)
			if err != nil {
				t.Fatal(err)
			}
			var paths []string
			for _, f := range files {
				paths = append(paths, f.Path)
			}
			if got := strings.Join(paths, " "); got != tc.want || meta.Directory != tc.wantDir || meta.Name != "greet" || meta.Description != "Greets people." {
				t.Errorf("paths %q meta %+v; want %q in %s", got, meta, tc.want, tc.wantDir)
			}
		})
	}
}
