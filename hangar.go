// Package hangar holds Hangar's domain: the resources of the Claude Managed Agents API
// (agents, environments, sessions, events, vaults, files), their IDs and errors, and the
// interfaces every adapter implements (Store). It imports only the standard library.
//
// Domain structs carry the JSON tags of the CMA wire format: the API contract is the SDK's
// JSON, and keeping one set of types (with conversions for the few fields that differ in
// internal/httpapi) is cheaper than two parallel type trees. See DESIGN.md §2.
package hangar

import (
	"crypto/rand"
	"time"
)

// ID prefixes used by the Managed Agents API.
const (
	PrefixAgent       = "agent_"
	PrefixEnvironment = "env_"
	PrefixSession     = "sesn_"
	PrefixEvent       = "sevt_"
	PrefixResource    = "sesrsc_"
	PrefixVault       = "vlt_"
	PrefixCredential  = "vcrd_"
	PrefixFile        = "file_"
	PrefixRequest     = "req_"
	PrefixPage        = "page_"
)

// Clock returns the current time. Injected everywhere time matters so tests are deterministic.
type Clock func() time.Time

// IDGen makes a new ID with the given prefix.
type IDGen func(prefix string) string

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewID returns prefix followed by "011C" and 20 random base62 characters, the shape of
// Anthropic's tagged IDs (a 24-character body).
func NewID(prefix string) string {
	var buf [20]byte
	if _, err := rand.Read(buf[:]); err != nil {
		panic("hangar: crypto/rand failed: " + err.Error())
	}
	b := make([]byte, 0, len(prefix)+24)
	b = append(b, prefix...)
	b = append(b, "011C"...)
	for _, c := range buf {
		b = append(b, base62[int(c)%len(base62)])
	}
	return string(b)
}

// Now is the production Clock: UTC with millisecond precision, as the API reports times.
func Now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
