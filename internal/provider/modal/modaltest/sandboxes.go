package modaltest

import (
	"context"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
	"github.com/hangar-dev/hangar/internal/provider/modal/modalpb"
)

func (s *Server) ClientHello(ctx context.Context, _ *emptypb.Empty) (*modalpb.ClientHelloResponse, error) {
	return &modalpb.ClientHelloResponse{}, nil
}

func (s *Server) AppGetOrCreate(ctx context.Context, req *modalpb.AppGetOrCreateRequest) (*modalpb.AppGetOrCreateResponse, error) {
	if req.AppName == "" {
		return nil, status.Error(codes.InvalidArgument, "app name is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := req.EnvironmentName + "/" + req.AppName
	id, ok := s.apps[key]
	if !ok {
		if req.ObjectCreationType != modalpb.ObjectCreationType_OBJECT_CREATION_TYPE_CREATE_IF_MISSING {
			return nil, status.Errorf(codes.NotFound, "app %s not found", req.AppName)
		}
		id = s.nextID("ap")
		s.apps[key] = id
	}
	return &modalpb.AppGetOrCreateResponse{AppId: id}, nil
}

func (s *Server) appKnown(id string) bool {
	for _, a := range s.apps {
		if a == id {
			return true
		}
	}
	return false
}

// ImageGetOrCreate takes a registry image ("FROM tag", the only Dockerfile command the
// fake builds). The first request of a tag leaves the build pending, as Modal does for an
// image it has not built yet, so clients must join its build with ImageJoinStreaming.
func (s *Server) ImageGetOrCreate(ctx context.Context, req *modalpb.ImageGetOrCreateRequest) (*modalpb.ImageGetOrCreateResponse, error) {
	cmds := req.GetImage().GetDockerfileCommands()
	if len(cmds) > 1 {
		return s.buildImage(req.AppId, cmds)
	}
	if len(cmds) != 1 || !strings.HasPrefix(cmds[0], "FROM ") || strings.TrimSpace(cmds[0][5:]) == "" {
		return nil, status.Errorf(codes.InvalidArgument, "the fake builds only registry images (one FROM command), got %q", cmds)
	}
	tag := strings.TrimSpace(cmds[0][5:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.appKnown(req.AppId) {
		return nil, errNotFound("app", req.AppId)
	}
	for id, im := range s.images {
		if im.tag == tag {
			resp := &modalpb.ImageGetOrCreateResponse{ImageId: id}
			if im.built {
				resp.Result = success()
			}
			return resp, nil
		}
	}
	id := s.nextID("im")
	s.images[id] = &image{tag: tag}
	return &modalpb.ImageGetOrCreateResponse{ImageId: id}, nil
}

// ImageJoinStreaming "builds" the image (there is nothing to pull) and streams its
// result.
func (s *Server) ImageJoinStreaming(req *modalpb.ImageJoinStreamingRequest, stream modalpb.ModalClient_ImageJoinStreamingServer) error {
	s.mu.Lock()
	im, ok := s.images[req.ImageId]
	if ok && im.build != nil {
		s.mu.Unlock()
		return s.joinBuild(im.build, req, stream)
	}
	if ok {
		im.built = true
	}
	s.mu.Unlock()
	if !ok {
		return errNotFound("image", req.ImageId)
	}
	return stream.Send(&modalpb.ImageJoinStreamingResponse{Result: success(), EntryId: "1", Eof: true})
}

func success() *modalpb.GenericResult {
	return &modalpb.GenericResult{Status: modalpb.GenericResult_GENERIC_STATUS_SUCCESS}
}

// SandboxCreate starts the sandbox's entrypoint in a new box.
func (s *Server) SandboxCreate(ctx context.Context, req *modalpb.SandboxCreateRequest) (*modalpb.SandboxCreateResponse, error) {
	def := req.GetDefinition()
	if def == nil || len(def.EntrypointArgs) == 0 {
		return nil, status.Error(codes.InvalidArgument, "the fake needs an entrypoint")
	}
	if def.BlockNetwork && def.NetworkAccess != nil {
		return nil, status.Error(codes.InvalidArgument, "block_network and network_access are exclusive")
	}
	if na := def.NetworkAccess; na != nil && na.NetworkAccessType == modalpb.NetworkAccess_ALLOWLIST {
		for _, c := range na.AllowedCidrs {
			if !strings.Contains(c, "/") {
				return nil, status.Errorf(codes.InvalidArgument, "allowed CIDR %q is not a CIDR", c)
			}
		}
	}
	s.mu.Lock()
	if !s.appKnown(req.AppId) {
		s.mu.Unlock()
		return nil, errNotFound("app", req.AppId)
	}
	if im, ok := s.images[def.ImageId]; !ok || !im.built {
		s.mu.Unlock()
		return nil, status.Errorf(codes.FailedPrecondition, "image %q is not built", def.ImageId)
	}
	s.created = append(s.created, proto.Clone(req).(*modalpb.SandboxCreateRequest))
	sb := &sandbox{id: s.nextID("sb"), taskID: s.nextID("ta"), appID: req.AppId, env: req.EnvironmentName,
		created: now(), tags: map[string]string{}, done: make(chan struct{})}
	s.mu.Unlock()
	box, err := s.newBox(def.ImageId)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "new box: %v", err)
	}
	entry, err := box.StartIn(def.EntrypointArgs, "/", nil)
	if err != nil {
		box.Remove()
		return nil, status.Errorf(codes.InvalidArgument, "entrypoint: %v", err)
	}
	entry.Stdin.Close()
	go drain(entry)
	sb.box, sb.entry = box, entry
	s.mu.Lock()
	s.sandboxes[sb.id] = sb
	s.tasks[sb.taskID] = sb
	s.mu.Unlock()
	// The sandbox ends with its entrypoint (or at Terminate).
	go func() {
		code := entry.ExitCode()
		st := modalpb.GenericResult_GENERIC_STATUS_SUCCESS
		if code != 0 {
			st = modalpb.GenericResult_GENERIC_STATUS_FAILURE
		}
		s.end(sb, st)
	}()
	return &modalpb.SandboxCreateResponse{SandboxId: sb.id}, nil
}

// end records the sandbox's result (once), kills its processes and removes its files.
func (s *Server) end(sb *sandbox, st modalpb.GenericResult_GenericStatus) {
	s.mu.Lock()
	if sb.result != nil {
		s.mu.Unlock()
		return
	}
	sb.result = &modalpb.GenericResult{Status: st}
	if st == modalpb.GenericResult_GENERIC_STATUS_TERMINATED {
		sb.result.Exception = "Sandbox terminated"
	}
	sb.finished = now()
	delete(s.tasks, sb.taskID)
	close(sb.done)
	s.mu.Unlock()
	sb.box.Remove()
}

func (s *Server) sandbox(id string) (*sandbox, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb, ok := s.sandboxes[id]
	if !ok {
		return nil, errNotFound("sandbox", id)
	}
	return sb, nil
}

func (s *Server) SandboxGetTaskId(ctx context.Context, req *modalpb.SandboxGetTaskIdRequest) (*modalpb.SandboxGetTaskIdResponse, error) {
	sb, err := s.sandbox(req.SandboxId)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sb.result != nil {
		return &modalpb.SandboxGetTaskIdResponse{TaskResult: proto.Clone(sb.result).(*modalpb.GenericResult)}, nil
	}
	// The fake's task starts with SandboxCreate: it is ready at once.
	return &modalpb.SandboxGetTaskIdResponse{TaskId: &sb.taskID}, nil
}

func (s *Server) SandboxTagsSet(ctx context.Context, req *modalpb.SandboxTagsSetRequest) (*emptypb.Empty, error) {
	sb, err := s.sandbox(req.SandboxId)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range req.Tags {
		if t.TagName == "" {
			return nil, status.Error(codes.InvalidArgument, "empty tag name")
		}
		sb.tags[t.TagName] = t.TagValue
	}
	return &emptypb.Empty{}, nil
}

// sandboxPage is how many sandboxes one SandboxList answer holds at most.
const sandboxPage = 100

// SandboxList lists an app's sandboxes, newest first, created before before_timestamp
// when set, with all the given tags.
func (s *Server) SandboxList(ctx context.Context, req *modalpb.SandboxListRequest) (*modalpb.SandboxListResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*modalpb.SandboxInfo
	for _, sb := range s.sandboxes {
		if req.AppId != "" && sb.appID != req.AppId || sb.env != req.EnvironmentName ||
			!req.IncludeFinished && sb.result != nil || req.BeforeTimestamp != 0 && sb.created >= req.BeforeTimestamp {
			continue
		}
		match := true
		for _, t := range req.Tags {
			if sb.tags[t.TagName] != t.TagValue {
				match = false
			}
		}
		if !match {
			continue
		}
		ti := &modalpb.TaskInfo{Id: sb.taskID, StartedAt: sb.created, FinishedAt: sb.finished}
		if sb.result != nil {
			ti.Result = proto.Clone(sb.result).(*modalpb.GenericResult)
		}
		out = append(out, &modalpb.SandboxInfo{Id: sb.id, CreatedAt: sb.created, TaskInfo: ti, AppId: sb.appID})
	}
	for i := 1; i < len(out); i++ { // newest first
		for j := i; j > 0 && out[j].CreatedAt > out[j-1].CreatedAt; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	if len(out) > sandboxPage {
		out = out[:sandboxPage]
	}
	return &modalpb.SandboxListResponse{Sandboxes: out}, nil
}

func (s *Server) SandboxTerminate(ctx context.Context, req *modalpb.SandboxTerminateRequest) (*modalpb.SandboxTerminateResponse, error) {
	sb, err := s.sandbox(req.SandboxId)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	existing := sb.result
	s.mu.Unlock()
	if existing != nil {
		return &modalpb.SandboxTerminateResponse{ExistingResult: proto.Clone(existing).(*modalpb.GenericResult)}, nil
	}
	s.end(sb, modalpb.GenericResult_GENERIC_STATUS_TERMINATED)
	return &modalpb.SandboxTerminateResponse{}, nil
}

// SandboxWait waits for the sandbox to end, up to the request's timeout (none: answer
// at once); the result is unset when it is still running.
func (s *Server) SandboxWait(ctx context.Context, req *modalpb.SandboxWaitRequest) (*modalpb.SandboxWaitResponse, error) {
	sb, err := s.sandbox(req.SandboxId)
	if err != nil {
		return nil, err
	}
	t := time.NewTimer(time.Duration(float64(req.Timeout) * float64(time.Second)))
	defer t.Stop()
	select {
	case <-sb.done:
	case <-t.C:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sb.result == nil {
		return &modalpb.SandboxWaitResponse{}, nil
	}
	return &modalpb.SandboxWaitResponse{Result: proto.Clone(sb.result).(*modalpb.GenericResult)}, nil
}

func drain(c *cloudtest.Cmd) {
	go io.Copy(io.Discard, c.Stderr)
	io.Copy(io.Discard, c.Stdout)
}
