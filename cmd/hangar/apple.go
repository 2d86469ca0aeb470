package main

import "github.com/hangar-dev/hangar/internal/provider/applecontainer"

// appleConfigUsage lists the variables appleConfig reads, for serve's usage.
const appleConfigUsage = `  HANGAR_APPLE_CONTAINER_CLI, _IMAGE, _EGRESS_HOST
                        the apple-container provider (macOS): the container CLI's path, the
                        default image, the host address VMs reach the egress bridge on
  HANGAR_MVM_CLI, _NET_POLICY, _EGRESS_HOST
                        the apple-firecracker provider (macOS): the mvm CLI's path, mvm's
                        --net-policy for unrestricted environments, the egress bridge address
`

// appleConfig reads a macOS provider's settings from the environment variables prefix+CLI,
// IMAGE, NET_POLICY and EGRESS_HOST (empty ones keep the provider's defaults).
func appleConfig(getenv func(string) string, prefix string) applecontainer.Config {
	return applecontainer.Config{CLI: getenv(prefix + "CLI"), Image: getenv(prefix + "IMAGE"),
		NetPolicy: getenv(prefix + "NET_POLICY"), EgressHost: getenv(prefix + "EGRESS_HOST")}
}
