// Package storetest is the conformance suite for hangar.Store. Every implementation runs it
// from its own tests:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) hangar.Store { ... fresh, empty store ... })
//	}
//
// open must return a fresh, empty store each time and close it when the test ends
// (t.Cleanup). Subtests run in parallel, each on its own store.
package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
)

// Run runs the conformance suite against the stores open returns.
func Run(t *testing.T, open func(t *testing.T) hangar.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) hangar.Store)
	}{
		{"Agents", testAgents},
		{"AgentPaging", testAgentPaging},
		{"Environments", testEnvironments},
		{"Sessions", testSessions},
		{"SessionPaging", testSessionPaging},
		{"Events", testEvents},
		{"EventsConcurrent", testEventsConcurrent},
		{"Vaults", testVaults},
		{"Credentials", testCredentials},
		{"Files", testFiles},
		{"Skills", testSkills},
		{"Memory", testMemory},
		{"Runtime", testRuntime},
		{"Leases", testLeases},
		{"LeaseRace", testLeaseRace},
		{"LeaseFence", testLeaseFence},
		{"OrphanedSessions", testOrphanedSessions},
		{"Webhooks", testWebhooks},
		{"AgentWebhooks", testAgentWebhooks},
		{"WebhookEvents", testWebhookEvents},
		{"SessionDeployment", testSessionDeployment},
		{"FileExpiry", testFileExpiry},
		{"Deployments", testDeployments},
		{"Work", testWork},
		{"WorkClaimRace", testWorkClaimRace},
		{"WorkEnd", testWorkEnd},
		{"Dreams", testDreams},
		{"UserProfiles", testUserProfiles},
		{"Tunnels", testTunnels},
		{"Threads", testThreads},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open)
		})
	}
}

// errSentinel is what callbacks return to check that the store passes their errors on
// unchanged.
var errSentinel = errors.New("storetest: callback error")

// clock hands out distinct, increasing UTC times with millisecond precision, as
// hangar.Now does.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 4, 1, 12, 0, 0, 123_000_000, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(1001 * time.Millisecond)
	return c.t
}

func ptr[T any](v T) *T { return &v }

// jsonEqual compares JSON documents semantically; nil and empty mean null.
func jsonEqual(a, b json.RawMessage) bool {
	norm := func(m json.RawMessage) any {
		if len(bytes.TrimSpace(m)) == 0 {
			return nil
		}
		var v any
		if err := json.Unmarshal(m, &v); err != nil {
			return string(m)
		}
		return v
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// cmpOpts compares stored JSON semantically; times compare with time.Time.Equal.
var cmpOpts = []cmp.Option{cmp.Comparer(jsonEqual)}

func diff(want, got any) string { return cmp.Diff(want, got, cmpOpts...) }

func wantKind(t *testing.T, what string, err error, kind hangar.Kind) {
	t.Helper()
	if !hangar.IsKind(err, kind) {
		t.Errorf("%s: err = %v, want %s", what, err, kind)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// pager lists one page of some resource; id names an item.
type pager[T any] struct {
	list func(p hangar.Page) ([]T, hangar.PageResult, error)
	id   func(T) string
}

// checkPaging walks all pages of size limit forward from the first page and then backward
// from the last, and checks that both walks see exactly want (IDs in display order), with
// no duplicates or gaps, and that the cursors around each page are right.
func checkPaging[T any](t *testing.T, pg pager[T], want []string, limit int, desc bool) {
	t.Helper()
	fetch := func(c *hangar.Cursor) ([]string, hangar.PageResult) {
		t.Helper()
		items, res, err := pg.list(hangar.Page{Limit: limit, Desc: desc, Cursor: c})
		if err != nil {
			t.Fatalf("list (cursor %+v): %v", c, err)
		}
		ids := make([]string, len(items))
		for i, it := range items {
			ids[i] = pg.id(it)
		}
		return ids, res
	}
	decode := func(tok string) *hangar.Cursor {
		t.Helper()
		c, err := hangar.DecodeCursor(tok)
		if err != nil {
			t.Fatalf("decode cursor %q: %v", tok, err)
		}
		return &c
	}

	// Forward.
	var got, lastPage []string
	var lastRes hangar.PageResult
	var cur *hangar.Cursor
	for n := 0; ; n++ {
		if n > len(want)+2 {
			t.Fatalf("forward paging does not end")
		}
		ids, res := fetch(cur)
		if n == 0 && res.Prev != "" {
			t.Errorf("first page has a prev cursor")
		}
		if n > 0 && res.Prev == "" {
			t.Errorf("page %d has no prev cursor", n)
		}
		if res.Next != "" && len(ids) != limit {
			t.Errorf("page %d has %d items and a next cursor, want %d items", n, len(ids), limit)
		}
		got = append(got, ids...)
		lastPage, lastRes = ids, res
		if res.Next == "" {
			break
		}
		cur = decode(res.Next)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("forward paging (desc=%t) IDs (-want +got):\n%s", desc, d)
	}

	// Backward from the last page, collecting pages front to back.
	got = slices.Clone(lastPage)
	res := lastRes
	for n := 0; res.Prev != ""; n++ {
		if n > len(want)+2 {
			t.Fatalf("backward paging does not end")
		}
		ids, r := fetch(decode(res.Prev))
		if len(ids) == 0 {
			t.Fatalf("backward page is empty")
		}
		if r.Next == "" {
			t.Errorf("backward page has no next cursor")
		} else if next, _ := fetch(decode(r.Next)); len(got) > 0 && (len(next) == 0 || next[0] != got[0]) {
			t.Errorf("next of a backward page starts at %v, want %s", next, got[0])
		}
		if r.Prev != "" && len(ids) != limit {
			t.Errorf("backward page has %d items and a prev cursor, want %d items", len(ids), limit)
		}
		got = append(slices.Clone(ids), got...)
		res = r
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("backward paging (desc=%t) IDs (-want +got):\n%s", desc, d)
	}
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}
