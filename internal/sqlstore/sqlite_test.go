package sqlstore_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/sqlstore"
	"github.com/hangar-dev/hangar/internal/storetest"
)

func openSQLite(t testing.TB) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "hangar.db"))
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
	storetest.Run(t, func(t *testing.T) hangar.Store { return openSQLite(t) })
}

func TestOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, name := range []string{"plain.db", "odd #name?.db", "100%.db"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), name)
			db, err := sqlstore.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			now := hangar.Now()
			e := &hangar.Environment{Type: "environment", ID: hangar.NewID(hangar.PrefixEnvironment), Name: "e", CreatedAt: now, UpdatedAt: now}
			if err := db.CreateEnvironment(ctx, e); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("database file not at %s: %v", path, err)
			}
			// Reopening finds the data and applies no migration twice.
			db, err = sqlstore.Open(ctx, path)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer db.Close()
			if _, err := db.GetEnvironment(ctx, e.ID); err != nil {
				t.Fatalf("after reopen: %v", err)
			}
		})
	}
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		db, err := sqlstore.Open(ctx, ":memory:")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.GetSession(ctx, "sesn_x"); !hangar.IsKind(err, hangar.KindNotFound) {
			t.Fatalf("GetSession on an empty in-memory store: err = %v, want not_found", err)
		}
	})
}
