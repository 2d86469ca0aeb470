package daytona_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
)

// Daytona's snapshot API, as its OpenAPI spec documents it: POST /snapshots with a name
// and either imageName or buildInfo.dockerfileContent (a declarative build); GET
// /snapshots/{id or name}; GET /snapshots/{id}/build-logs (follow=true streams until the
// build ends); DELETE /snapshots/{id}. The fake builds a Dockerfile for real: FROM is a
// new box prepared by f.image, each RUN line runs with sh -c in it (with f.path as PATH),
// and the box's files become the snapshot that sandboxes created with {snapshot: name}
// start from. States go pending → building → active, or build_failed with errorReason.

type fakeSnapshot struct {
	id, name, image string
	dockerfile      string

	mu      sync.Mutex
	state   string
	reason  string
	root    string // the snapshot's files once active
	log     []byte
	changed chan struct{}
}

func (s *fakeSnapshot) json() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var reason any
	if s.reason != "" {
		reason = s.reason
	}
	m := map[string]any{"id": s.id, "name": s.name, "state": s.state, "errorReason": reason, "general": false,
		"imageName": s.image, "cpu": 1, "gpu": 0, "mem": 1, "disk": 3, "size": nil, "entrypoint": nil}
	if s.dockerfile != "" {
		m["buildInfo"] = map[string]any{"dockerfileContent": s.dockerfile, "contextHashes": []string{}}
	}
	return m
}

func (s *fakeSnapshot) logf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, fmt.Sprintf(format, args...)...)
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *fakeSnapshot) finish(state, reason, root string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state, s.reason, s.root = state, reason, root
	close(s.changed)
	s.changed = make(chan struct{})
}

func (f *fakeDaytona) serveSnapshots(w http.ResponseWriter, r *http.Request, parts []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case len(parts) == 0 && r.Method == http.MethodGet:
		// One page: the fake never holds more than a test's few snapshots.
		items := []map[string]any{}
		for key, snap := range f.snapshots {
			if key == snap.id {
				items = append(items, snap.json())
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items), "page": 1, "totalPages": 1})
	case len(parts) == 0 && r.Method == http.MethodPost:
		var req struct {
			Name      string `json:"name"`
			ImageName string `json:"imageName"`
			BuildInfo *struct {
				DockerfileContent string   `json:"dockerfileContent"`
				ContextHashes     []string `json:"contextHashes"`
			} `json:"buildInfo"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Name == "" || (req.ImageName == "") == (req.BuildInfo == nil) {
			apiError(w, http.StatusBadRequest, "name and one of imageName or buildInfo are required")
			return
		}
		if f.snapshots[req.Name] != nil {
			apiError(w, http.StatusConflict, "Snapshot with name "+req.Name+" already exists")
			return
		}
		snap := &fakeSnapshot{id: randHex(8) + "-" + randHex(4), name: req.Name, image: req.ImageName, state: "pending", changed: make(chan struct{})}
		if req.BuildInfo != nil {
			snap.dockerfile = req.BuildInfo.DockerfileContent
			snap.image = "daytona-builds/" + snap.id
		}
		f.snapshots[snap.name], f.snapshots[snap.id] = snap, snap
		go f.build(snap)
		writeJSON(w, http.StatusOK, snap.json())
	case len(parts) == 1 && r.Method == http.MethodGet:
		snap := f.snapshots[parts[0]]
		if snap == nil {
			apiError(w, http.StatusNotFound, "Snapshot "+parts[0]+" not found")
			return
		}
		writeJSON(w, http.StatusOK, snap.json())
	case len(parts) == 1 && r.Method == http.MethodDelete:
		snap := f.snapshots[parts[0]]
		if snap == nil || parts[0] != snap.id {
			apiError(w, http.StatusNotFound, "Snapshot "+parts[0]+" not found")
			return
		}
		delete(f.snapshots, snap.id)
		delete(f.snapshots, snap.name)
		w.WriteHeader(http.StatusOK)
	case len(parts) == 2 && parts[1] == "build-logs" && r.Method == http.MethodGet:
		snap := f.snapshots[parts[0]]
		if snap == nil || parts[0] != snap.id {
			apiError(w, http.StatusNotFound, "Snapshot "+parts[0]+" not found")
			return
		}
		f.mu.Unlock()
		snap.streamLog(w, r)
		f.mu.Lock()
	default:
		apiError(w, http.StatusNotFound, "Cannot "+r.Method+" "+r.URL.Path)
	}
}

// streamLog writes the build log as plain text: what there is, or (follow=true) all of
// it until the build ended.
func (s *fakeSnapshot) streamLog(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	fl := w.(http.Flusher)
	sent := 0
	for {
		s.mu.Lock()
		chunk, ch := s.log[sent:], s.changed
		ended := s.state != "pending" && s.state != "building"
		s.mu.Unlock()
		w.Write(chunk)
		fl.Flush()
		sent += len(chunk)
		if ended || r.URL.Query().Get("follow") != "true" {
			return
		}
		select {
		case <-ch:
		case <-r.Context().Done():
			return
		}
	}
}

// build runs the snapshot's Dockerfile (or just takes its image) in a new box.
func (f *fakeDaytona) build(snap *fakeSnapshot) {
	box, err := cloudtest.NewBox(f.dir)
	if err == nil && f.image != nil {
		err = f.image(box)
	}
	if err != nil {
		snap.finish("error", err.Error(), "")
		return
	}
	defer box.Remove()
	snap.finish("building", "", "")
	var runs []string
	sc := bufio.NewScanner(strings.NewReader(snap.dockerfile))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		instr, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(instr) {
		case "", "FROM", "USER":
		case "RUN":
			runs = append(runs, arg)
		default:
			snap.finish("build_failed", "the fake builds FROM, USER and RUN only, not "+instr, "")
			return
		}
	}
	for i, run := range runs {
		snap.logf("#%d [%d/%d] RUN %s\n", i+1, i+1, len(runs), run)
		env := map[string]string{}
		if f.path != "" {
			env["PATH"] = f.path
		}
		cmd, err := box.StartShell(run, env)
		if err != nil {
			snap.finish("build_failed", err.Error(), "")
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
					snap.logf("#%d %s\n", i+1, sc.Text())
				}
			}()
		}
		wg.Wait()
		if code := cmd.ExitCode(); code != 0 {
			snap.logf("#%d ERROR: process \"/bin/sh -c %s\" did not complete successfully: exit code: %d\n", i+1, run, code)
			snap.finish("build_failed", fmt.Sprintf("The command '/bin/sh -c %s' returned a non-zero code: %d", run, code), "")
			return
		}
	}
	root, err := cloudtest.SnapshotDir(f.dir)
	if err == nil {
		err = cloudtest.CopyRoot(root, box.Root)
	}
	if err != nil {
		os.RemoveAll(root)
		snap.finish("error", err.Error(), "")
		return
	}
	snap.finish("active", "", root)
}

// withStubs makes the fake's build image carry the stub package managers.
func (f *fakeDaytona) withStubs() *fakeDaytona {
	f.image = cloudtest.InstallStubs
	f.path = cloudtest.StubPath
	return f
}

// dropSnapshot deletes a snapshot behind the provider's back.
func (f *fakeDaytona) dropSnapshot(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if snap := f.snapshots[name]; snap != nil {
		delete(f.snapshots, snap.id)
		delete(f.snapshots, snap.name)
	}
}
