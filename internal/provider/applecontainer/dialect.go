package applecontainer

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/hangar-dev/hangar/internal/provider"
)

// dialect is the argv of one CLI: everything that differs between container and mvm.
type dialect struct {
	name    string // registered provider name
	bin     string // executable looked up in PATH
	install string // how to get it running, for errors
	// check are the commands that must succeed for the CLI to be usable.
	check [][]string
	// netPolicy reports that create enforces createSpec.netPolicy.
	netPolicy bool
	create    func(c createSpec) []string
	start     func(name string) []string // start a stopped VM again
	stop      func(name string) []string // kill every process, keep the VM
	remove    func(name string) []string // delete it, running or not
	list      func() []string
	parseList func(out []byte) (map[string]vmState, error)
	// exec runs args in name; stdin stays open when interactive.
	exec func(name string, o execOpts, args []string) []string
	// mount is the flag value binding a host path (nil: the CLI cannot).
	mount func(m provider.Mount) []string
	// inheritEnv: "-e KEY" takes the value from the CLI's own environment, so values
	// (tokens) stay out of argv, which every host user can read.
	inheritEnv bool
	// egressHost is the default Config.EgressHost.
	egressHost string
}

type createSpec struct {
	name, session, provider string
	image                   string
	cpus, memoryMB          int
	mounts                  []provider.Mount
	netPolicy               string
}

type execOpts struct {
	user, dir string
	env       []string // KEY=VALUE, or KEY alone for a variable of the CLI's environment
}

type vmState int

const (
	stateMissing vmState = iota
	stateStopped
	stateRunning
)

// Labels on the containers the provider creates (apple-container).
const (
	labelProvider = "dev.hangar.provider"
	labelSession  = "dev.hangar.session"
)

var dialects = map[string]dialect{
	"apple-container":   appleContainer,
	"apple-firecracker": mvm,
}

// appleContainer drives Apple's container CLI (docs/command-reference.md of
// github.com/apple/container). The container's init process sleeps: sessions run
// everything through exec.
var appleContainer = dialect{
	name: "apple-container", bin: "container",
	install: "install it from github.com/apple/container/releases, then run: container system start",
	check:   [][]string{{"system", "status"}},
	create: func(c createSpec) []string {
		args := []string{"run", "--detach", "--name", c.name,
			"--label", labelProvider + "=" + c.provider, "--label", labelSession + "=" + c.session}
		if c.cpus > 0 {
			args = append(args, "--cpus", strconv.Itoa(c.cpus))
		}
		if c.memoryMB > 0 {
			args = append(args, "--memory", strconv.Itoa(c.memoryMB)+"M")
		}
		for _, m := range c.mounts {
			args = append(args, appleMount(m)...)
		}
		return append(args, "--entrypoint", "sleep", c.image, "infinity")
	},
	start:  func(name string) []string { return []string{"start", name} },
	stop:   func(name string) []string { return []string{"kill", name} },
	remove: func(name string) []string { return []string{"delete", "--force", name} },
	list:   func() []string { return []string{"list", "--all", "--format", "json"} },
	parseList: func(out []byte) (map[string]vmState, error) {
		var cs []struct {
			Status        string `json:"status"`
			Configuration struct {
				ID string `json:"id"`
			} `json:"configuration"`
		}
		if err := json.Unmarshal(out, &cs); err != nil {
			return nil, fmt.Errorf("parse container list: %w", err)
		}
		m := make(map[string]vmState, len(cs))
		for _, c := range cs {
			m[c.Configuration.ID] = running(c.Status)
		}
		return m, nil
	},
	exec: func(name string, o execOpts, args []string) []string {
		argv := []string{"exec", "-i"}
		argv = append(argv, execFlags(o)...)
		return append(append(argv, name), args...)
	},
	mount:      appleMount,
	inheritEnv: true,
	egressHost: "192.168.64.1",
}

func appleMount(m provider.Mount) []string {
	v := "type=bind,source=" + m.Source + ",target=" + m.Target
	if m.ReadOnly {
		v += ",readonly"
	}
	return []string{"--mount", v}
}

// mvm drives AgentStep's mvm (github.com/agentstep/mvm): Firecracker microVMs claimed
// from a warm pool. It has no bind mounts; --net-policy is its egress allow-list.
var mvm = dialect{
	name: "apple-firecracker", bin: "mvm",
	install:   "install it with: npm install -g @agentstep/mvm && mvm init && mvm pool warm",
	check:     [][]string{{"version"}},
	netPolicy: true,
	create: func(c createSpec) []string {
		args := []string{"start", c.name}
		if c.netPolicy != "" {
			args = append(args, "--net-policy", c.netPolicy)
		}
		return args
	},
	start:  func(name string) []string { return []string{"start", name} },
	stop:   func(name string) []string { return []string{"stop", name, "--force"} },
	remove: func(name string) []string { return []string{"delete", name, "--force"} },
	list:   func() []string { return []string{"list", "--json"} },
	parseList: func(out []byte) (map[string]vmState, error) {
		var vms []struct {
			Name   string `json:"name"`
			Status string `json:"status"`
		}
		if err := json.Unmarshal(out, &vms); err != nil {
			return nil, fmt.Errorf("parse mvm list: %w", err)
		}
		m := make(map[string]vmState, len(vms))
		for _, v := range vms {
			m[v.Name] = running(v.Status)
		}
		return m, nil
	},
	exec: func(name string, o execOpts, args []string) []string {
		argv := []string{"exec", name, "-i"}
		argv = append(argv, execFlags(o)...)
		return append(append(argv, "--"), args...)
	},
}

// execFlags are the user, working directory and environment flags both CLIs share (the
// short forms: mvm documents only those).
func execFlags(o execOpts) []string {
	var args []string
	if o.user != "" {
		args = append(args, "-u", o.user)
	}
	if o.dir != "" {
		args = append(args, "-w", o.dir)
	}
	for _, kv := range o.env {
		args = append(args, "-e", kv)
	}
	return args
}

func running(status string) vmState {
	if strings.EqualFold(status, "running") {
		return stateRunning
	}
	return stateStopped
}
