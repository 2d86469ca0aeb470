package pgstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/pgstore"
	"github.com/hangar-dev/hangar/internal/pgstore/pgtest"
	"github.com/hangar-dev/hangar/internal/storetest"
)

// open returns a store on url, closed when t ends.
func open(t testing.TB, url string) *pgstore.DB {
	t.Helper()
	db, err := pgstore.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) hangar.Store { return open(t, pgtest.URL(t)) })
}

// TestStoreTwoInstances runs the suite with reads and writes spread over two stores on one
// database, as two Hangar instances would: every test's store is really two pools.
func TestOpenConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.URL(t)
	// Instances starting at once migrate one database: each migration runs once, and
	// every Open succeeds.
	const n = 6
	dbs := make([]*pgstore.DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { dbs[i], errs[i] = pgstore.Open(ctx, url) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Open %d: %v", i, errs[i])
		}
		defer dbs[i].Close()
	}
	now := hangar.Now()
	e := &hangar.Environment{Type: "environment", ID: hangar.NewID(hangar.PrefixEnvironment), Name: "e", CreatedAt: now, UpdatedAt: now}
	if err := dbs[0].CreateEnvironment(ctx, e); err != nil {
		t.Fatal(err)
	}
	if _, err := dbs[n-1].GetEnvironment(ctx, e.ID); err != nil {
		t.Fatalf("another instance does not see the environment: %v", err)
	}
	// Reopening applies nothing twice.
	again := open(t, url)
	if _, err := again.GetEnvironment(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
}
