package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/hangar-dev/hangar"
)

func newSkillVersion(skillID string, n int, clk *clock) *hangar.SkillVersion {
	at := clk.Now()
	return &hangar.SkillVersion{
		Type: "skill_version", ID: hangar.NewID(hangar.PrefixSkillVersion), SkillID: skillID,
		Version: fmt.Sprint(at.UnixMicro()), Name: "greet", Description: fmt.Sprintf("version %d", n),
		Directory: "greet", CreatedAt: at, SizeBytes: int64(100 + n), SHA256: fmt.Sprintf("%064x", n),
	}
}

func testSkills(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()

	var skills []*hangar.Skill
	for i := range 5 {
		at := clk.Now()
		s := &hangar.Skill{Type: "skill", ID: hangar.NewID(hangar.PrefixSkill), DisplayName: fmt.Sprintf("s%d", i),
			Source: hangar.SkillSource{Type: "custom"}, CreatedAt: at, UpdatedAt: at}
		v := newSkillVersion(s.ID, 1, clk)
		must(t, st.CreateSkill(ctx, s, v))
		if s.LatestVersionID != v.ID || s.LatestVersion != v.Version {
			t.Fatalf("CreateSkill: latest = %s/%s, want %s/%s", s.LatestVersionID, s.LatestVersion, v.ID, v.Version)
		}
		skills = append(skills, s)
	}
	wantKind(t, "CreateSkill(same ID)", st.CreateSkill(ctx, skills[0], newSkillVersion(skills[0].ID, 9, clk)), hangar.KindConflict)

	t.Run("get and list", func(t *testing.T) {
		got, err := st.GetSkill(ctx, skills[1].ID)
		must(t, err)
		if d := diff(skills[1], got); d != "" {
			t.Errorf("GetSkill (-want +got):\n%s", d)
		}
		_, err = st.GetSkill(ctx, "skill_missing")
		wantKind(t, "GetSkill", err, hangar.KindNotFound)

		page, res, err := st.ListSkills(ctx, hangar.SkillFilter{Page: hangar.Page{Limit: 3, Desc: true}})
		must(t, err)
		if len(page) != 3 || page[0].ID != skills[4].ID || res.Next == "" {
			t.Fatalf("ListSkills desc: got %d skills (first %v), next %q", len(page), page[0].ID, res.Next)
		}
		c, err := hangar.DecodeCursor(res.Next)
		must(t, err)
		page, res, err = st.ListSkills(ctx, hangar.SkillFilter{Page: hangar.Page{Limit: 3, Desc: true, Cursor: &c}})
		must(t, err)
		if len(page) != 2 || page[1].ID != skills[0].ID || res.Next != "" {
			t.Fatalf("ListSkills page 2: got %d skills, next %q", len(page), res.Next)
		}
		none, _, err := st.ListSkills(ctx, hangar.SkillFilter{Source: "anthropic"})
		must(t, err)
		if len(none) != 0 {
			t.Errorf("ListSkills(source=anthropic) = %d skills, want 0", len(none))
		}
	})

	t.Run("versions", func(t *testing.T) {
		s := skills[2]
		first, err := st.GetSkillVersion(ctx, s.ID, s.LatestVersion)
		must(t, err)
		second := newSkillVersion(s.ID, 2, clk)
		got, err := st.CreateSkillVersion(ctx, second)
		must(t, err)
		if got.LatestVersionID != second.ID || !got.UpdatedAt.Equal(second.CreatedAt) {
			t.Errorf("CreateSkillVersion: skill latest %s updated %v, want %s %v", got.LatestVersionID, got.UpdatedAt, second.ID, second.CreatedAt)
		}
		dup := newSkillVersion(s.ID, 3, clk)
		dup.Version = second.Version
		_, err = st.CreateSkillVersion(ctx, dup)
		wantKind(t, "CreateSkillVersion(same version)", err, hangar.KindConflict)
		_, err = st.CreateSkillVersion(ctx, newSkillVersion("skill_missing", 1, clk))
		wantKind(t, "CreateSkillVersion(missing skill)", err, hangar.KindNotFound)

		for _, name := range []string{second.Version, second.ID, "latest"} {
			v, err := st.GetSkillVersion(ctx, s.ID, name)
			must(t, err)
			if d := diff(second, v); d != "" {
				t.Errorf("GetSkillVersion(%s) (-want +got):\n%s", name, d)
			}
		}
		_, err = st.GetSkillVersion(ctx, s.ID, "123")
		wantKind(t, "GetSkillVersion(missing version)", err, hangar.KindNotFound)
		_, err = st.GetSkillVersion(ctx, skills[3].ID, second.ID)
		wantKind(t, "GetSkillVersion(other skill)", err, hangar.KindNotFound)
		_, err = st.GetSkillVersion(ctx, "skill_missing", "latest")
		wantKind(t, "GetSkillVersion(missing skill)", err, hangar.KindNotFound)

		vs, _, err := st.ListSkillVersions(ctx, s.ID, hangar.Page{Desc: true})
		must(t, err)
		if len(vs) != 2 || vs[0].ID != second.ID || vs[1].ID != first.ID {
			t.Fatalf("ListSkillVersions desc = %v", vs)
		}
		_, _, err = st.ListSkillVersions(ctx, "skill_missing", hangar.Page{})
		wantKind(t, "ListSkillVersions(missing skill)", err, hangar.KindNotFound)

		wantKind(t, "DeleteSkill(with versions)", st.DeleteSkill(ctx, s.ID), hangar.KindConflict)
		del, err := st.DeleteSkillVersion(ctx, s.ID, second.Version)
		must(t, err)
		if del.ID != second.ID {
			t.Errorf("DeleteSkillVersion returned %s, want %s", del.ID, second.ID)
		}
		after, err := st.GetSkill(ctx, s.ID)
		must(t, err)
		if after.LatestVersionID != first.ID || after.LatestVersion != first.Version {
			t.Errorf("after deleting the latest version: latest %s, want %s", after.LatestVersionID, first.ID)
		}
		_, err = st.DeleteSkillVersion(ctx, s.ID, second.Version)
		wantKind(t, "DeleteSkillVersion(twice)", err, hangar.KindNotFound)
		_, err = st.DeleteSkillVersion(ctx, s.ID, first.ID)
		must(t, err)
		after, err = st.GetSkill(ctx, s.ID)
		must(t, err)
		if after.LatestVersionID != "" || after.LatestVersion != "" {
			t.Errorf("after deleting every version: latest %q/%q, want none", after.LatestVersionID, after.LatestVersion)
		}
		must(t, st.DeleteSkill(ctx, s.ID))
		_, err = st.GetSkill(ctx, s.ID)
		wantKind(t, "GetSkill(deleted)", err, hangar.KindNotFound)
		wantKind(t, "DeleteSkill(missing)", st.DeleteSkill(ctx, s.ID), hangar.KindNotFound)
	})
}
