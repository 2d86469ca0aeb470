package main

import (
	"archive/zip"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

const greetSkillMD = `---
name: greet
description: "Greets people in the house style. Use whenever asked to greet someone."
---
# Greeting
Always greet with the exact phrase AHOY-HANGAR-7731 followed by the person's name.
`

// skillZip returns a zip of files (path → content).
func skillZip(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func newSkill(t *testing.T, c anthropic.Client, title string, files ...io.Reader) *anthropic.BetaSkill {
	t.Helper()
	sk, err := c.Beta.Skills.New(testContext(t), anthropic.BetaSkillNewParams{DisplayName: anthropic.String(title), Files: files})
	if err != nil {
		t.Fatalf("create skill: %v", err)
	}
	return sk
}

// TestE2ESkills drives every method of client.Beta.Skills and Skills.Versions.
func TestE2ESkills(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)

	// A folder's files, with their relative paths as filenames.
	sk := newSkill(t, c, "Greeter",
		anthropic.File(strings.NewReader(greetSkillMD), "greet/SKILL.md", "text/markdown"),
		anthropic.File(strings.NewReader("print('hi')\n"), "greet/scripts/hi.py", "text/x-python"))
	if !strings.HasPrefix(sk.ID, "skill_") || sk.Type != "skill" || sk.DisplayName != "Greeter" || sk.Source.Type != "custom" ||
		!strings.HasPrefix(sk.LatestVersionID, "skillver_") || sk.CreatedAt.IsZero() || sk.UpdatedAt.IsZero() {
		t.Errorf("create = %s", sk.RawJSON())
	}

	got, err := c.Beta.Skills.Get(ctx, sk.ID, anthropic.BetaSkillGetParams{})
	if err != nil || got.ID != sk.ID || got.LatestVersionID != sk.LatestVersionID {
		t.Fatalf("get = %v, %v", got, err)
	}
	v1, err := c.Beta.Skills.Versions.Get(ctx, sk.LatestVersionID, anthropic.BetaSkillVersionGetParams{SkillID: sk.ID})
	if err != nil {
		t.Fatalf("get version: %v", err)
	}
	if v1.Type != "skill_version" || v1.SkillID != sk.ID || v1.Name != "greet" ||
		v1.Description != "Greets people in the house style. Use whenever asked to greet someone." {
		t.Errorf("version = %s", v1.RawJSON())
	}
	version := v1.JSON.ExtraFields["version"].Raw()
	byName, err := c.Beta.Skills.Versions.Get(ctx, strings.Trim(version, `"`), anthropic.BetaSkillVersionGetParams{SkillID: sk.ID})
	if err != nil || byName.ID != v1.ID {
		t.Errorf("get version by its version string %s = %v, %v", version, byName, err)
	}

	// A zip whose SKILL.md sits at the root, and a lone SKILL.md, both become folders
	// named after the skill.
	zipped := newSkill(t, c, "Zipped", anthropic.File(bytes.NewReader(skillZip(t, map[string]string{
		"SKILL.md": strings.Replace(greetSkillMD, "name: greet", "name: zipped", 1), "ref/notes.txt": "n",
	})), "zipped.zip", "application/zip"))
	lone := newSkill(t, c, "", anthropic.File(strings.NewReader(strings.Replace(greetSkillMD, "name: greet", "name: lone", 1)), "SKILL.md", "text/markdown"))
	if lone.DisplayName != "lone" {
		t.Errorf("display_name defaults to the skill name: %s", lone.RawJSON())
	}

	// New version, then list, download and delete.
	v2, err := c.Beta.Skills.Versions.New(ctx, sk.ID, anthropic.BetaSkillVersionNewParams{Files: []io.Reader{
		anthropic.File(strings.NewReader(strings.Replace(greetSkillMD, "7731", "8842", 1)), "greet/SKILL.md", "text/markdown"),
	}})
	if err != nil {
		t.Fatalf("new version: %v", err)
	}
	if after, _ := c.Beta.Skills.Get(ctx, sk.ID, anthropic.BetaSkillGetParams{}); after == nil || after.LatestVersionID != v2.ID {
		t.Errorf("latest_version_id after a new version = %v, want %s", after, v2.ID)
	}
	vs, err := c.Beta.Skills.Versions.List(ctx, sk.ID, anthropic.BetaSkillVersionListParams{})
	if err != nil || len(vs.Data) != 2 || vs.Data[0].ID != v2.ID || vs.Data[1].ID != v1.ID {
		t.Fatalf("list versions = %v, %v", vs, err)
	}
	resp, err := c.Beta.Skills.Versions.Download(ctx, v1.ID, anthropic.BetaSkillVersionDownloadParams{SkillID: sk.ID})
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil || resp.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("download is not a zip (%s): %v", resp.Header.Get("Content-Type"), err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "greet/SKILL.md,greet/scripts/hi.py" {
		t.Errorf("zip entries = %v", names)
	}

	// Paging: three skills, two per page, newest first.
	page, err := c.Beta.Skills.List(ctx, anthropic.BetaSkillListParams{Limit: anthropic.Int(2)})
	if err != nil || len(page.Data) != 2 || page.Data[0].ID != lone.ID || page.Data[1].ID != zipped.ID || page.NextPage == "" {
		t.Fatalf("list page 1 = %v, %v", page, err)
	}
	var all []string
	for it := c.Beta.Skills.ListAutoPaging(ctx, anthropic.BetaSkillListParams{Limit: anthropic.Int(2), Source: anthropic.String("custom")}); it.Next(); {
		all = append(all, it.Current().ID)
	}
	if len(all) != 3 || all[2] != sk.ID {
		t.Errorf("auto-paging = %v", all)
	}

	// Errors, in the API's envelope.
	for _, tc := range []struct {
		name  string
		files []io.Reader
	}{
		{"no frontmatter", []io.Reader{anthropic.File(strings.NewReader("# just text"), "x/SKILL.md", "text/markdown")}},
		{"bad name", []io.Reader{anthropic.File(strings.NewReader("---\nname: Bad Name\ndescription: d\n---\n"), "x/SKILL.md", "text/markdown")}},
		{"no SKILL.md", []io.Reader{anthropic.File(strings.NewReader("x"), "x/readme.txt", "text/plain")}},
		{"traversal", []io.Reader{anthropic.File(bytes.NewReader(skillZip(t, map[string]string{
			"x/SKILL.md": greetSkillMD, "x/../../etc/evil": "boom"})), "evil.zip", "application/zip")}},
		{"two folders", []io.Reader{
			anthropic.File(strings.NewReader(greetSkillMD), "a/SKILL.md", "text/markdown"),
			anthropic.File(strings.NewReader("x"), "b/x.txt", "text/plain")}},
	} {
		_, err := c.Beta.Skills.New(ctx, anthropic.BetaSkillNewParams{Files: tc.files})
		if e := wantStatus(t, err, http.StatusBadRequest, "invalid_request_error"); e == nil {
			t.Errorf("case %s: accepted", tc.name)
		}
	}
	_, err = c.Beta.Skills.Get(ctx, "skill_missing", anthropic.BetaSkillGetParams{})
	wantStatus(t, err, http.StatusNotFound, "not_found_error")
	_, err = c.Beta.Skills.Delete(ctx, sk.ID, anthropic.BetaSkillDeleteParams{})
	wantStatus(t, err, http.StatusConflict, "invalid_request_error")

	for _, v := range []string{v1.ID, v2.ID} {
		del, err := c.Beta.Skills.Versions.Delete(ctx, v, anthropic.BetaSkillVersionDeleteParams{SkillID: sk.ID})
		if err != nil || del.ID != v || del.Type != "skill_version_deleted" {
			t.Fatalf("delete version = %v, %v", del, err)
		}
	}
	_, err = c.Beta.Skills.Versions.Get(ctx, v1.ID, anthropic.BetaSkillVersionGetParams{SkillID: sk.ID})
	wantStatus(t, err, http.StatusNotFound, "not_found_error")
	del, err := c.Beta.Skills.Delete(ctx, sk.ID, anthropic.BetaSkillDeleteParams{})
	if err != nil || del.ID != sk.ID || del.Type != "skill_deleted" {
		t.Fatalf("delete = %v, %v", del, err)
	}
}

// TestE2ESkillsClaudeSession proves a skill changes what the real Claude Code CLI sees: the
// skill is installed in ~/.claude/skills/<name>/ of the session's sandbox (the agent reads
// its instruction back with the bash tool), and Claude Code discovered it by itself (the
// skill's description is in the model request it sends).
func TestE2ESkillsClaudeSession(t *testing.T) {
	t.Parallel()
	srv, fake := claudeServer(t)
	c := srv.Client
	sk := newSkill(t, c, "Greeter", anthropic.File(strings.NewReader(greetSkillMD), "greet/SKILL.md", "text/markdown"),
		anthropic.File(strings.NewReader("echo from-skill-script\n"), "greet/scripts/run.sh", "text/x-sh"))

	a, err := c.Beta.Agents.New(testContext(t), anthropic.BetaAgentNewParams{
		Name:  "greeter",
		Model: anthropic.BetaManagedAgentsModelConfigParams{ID: anthropic.BetaManagedAgentsModelClaudeSonnet4_6},
	}, option.WithJSONSet("tools", []map[string]any{{"type": "agent_toolset_20260401"}}),
		option.WithJSONSet("skills", []map[string]any{{"type": "custom", "skill_id": sk.ID}}))
	if err != nil {
		t.Fatalf("create agent: %v", err)
	}
	env := newEnvironment(t, c, "sandbox")
	sess := newSession(t, c, a.ID, env.ID)
	stream := openStream(t, testContext(t), c, sess.ID)

	send(t, c, sess.ID, userMessage("TOOL:bash cat ~/.claude/skills/greet/SKILL.md; sh ~/.claude/skills/greet/scripts/run.sh"))
	var result string
	for _, ev := range readUntil(t, stream, isIdle) {
		if ev.Type == "agent.tool_result" {
			result = ev.RawJSON()
		}
	}
	if !strings.Contains(result, "AHOY-HANGAR-7731") || !strings.Contains(result, "from-skill-script") {
		t.Fatalf("tool_result = %s; want the skill's instruction and its script's output", result)
	}
	discovered := false
	for _, r := range fake.MessageRequests() {
		if bytes.Contains(r.Body, []byte("Greets people in the house style")) {
			discovered = true
		}
	}
	if !discovered {
		t.Errorf("no model request mentions the skill's description: Claude Code did not discover ~/.claude/skills/greet")
	}
}

// TestE2EMemoryStores drives every method of client.Beta.MemoryStores, Memories and
// MemoryVersions.
func TestE2EMemoryStores(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)
	ms := c.Beta.MemoryStores

	store, err := ms.New(ctx, anthropic.BetaMemoryStoreNewParams{Name: "Team notes", Description: anthropic.String("what we learned"),
		Metadata: map[string]string{"team": "core"}})
	if err != nil {
		t.Fatalf("create store: %v", err)
	}
	if !strings.HasPrefix(store.ID, "memstore_") || store.Type != "memory_store" || store.Name != "Team notes" ||
		store.Description != "what we learned" || store.Metadata["team"] != "core" || !store.ArchivedAt.IsZero() {
		t.Errorf("create store = %s", store.RawJSON())
	}
	if got, err := ms.Get(ctx, store.ID, anthropic.BetaMemoryStoreGetParams{}); err != nil || got.ID != store.ID {
		t.Fatalf("get store = %v, %v", got, err)
	}
	upd, err := ms.Update(ctx, store.ID, anthropic.BetaMemoryStoreUpdateParams{Name: anthropic.String("Notes"), Metadata: map[string]string{"team": "", "x": "y"}})
	if err != nil || upd.Name != "Notes" || upd.Metadata["x"] != "y" || len(upd.Metadata) != 1 {
		t.Fatalf("update store = %v, %v", upd, err)
	}
	other, _ := ms.New(ctx, anthropic.BetaMemoryStoreNewParams{Name: "Scratch"})
	page, err := ms.List(ctx, anthropic.BetaMemoryStoreListParams{Limit: anthropic.Int(1)})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != other.ID || page.NextPage == "" {
		t.Fatalf("list stores = %v, %v", page, err)
	}

	mem := ms.Memories
	m, err := mem.New(ctx, store.ID, anthropic.BetaMemoryStoreMemoryNewParams{Path: "/prefs/editor.md", Content: anthropic.String("vim, always")})
	if err != nil {
		t.Fatalf("create memory: %v", err)
	}
	if !strings.HasPrefix(m.ID, "mem_") || m.Type != "memory" || m.Path != "/prefs/editor.md" || m.ContentSizeBytes != 11 ||
		len(m.ContentSha256) != 64 || m.JSON.Content.Raw() != "null" || !strings.HasPrefix(m.MemoryVersionID, "memver_") {
		t.Errorf("create memory (basic view) = %s", m.RawJSON())
	}
	_, err = mem.New(ctx, store.ID, anthropic.BetaMemoryStoreMemoryNewParams{Path: "/prefs", Content: anthropic.String("x")})
	if e := wantStatus(t, err, http.StatusConflict, "memory_path_conflict_error"); e == nil {
		t.Error("ancestor path accepted")
	}
	_, err = mem.New(ctx, store.ID, anthropic.BetaMemoryStoreMemoryNewParams{Path: "/a/../b", Content: anthropic.String("x")})
	wantStatus(t, err, http.StatusBadRequest, "invalid_request_error")
	mem.New(ctx, store.ID, anthropic.BetaMemoryStoreMemoryNewParams{Path: "/prefs/deep/theme.md", Content: anthropic.String("dark")})
	mem.New(ctx, store.ID, anthropic.BetaMemoryStoreMemoryNewParams{Path: "/todo.md", Content: anthropic.String("ship")})

	full, err := mem.Get(ctx, m.ID, anthropic.BetaMemoryStoreMemoryGetParams{MemoryStoreID: store.ID})
	if err != nil || full.Content != "vim, always" {
		t.Fatalf("get memory (full view) = %v, %v", full, err)
	}
	_, err = mem.Update(ctx, m.ID, anthropic.BetaMemoryStoreMemoryUpdateParams{MemoryStoreID: store.ID, Content: anthropic.String("emacs"),
		Precondition: anthropic.BetaManagedAgentsPreconditionParam{ContentSha256: anthropic.String(strings.Repeat("0", 64))}})
	wantStatus(t, err, http.StatusConflict, "memory_precondition_failed_error")
	mod, err := mem.Update(ctx, m.ID, anthropic.BetaMemoryStoreMemoryUpdateParams{MemoryStoreID: store.ID, Content: anthropic.String("emacs"),
		Precondition: anthropic.BetaManagedAgentsPreconditionParam{ContentSha256: anthropic.String(m.ContentSha256)}, View: "full"})
	if err != nil || mod.Content != "emacs" || mod.MemoryVersionID == m.MemoryVersionID {
		t.Fatalf("update memory = %v, %v", mod, err)
	}

	var items []string
	for it := mem.ListAutoPaging(ctx, store.ID, anthropic.BetaMemoryStoreMemoryListParams{PathPrefix: anthropic.String("/prefs/"), Depth: anthropic.Int(0)}); it.Next(); {
		items = append(items, it.Current().Type+":"+it.Current().Path)
	}
	if strings.Join(items, " ") != "memory:/prefs/editor.md memory_prefix:/prefs/deep/" {
		t.Errorf("list /prefs/ depth 0 = %v", items)
	}

	vers := ms.MemoryVersions
	vs, err := vers.List(ctx, store.ID, anthropic.BetaMemoryStoreMemoryVersionListParams{MemoryID: anthropic.String(m.ID)})
	if err != nil || len(vs.Data) != 2 || vs.Data[0].Operation != "modified" || vs.Data[1].Operation != "created" ||
		vs.Data[0].CreatedBy.Type != "api_actor" {
		t.Fatalf("list versions = %v, %v", vs, err)
	}
	v, err := vers.Get(ctx, vs.Data[1].ID, anthropic.BetaMemoryStoreMemoryVersionGetParams{MemoryStoreID: store.ID})
	if err != nil || v.Content != "vim, always" || v.Path != "/prefs/editor.md" || v.MemoryID != m.ID {
		t.Fatalf("get version = %v, %v", v, err)
	}
	red, err := vers.Redact(ctx, v.ID, anthropic.BetaMemoryStoreMemoryVersionRedactParams{MemoryStoreID: store.ID})
	if err != nil || red.RedactedAt.IsZero() || red.Content != "" || red.RedactedBy.Type != "api_actor" {
		t.Fatalf("redact = %v, %v", red, err)
	}

	_, err = mem.Delete(ctx, m.ID, anthropic.BetaMemoryStoreMemoryDeleteParams{MemoryStoreID: store.ID, ExpectedContentSha256: anthropic.String(m.ContentSha256)})
	wantStatus(t, err, http.StatusConflict, "memory_precondition_failed_error")
	del, err := mem.Delete(ctx, m.ID, anthropic.BetaMemoryStoreMemoryDeleteParams{MemoryStoreID: store.ID})
	if err != nil || del.ID != m.ID || del.Type != "memory_deleted" {
		t.Fatalf("delete memory = %v, %v", del, err)
	}
	deleted, _ := vers.List(ctx, store.ID, anthropic.BetaMemoryStoreMemoryVersionListParams{Operation: "deleted"})
	if deleted == nil || len(deleted.Data) != 1 || deleted.Data[0].MemoryID != m.ID {
		t.Errorf("deleted versions = %v", deleted)
	}

	arch, err := ms.Archive(ctx, other.ID, anthropic.BetaMemoryStoreArchiveParams{})
	if err != nil || arch.ArchivedAt.IsZero() {
		t.Fatalf("archive = %v, %v", arch, err)
	}
	dstore, err := ms.Delete(ctx, store.ID, anthropic.BetaMemoryStoreDeleteParams{})
	if err != nil || dstore.ID != store.ID || dstore.Type != "memory_store_deleted" {
		t.Fatalf("delete store = %v, %v", dstore, err)
	}
	_, err = mem.Get(ctx, mod.ID, anthropic.BetaMemoryStoreMemoryGetParams{MemoryStoreID: store.ID})
	wantStatus(t, err, http.StatusNotFound, "not_found_error")
}

// TestE2EMemoryClaudeSession mounts two memory stores into a session of the real Claude Code
// CLI: the agent reads a memory back from the read_write mount and writes a new one, which
// appears as a memory version made by the session; the read_only mount refuses writes and
// its store stays unchanged.
func TestE2EMemoryClaudeSession(t *testing.T) {
	t.Parallel()
	srv, fake := claudeServer(t)
	c := srv.Client
	ctx := testContext(t)
	ms := c.Beta.MemoryStores

	rw, err := ms.New(ctx, anthropic.BetaMemoryStoreNewParams{Name: "Project Notes"})
	if err != nil {
		t.Fatal(err)
	}
	ro, _ := ms.New(ctx, anthropic.BetaMemoryStoreNewParams{Name: "Policies"})
	if _, err := ms.Memories.New(ctx, rw.ID, anthropic.BetaMemoryStoreMemoryNewParams{Path: "/facts/launch.md", Content: anthropic.String("launch code ZEBRA-42\n")}); err != nil {
		t.Fatal(err)
	}
	old, _ := ms.Memories.New(ctx, rw.ID, anthropic.BetaMemoryStoreMemoryNewParams{Path: "/stale.md", Content: anthropic.String("old")})
	ms.Memories.New(ctx, ro.ID, anthropic.BetaMemoryStoreMemoryNewParams{Path: "/rules.md", Content: anthropic.String("be kind\n")})

	agent := claudeAgent(t, c)
	env := newEnvironment(t, c, "sandbox")
	sess, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agent.ID)},
		EnvironmentID: env.ID,
	}, option.WithJSONSet("resources", []map[string]any{
		{"type": "memory_store", "memory_store_id": rw.ID},
		{"type": "memory_store", "memory_store_id": ro.ID, "access": "read_only", "instructions": "company rules"},
	}))
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	var mounts []string
	for _, res := range sess.Resources {
		mounts = append(mounts, res.Type+":"+res.MountPath+":"+string(res.Access))
	}
	if strings.Join(mounts, " ") != "memory_store:/mnt/memory/project-notes:read_write memory_store:/mnt/memory/policies:read_only" {
		t.Errorf("session resources = %v", mounts)
	}

	stream := openStream(t, ctx, c, sess.ID)
	send(t, c, sess.ID, userMessage("TOOL:bash cat /mnt/memory/project-notes/facts/launch.md /mnt/memory/policies/rules.md; "+
		"mkdir -p /mnt/memory/project-notes/learned && echo user prefers tabs > /mnt/memory/project-notes/learned/style.md; "+
		"rm /mnt/memory/project-notes/stale.md; echo hacked > /mnt/memory/policies/rules.md; echo ro-exit=$?"))
	var result string
	for _, ev := range readUntil(t, stream, isIdle) {
		if ev.Type == "agent.tool_result" {
			result = ev.RawJSON()
		}
	}
	if !strings.Contains(result, "ZEBRA-42") || !strings.Contains(result, "be kind") || strings.Contains(result, "ro-exit=0") {
		t.Fatalf("tool_result = %s; want both memories read back and the read-only write refused", result)
	}

	// The model was told about the mounts, with the resource's instructions.
	reqs := fake.MessageRequests()
	if len(reqs) == 0 || !bytes.Contains(reqs[0].System, []byte("/mnt/memory/policies (read_only")) ||
		!bytes.Contains(reqs[0].System, []byte("company rules")) || !bytes.Contains(reqs[0].System, []byte("careful coding agent")) {
		t.Errorf("system prompt does not describe the memory mounts after the agent's own: %s", reqs[0].System)
	}

	// The turn's changes are memory versions made by the session.
	vs, err := ms.MemoryVersions.List(ctx, rw.ID, anthropic.BetaMemoryStoreMemoryVersionListParams{SessionID: anthropic.String(sess.ID), View: "full"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, v := range vs.Data {
		got[string(v.Operation)+" "+v.Path] = v.Content
		if v.CreatedBy.Type != "session_actor" || v.CreatedBy.SessionID != sess.ID {
			t.Errorf("created_by = %s", v.CreatedBy.RawJSON())
		}
	}
	if len(got) != 2 || got["created /learned/style.md"] != "user prefers tabs\n" {
		t.Errorf("session versions = %v; want the created /learned/style.md and the deleted /stale.md", got)
	}
	if _, ok := got["deleted /stale.md"]; !ok {
		t.Errorf("session versions = %v; want /stale.md deleted", got)
	}
	if _, err := ms.Memories.Get(ctx, old.ID, anthropic.BetaMemoryStoreMemoryGetParams{MemoryStoreID: rw.ID}); err == nil {
		t.Error("/stale.md still exists")
	}
	rules, _ := ms.Memories.List(ctx, ro.ID, anthropic.BetaMemoryStoreMemoryListParams{View: "full"})
	if rules == nil || len(rules.Data) != 1 || rules.Data[0].Content != "be kind\n" {
		t.Errorf("read-only store = %v; want it unchanged", rules)
	}

	// A memory written through the API between turns is in the sandbox for the next turn.
	ms.Memories.New(ctx, rw.ID, anthropic.BetaMemoryStoreMemoryNewParams{Path: "/facts/new.md", Content: anthropic.String("API-ADDED-77\n")})
	send(t, c, sess.ID, userMessage("TOOL:bash cat /mnt/memory/project-notes/facts/new.md /mnt/memory/project-notes/learned/style.md"))
	result = ""
	for _, ev := range readUntil(t, stream, isIdle) {
		if ev.Type == "agent.tool_result" {
			result = ev.RawJSON()
		}
	}
	if !strings.Contains(result, "API-ADDED-77") || !strings.Contains(result, "user prefers tabs") {
		t.Errorf("turn 2 tool_result = %s", result)
	}
}
