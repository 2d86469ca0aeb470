package e2b_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
)

// E2B's template build API (build system v2), as its OpenAPI spec documents it: POST
// /v3/templates {name} creates the template (or a new build of an existing one) and
// returns {templateID, buildID}; POST /v2/templates/{id}/builds/{build} {fromTemplate |
// fromImage, steps: [{type, args, force}]} starts the build; GET
// /templates/{id}/builds/{build}/status?logsOffset=n returns {status, logEntries,
// reason}; GET /templates/aliases/{name} and GET /templates/{id} (with its builds) find
// templates. The fake runs RUN steps (args: command, user) for real with sh -c in a box
// prepared by f.image (with f.path as PATH); a ready build's files are what sandboxes of
// the template start from.

var errNoTemplate = errors.New("no such template")

type fakeTemplate struct {
	id, name string
	builds   []*fakeBuild
}

type fakeBuild struct {
	id string

	mu     sync.Mutex
	status string // waiting, building, ready, error
	log    []string
	reason map[string]any
	root   string
}

func (b *fakeBuild) logf(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.log = append(b.log, fmt.Sprintf(format, args...))
}

func (b *fakeBuild) finish(status string, reason map[string]any, root string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.status, b.reason, b.root = status, reason, root
}

// readyRoot is the files of the template's latest ready build ("" when none).
func (t *fakeTemplate) readyRoot() string {
	for i := len(t.builds) - 1; i >= 0; i-- {
		b := t.builds[i]
		b.mu.Lock()
		root := b.root
		b.mu.Unlock()
		if root != "" {
			return root
		}
	}
	return ""
}

// templateBox makes the files of a new sandbox of template id: a copy of a built
// template's, or an empty box for the stock templates.
func (f *fakeE2B) templateBox(id any) (*cloudtest.Box, error) {
	name, _ := id.(string)
	f.mu.Lock()
	t := f.templates[name]
	f.mu.Unlock()
	if t != nil {
		root := t.readyRoot()
		if root == "" {
			return nil, errNoTemplate
		}
		return cloudtest.NewBoxFrom(f.dir, root)
	}
	if strings.HasPrefix(name, "hangar-env-") {
		return nil, errNoTemplate
	}
	return cloudtest.NewBox(f.dir)
}

// serveTemplates serves the template routes, reporting whether r was one.
func (f *fakeE2B) serveTemplates(w http.ResponseWriter, r *http.Request, parts []string) bool {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/templates":
		f.mu.Lock()
		list := []map[string]any{}
		for key, t := range f.templates {
			if key == t.id {
				list = append(list, map[string]any{"templateID": t.id, "public": false, "names": []string{t.name}, "aliases": []string{t.name}})
			}
		}
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, list)
	case r.Method == http.MethodDelete && len(parts) == 2 && parts[0] == "templates":
		f.mu.Lock()
		t := f.templates[parts[1]]
		if t != nil && t.id == parts[1] {
			delete(f.templates, t.id)
			delete(f.templates, t.name)
		}
		f.mu.Unlock()
		if t == nil || t.id != parts[1] {
			apiError(w, http.StatusNotFound, fmt.Sprintf("template '%s' not found", parts[1]))
			return true
		}
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost && r.URL.Path == "/v3/templates":
		var req struct {
			Name string `json:"name"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Name == "" {
			apiError(w, http.StatusBadRequest, "name is required")
			return true
		}
		f.mu.Lock()
		t := f.templates[req.Name]
		if t == nil {
			t = &fakeTemplate{id: randHex(10), name: req.Name}
			f.templates[t.id], f.templates[t.name] = t, t
		}
		b := &fakeBuild{id: randHex(4) + "-" + randHex(4), status: "waiting"}
		t.builds = append(t.builds, b)
		f.mu.Unlock()
		writeJSON(w, http.StatusAccepted, map[string]any{"templateID": t.id, "buildID": b.id, "public": false,
			"names": []string{t.name}, "aliases": []string{t.name}, "tags": []string{"default"}})
	case r.Method == http.MethodGet && len(parts) == 3 && parts[0] == "templates" && parts[1] == "aliases":
		f.mu.Lock()
		t := f.templates[parts[2]]
		f.mu.Unlock()
		if t == nil || t.name != parts[2] {
			apiError(w, http.StatusNotFound, fmt.Sprintf("template alias '%s' not found", parts[2]))
			return true
		}
		writeJSON(w, http.StatusOK, map[string]any{"templateID": t.id, "public": false})
	case r.Method == http.MethodGet && len(parts) == 2 && parts[0] == "templates":
		f.mu.Lock()
		t := f.templates[parts[1]]
		f.mu.Unlock()
		if t == nil {
			apiError(w, http.StatusNotFound, fmt.Sprintf("template '%s' not found", parts[1]))
			return true
		}
		builds := []map[string]any{}
		for _, b := range t.builds {
			b.mu.Lock()
			now := time.Now().UTC().Format(time.RFC3339)
			builds = append(builds, map[string]any{"buildID": b.id, "status": b.status, "createdAt": now, "updatedAt": now,
				"cpuCount": 2, "memoryMB": 1024})
			b.mu.Unlock()
		}
		writeJSON(w, http.StatusOK, map[string]any{"templateID": t.id, "public": false, "names": []string{t.name},
			"aliases": []string{t.name}, "builds": builds})
	case r.Method == http.MethodPost && len(parts) == 5 && parts[0] == "v2" && parts[1] == "templates" && parts[3] == "builds":
		b := f.build(parts[2], parts[4])
		if b == nil {
			apiError(w, http.StatusNotFound, "build not found")
			return true
		}
		var req struct {
			FromTemplate string `json:"fromTemplate"`
			FromImage    string `json:"fromImage"`
			Steps        []struct {
				Type string   `json:"type"`
				Args []string `json:"args"`
			} `json:"steps"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || (req.FromTemplate == "") == (req.FromImage == "") {
			apiError(w, http.StatusBadRequest, "one of fromTemplate or fromImage is required")
			return true
		}
		var runs []string
		for _, s := range req.Steps {
			if s.Type != "RUN" || len(s.Args) == 0 {
				apiError(w, http.StatusBadRequest, "the fake runs RUN steps only")
				return true
			}
			runs = append(runs, s.Args[0])
		}
		b.finish("building", nil, "")
		go f.runBuild(b, runs)
		writeJSON(w, http.StatusAccepted, map[string]any{})
	case r.Method == http.MethodGet && len(parts) == 5 && parts[0] == "templates" && parts[2] == "builds" && parts[4] == "status":
		b := f.build(parts[1], parts[3])
		if b == nil {
			apiError(w, http.StatusNotFound, "build not found")
			return true
		}
		offset, _ := strconv.Atoi(r.URL.Query().Get("logsOffset"))
		b.mu.Lock()
		entries := []map[string]any{}
		for i := offset; i < len(b.log); i++ {
			entries = append(entries, map[string]any{"timestamp": time.Now().UTC().Format(time.RFC3339Nano), "level": "info", "message": b.log[i]})
		}
		resp := map[string]any{"templateID": parts[1], "buildID": b.id, "status": b.status, "logs": []string{}, "logEntries": entries}
		if b.reason != nil {
			resp["reason"] = b.reason
		}
		b.mu.Unlock()
		writeJSON(w, http.StatusOK, resp)
	default:
		return false
	}
	return true
}

func (f *fakeE2B) build(templateID, buildID string) *fakeBuild {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.templates[templateID]; t != nil && t.id == templateID {
		for _, b := range t.builds {
			if b.id == buildID {
				return b
			}
		}
	}
	return nil
}

func (f *fakeE2B) runBuild(b *fakeBuild, runs []string) {
	box, err := cloudtest.NewBox(f.dir)
	if err == nil && f.image != nil {
		err = f.image(box)
	}
	if err != nil {
		b.finish("error", map[string]any{"message": err.Error()}, "")
		return
	}
	defer box.Remove()
	env := map[string]string{}
	if f.path != "" {
		env["PATH"] = f.path
	}
	for i, run := range runs {
		b.logf("[builder %d/%d] RUN %s", i+1, len(runs), run)
		cmd, err := box.StartShell(run, env)
		if err != nil {
			b.finish("error", map[string]any{"message": err.Error(), "step": strconv.Itoa(i + 1)}, "")
			return
		}
		cmd.Stdin.Close()
		var wg sync.WaitGroup
		for _, r := range []io.Reader{cmd.Stdout, cmd.Stderr} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sc := bufio.NewScanner(r)
				for sc.Scan() {
					b.logf("%s", sc.Text())
				}
			}()
		}
		wg.Wait()
		if code := cmd.ExitCode(); code != 0 {
			b.finish("error", map[string]any{"message": fmt.Sprintf("command failed: exit status %d", code), "step": strconv.Itoa(i + 1)}, "")
			return
		}
	}
	root, err := cloudtest.SnapshotDir(f.dir)
	if err == nil {
		err = cloudtest.CopyRoot(root, box.Root)
	}
	if err != nil {
		b.finish("error", map[string]any{"message": err.Error()}, "")
		return
	}
	b.finish("ready", nil, root)
}

// withStubs makes the fake's base template carry the stub package managers.
func (f *fakeE2B) withStubs() *fakeE2B {
	f.image = cloudtest.InstallStubs
	f.path = cloudtest.StubPath
	return f
}

// dropTemplate deletes a template behind the provider's back.
func (f *fakeE2B) dropTemplate(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.templates[name]; t != nil {
		delete(f.templates, t.id)
		delete(f.templates, t.name)
	}
}
