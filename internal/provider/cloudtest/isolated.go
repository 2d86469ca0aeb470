package cloudtest

import (
	"context"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// RunIsolated checks that a remote provider's sandboxes report its capabilities
// (engine.Isolated asks the sandbox), so engines start their CLI at its path inside the
// image (the mount target), not at the host path, which does not exist on the vendor's
// machine.
func RunIsolated(t *testing.T, p provider.Provider) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sb, err := p.Create(ctx, provider.Spec{SessionID: hangar.NewID(hangar.PrefixSession), WorkDir: "/workspace", HomeDir: "/home/agent"})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer sb.Destroy(context.Background())
	c, ok := sb.(interface{ Capabilities() provider.Capabilities })
	if !ok || !c.Capabilities().Isolated || !c.Capabilities().Remote {
		t.Errorf("%T does not report Isolated and Remote capabilities (engine.Isolated)", sb)
	}
}
