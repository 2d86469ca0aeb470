// Package modaltest is a fake of Modal's gRPC API (the RPCs of modalpb, which Hangar's
// modal provider calls), served on a loopback listener: it checks the auth metadata the
// way Modal does, and runs each sandbox as a cloudtest.Box, a host directory in which
// the sandbox's entrypoint and every exec'd command are real processes (bubblewrap makes
// the directory their /). Output and stdin flow through the same batched, indexed,
// long-polled messages as Modal's.
//
// What it does not do: pull images (a sandbox sees the host's /usr and /etc whatever its
// image), enforce resources or networking (it records them, see Created), or expire
// sandboxes at their timeout.
package modaltest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
	"github.com/hangar-dev/hangar/internal/provider/modal/modalpb"
)

// Server is the fake.
type Server struct {
	modalpb.UnimplementedModalClientServer

	TokenID, TokenSecret string
	// URL is where the fake listens (http://127.0.0.1:PORT), for Config.ServerURL or
	// HANGAR_MODAL_URL.
	URL string
	// MaxPoll, when set, cuts every long poll (output, exec wait) to at most this long,
	// so tests see clients join streams again from their last batch. Set it before use.
	MaxPoll time.Duration
	// ImageSetup, when set, prepares the files of the base image of Dockerfile builds (FROM
	// plus RUN lines; build.go), and ImagePath is the PATH their RUN lines get.
	ImageSetup func(*cloudtest.Box) error
	ImagePath  string
	// ImageBinds are host directories every sandbox sees read-only (target → source), as
	// if its image carried them (the engine CLIs, for end-to-end tests).
	ImageBinds map[string]string

	dir string
	srv *grpc.Server

	mu        sync.Mutex
	seq       int
	apps      map[string]string // name → ID
	images    map[string]*image // ID → image
	sandboxes map[string]*sandbox
	tasks     map[string]*sandbox // task ID → sandbox
	execs     map[string]*execution
	created   []*modalpb.SandboxCreateRequest
	calls     map[string]int
	client    [2]string // type and version of the last call
}

type image struct {
	tag   string
	built bool
	build *imageBuild // images with RUN lines (build.go)
}

type sandbox struct {
	id, taskID, appID, env string
	created                float64
	box                    *cloudtest.Box
	entry                  *cloudtest.Cmd
	tags                   map[string]string
	done                   chan struct{} // closed once result is set
	result                 *modalpb.GenericResult
	finished               float64
}

// New starts a fake with a random token pair, stopped when t ends.
func New(t testing.TB) *Server {
	s, err := Start(t.TempDir(), "ak-"+randomID(), "as-"+randomID())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start serves a fake on a loopback port, keeping sandboxes under dir.
func Start(dir, tokenID, tokenSecret string) (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{TokenID: tokenID, TokenSecret: tokenSecret, URL: "http://" + l.Addr().String(), dir: dir,
		apps: map[string]string{}, images: map[string]*image{}, sandboxes: map[string]*sandbox{},
		tasks: map[string]*sandbox{}, execs: map[string]*execution{}, calls: map[string]int{}}
	s.srv = grpc.NewServer(grpc.UnaryInterceptor(s.unaryAuth), grpc.StreamInterceptor(s.streamAuth))
	modalpb.RegisterModalClientServer(s.srv, s)
	go s.srv.Serve(l)
	return s, nil
}

// Close stops the server and removes every sandbox.
func (s *Server) Close() {
	s.srv.Stop()
	s.mu.Lock()
	var boxes []*sandbox
	for _, sb := range s.sandboxes {
		boxes = append(boxes, sb)
	}
	s.mu.Unlock()
	for _, sb := range boxes {
		s.end(sb, modalpb.GenericResult_GENERIC_STATUS_TERMINATED)
	}
}

// Created returns copies of the SandboxCreate requests received, in order.
func (s *Server) Created() []*modalpb.SandboxCreateRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*modalpb.SandboxCreateRequest, len(s.created))
	for i, r := range s.created {
		out[i] = proto.Clone(r).(*modalpb.SandboxCreateRequest)
	}
	return out
}

// Calls returns how many times each RPC (by method name) was called.
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// Client returns the x-modal-client-type and x-modal-client-version of the last call.
func (s *Server) Client() (clientType, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client[0], s.client[1]
}

// Running reports how many sandboxes have not ended.
func (s *Server) Running() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sb := range s.sandboxes {
		if sb.result == nil {
			n++
		}
	}
	return n
}

// auth checks the metadata Modal's clients send: the token pair (Unauthenticated when
// wrong, as Modal answers), a numeric client type and a client version
// (FailedPrecondition when missing: Modal refuses clients it cannot place).
func (s *Server) auth(ctx context.Context, method string) error {
	md, _ := metadata.FromIncomingContext(ctx)
	get := func(k string) string {
		if v := md.Get(k); len(v) == 1 {
			return v[0]
		}
		return ""
	}
	s.mu.Lock()
	s.calls[method[strings.LastIndex(method, "/")+1:]]++
	s.client = [2]string{get("x-modal-client-type"), get("x-modal-client-version")}
	s.mu.Unlock()
	if get("x-modal-token-id") != s.TokenID || get("x-modal-token-secret") != s.TokenSecret {
		return status.Error(codes.Unauthenticated, "Token ID or secret is invalid")
	}
	switch get("x-modal-client-type") {
	case "1", "7":
	default:
		return status.Errorf(codes.FailedPrecondition, "unsupported client type %q", get("x-modal-client-type"))
	}
	if get("x-modal-client-version") == "" {
		return status.Error(codes.FailedPrecondition, "missing client version")
	}
	return nil
}

func (s *Server) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := s.auth(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (s *Server) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := s.auth(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return h(srv, ss)
}

func (s *Server) nextID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s-%06d%s", prefix, s.seq, randomID()[:6])
}

func randomID() string { return strings.ToLower(rand.Text()) }

// pollWindow is how long a long poll waits for news when the request sets no timeout.
const pollWindow = 55 * time.Second

func (s *Server) window(timeout float32) time.Duration {
	d := pollWindow
	if timeout > 0 {
		d = time.Duration(float64(timeout) * float64(time.Second))
	}
	if s.MaxPoll > 0 && d > s.MaxPoll {
		d = s.MaxPoll
	}
	return d
}

func now() float64 { return float64(time.Now().UnixNano()) / 1e9 }

func errNotFound(what, id string) error {
	return status.Errorf(codes.NotFound, "%s %s not found", what, id)
}
