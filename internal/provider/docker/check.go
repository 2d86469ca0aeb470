package docker

import (
	"context"
	"fmt"

	"github.com/hangar-dev/hangar/internal/provider"
)

// Check implements provider.Checker (GET /v1/providers): the daemon must answer a ping.
func (p *Provider) Check(ctx context.Context) error {
	if _, err := p.cli.Ping(ctx); err != nil {
		return fmt.Errorf("%s daemon at %s is unreachable: %w", p.name, p.cli.DaemonHost(), err)
	}
	return nil
}

var _ provider.Checker = (*Provider)(nil)
