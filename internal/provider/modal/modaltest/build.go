package modaltest

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
	"github.com/hangar-dev/hangar/internal/provider/modal/modalpb"
)

// Images built from Dockerfile commands, as Modal's ImageGetOrCreate takes them: "FROM
// tag" then RUN lines. Images are content-addressed (the same commands are the same
// image; a failed one is built again when asked again). The build runs in the background
// for real: a box prepared by ImageSetup, each RUN line run with sh -c in it (PATH
// ImagePath); its output becomes task logs that ImageJoinStreaming streams from
// last_entry_id (the entry ID is the number of log entries sent), then the result.
// Sandboxes of a built image start from a copy of its files.

type imageBuild struct {
	mu      sync.Mutex
	logs    []string
	result  *modalpb.GenericResult // nil while building
	root    string
	changed chan struct{}
}

func (b *imageBuild) log(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.logs = append(b.logs, line)
	close(b.changed)
	b.changed = make(chan struct{})
}

func (b *imageBuild) finish(st modalpb.GenericResult_GenericStatus, exception, root string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.result = &modalpb.GenericResult{Status: st, Exception: exception}
	b.root = root
	close(b.changed)
	b.changed = make(chan struct{})
}

// buildImage is ImageGetOrCreate for commands with RUN lines.
func (s *Server) buildImage(appID string, cmds []string) (*modalpb.ImageGetOrCreateResponse, error) {
	if !strings.HasPrefix(cmds[0], "FROM ") {
		return nil, status.Errorf(codes.InvalidArgument, "the first Dockerfile command must be FROM, got %q", cmds[0])
	}
	var runs []string
	for _, c := range cmds[1:] {
		run, ok := strings.CutPrefix(c, "RUN ")
		if !ok {
			return nil, status.Errorf(codes.InvalidArgument, "the fake builds FROM and RUN commands only, got %q", c)
		}
		runs = append(runs, run)
	}
	key := strings.Join(cmds, "\n")
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.appKnown(appID) {
		return nil, errNotFound("app", appID)
	}
	for id, im := range s.images {
		if im.tag != key || im.build == nil {
			continue
		}
		im.build.mu.Lock()
		result := im.build.result
		im.build.mu.Unlock()
		if result == nil || result.Status == modalpb.GenericResult_GENERIC_STATUS_SUCCESS {
			return &modalpb.ImageGetOrCreateResponse{ImageId: id, Result: result}, nil
		}
		delete(s.images, id) // failed: build it again
	}
	id := s.nextID("im")
	b := &imageBuild{changed: make(chan struct{})}
	s.images[id] = &image{tag: key, build: b}
	go s.runBuild(id, b, runs)
	return &modalpb.ImageGetOrCreateResponse{ImageId: id}, nil
}

func (s *Server) runBuild(id string, b *imageBuild, runs []string) {
	fail := func(err error) { b.finish(modalpb.GenericResult_GENERIC_STATUS_INTERNAL_FAILURE, err.Error(), "") }
	box, err := cloudtest.NewBox(s.dir)
	if err == nil && s.ImageSetup != nil {
		err = s.ImageSetup(box)
	}
	if err != nil {
		fail(err)
		return
	}
	defer box.Remove()
	env := map[string]string{}
	if s.ImagePath != "" {
		env["PATH"] = s.ImagePath
	}
	for i, run := range runs {
		b.log(fmt.Sprintf("Step %d/%d: RUN %s\n", i+1, len(runs), run))
		cmd, err := box.StartShell(run, env)
		if err != nil {
			fail(err)
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
					b.log(sc.Text() + "\n")
				}
			}()
		}
		wg.Wait()
		if code := cmd.ExitCode(); code != 0 {
			b.finish(modalpb.GenericResult_GENERIC_STATUS_FAILURE,
				fmt.Sprintf("Image build for %s failed with the exception:\ntask exited with failure, status = exit status: %d", id, code), "")
			return
		}
	}
	root, err := cloudtest.SnapshotDir(s.dir)
	if err == nil {
		err = cloudtest.CopyRoot(root, box.Root)
	}
	if err != nil {
		fail(err)
		return
	}
	s.mu.Lock()
	if im := s.images[id]; im != nil {
		im.built = true
	}
	s.mu.Unlock()
	b.finish(modalpb.GenericResult_GENERIC_STATUS_SUCCESS, "", root)
}

// joinBuild streams the build's task logs after req.LastEntryId, then its result, or
// ends the stream when the long poll's window passes.
func (s *Server) joinBuild(b *imageBuild, req *modalpb.ImageJoinStreamingRequest, stream modalpb.ModalClient_ImageJoinStreamingServer) error {
	sent, _ := strconv.Atoi(req.LastEntryId)
	deadline := time.After(s.window(req.Timeout))
	for {
		b.mu.Lock()
		logs, result, ch := b.logs[min(sent, len(b.logs)):], b.result, b.changed
		b.mu.Unlock()
		if len(logs) > 0 {
			m := &modalpb.ImageJoinStreamingResponse{EntryId: strconv.Itoa(sent + len(logs))}
			for _, l := range logs {
				m.TaskLogs = append(m.TaskLogs, &modalpb.TaskLogs{Data: l, FileDescriptor: modalpb.FileDescriptor_FILE_DESCRIPTOR_STDOUT})
			}
			if err := stream.Send(m); err != nil {
				return err
			}
			sent += len(logs)
		}
		if result != nil {
			return stream.Send(&modalpb.ImageJoinStreamingResponse{Result: result, EntryId: strconv.Itoa(sent), Eof: true})
		}
		select {
		case <-ch:
		case <-deadline:
			return nil
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

// newBox makes the files of a new sandbox of the image: a copy of a built image's, else
// an empty box; with ImageBinds bound.
func (s *Server) newBox(imageID string) (*cloudtest.Box, error) {
	box, err := s.imageBox(imageID)
	if err == nil && len(s.ImageBinds) > 0 {
		box.Binds = s.ImageBinds
	}
	return box, err
}

func (s *Server) imageBox(imageID string) (*cloudtest.Box, error) {
	s.mu.Lock()
	im := s.images[imageID]
	s.mu.Unlock()
	if im != nil && im.build != nil {
		im.build.mu.Lock()
		root := im.build.root
		im.build.mu.Unlock()
		if root != "" {
			return cloudtest.NewBoxFrom(s.dir, root)
		}
	}
	return cloudtest.NewBox(s.dir)
}

// ForgetImages drops every built image, as if Modal had lost them.
func (s *Server) ForgetImages() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, im := range s.images {
		if im.build != nil {
			delete(s.images, id)
		}
	}
}
