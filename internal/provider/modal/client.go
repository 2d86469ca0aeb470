package modal

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider/modal/modalpb"
)

// Metadata keys Modal's clients send with every call (the Python SDK's _get_metadata):
// the token pair authenticates; the server refuses client types and versions it does not
// support.
const (
	mdTokenID       = "x-modal-token-id"
	mdTokenSecret   = "x-modal-token-secret"
	mdClientType    = "x-modal-client-type"
	mdClientVersion = "x-modal-client-version"
)

// dial connects to serverURL: https (default port 443) with TLS, http in plaintext (the
// fake). Every call carries the auth metadata.
func dial(serverURL string, md metadata.MD) (*grpc.ClientConn, error) {
	u, err := url.Parse(serverURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("modal provider: server URL %q is not a URL like https://api.modal.com", serverURL)
	}
	host := u.Host
	var creds credentials.TransportCredentials
	switch u.Scheme {
	case "https":
		creds = credentials.NewTLS(nil)
		if u.Port() == "" {
			host += ":443"
		}
	case "http":
		creds = insecure.NewCredentials()
		if u.Port() == "" {
			host += ":80"
		}
	default:
		return nil, fmt.Errorf("modal provider: server URL %q: scheme must be https or http", serverURL)
	}
	withMD := func(ctx context.Context) context.Context { return metadata.NewOutgoingContext(ctx, md.Copy()) }
	return grpc.NewClient(host,
		grpc.WithTransportCredentials(creds),
		// Exec output batches and file contents can exceed gRPC's 4 MiB default.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, inv grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return inv(withMD(ctx), method, req, reply, cc, opts...)
		}),
		grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(withMD(ctx), desc, cc, method, opts...)
		}),
	)
}

// authMD is the metadata of every call: Hangar presents itself as the Python SDK
// (CLIENT_TYPE_CLIENT) at version, the protocol the pinned api.proto speaks.
func authMD(tokenID, tokenSecret, version string) metadata.MD {
	return metadata.Pairs(
		mdTokenID, tokenID,
		mdTokenSecret, tokenSecret,
		mdClientType, strconv.Itoa(int(modalpb.ClientType_CLIENT_TYPE_CLIENT)),
		mdClientVersion, version,
	)
}

// grpcError classifies a failed call. A status Modal sends becomes the matching kind:
// NotFound is a sandbox or exec that is gone; credentials Modal rejects
// (Unauthenticated, PermissionDenied) are the server's misconfiguration, not the API
// client's, so they are api_error (like cloud.StatusError's 401/403), with a message
// naming the variables to fix.
func grpcError(what string, err error) error {
	if err == nil {
		return nil
	}
	var he *hangar.Error
	if errors.As(err, &he) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("modal: %s: %w", what, err)
		}
		return &hangar.Error{Kind: hangar.KindUnavailable, Message: "modal: " + what + ": API unreachable", Err: err}
	}
	kind := hangar.KindInternal
	msg := st.Message()
	switch st.Code() {
	case codes.NotFound:
		kind = hangar.KindNotFound
	case codes.InvalidArgument, codes.OutOfRange:
		kind = hangar.KindInvalidRequest
	case codes.AlreadyExists, codes.Aborted:
		kind = hangar.KindConflict
	case codes.ResourceExhausted:
		kind = hangar.KindRateLimit
	case codes.Unavailable, codes.DeadlineExceeded:
		kind = hangar.KindUnavailable
	case codes.Canceled:
		return fmt.Errorf("modal: %s: %w", what, context.Canceled)
	case codes.Unauthenticated, codes.PermissionDenied:
		msg = "authentication failed (check MODAL_TOKEN_ID and MODAL_TOKEN_SECRET): " + msg
	case codes.FailedPrecondition:
		// Modal refuses client versions it no longer supports this way.
		msg = "refused: " + msg
	}
	return &hangar.Error{Kind: kind, Message: fmt.Sprintf("modal: %s: %s", what, msg), Err: err}
}
