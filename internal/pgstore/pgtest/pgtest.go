// Package pgtest gives tests a fresh PostgreSQL database each.
//
// With HANGAR_TEST_DATABASE_URL set (a role that may CREATE DATABASE), databases are made
// on that server. Otherwise the first call in a test process starts one private,
// throwaway cluster: initdb into a temp dir (as the postgres user when running as root,
// since initdb refuses root), fsync off, listening only on a unix socket in that dir. The
// cluster lives as long as the test process: a small supervisor shell stops it and
// deletes its dir when the process's end of a pipe closes, however the process ends.
//
// Tests skip (saying why) only when the PostgreSQL server binaries are missing; any other
// failure to start the cluster fails the test.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable pointing tests at an existing server.
const EnvURL = "HANGAR_TEST_DATABASE_URL"

// timeZone is set on every test database: times must not depend on the session's zone (a
// zone with a half-hour offset catches code that formats or truncates in local time).
const timeZone = "America/St_Johns"

var (
	mu      sync.Mutex
	admin   string // URL of the maintenance database ("postgres") on the server
	started *cluster
	skipMsg string
	failErr error
)

// URL returns the connection URL of a new, empty database, dropped when t ends (after the
// cleanups registered later, such as closing a store on it, have run).
func URL(t testing.TB) string {
	t.Helper()
	base, skip, err := server()
	if skip != "" {
		t.Skip(skip)
	}
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	name := "hangar_test_" + randomHex(8)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident+" SET timezone TO '"+timeZone+"'"); err != nil {
		t.Fatalf("pgtest: set time zone: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		// FORCE ends connections a test left open (PostgreSQL 13+).
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := withDatabase(base, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

// server returns the admin URL of the server tests use, starting the private cluster on
// first use; or why tests must skip; or why they fail. The outcome of the first start is
// kept for the whole process.
func server() (url, skip string, err error) {
	mu.Lock()
	defer mu.Unlock()
	if admin != "" || skipMsg != "" || failErr != nil {
		return admin, skipMsg, failErr
	}
	if u := os.Getenv(EnvURL); u != "" {
		admin = u
		return admin, "", nil
	}
	c, err := startCluster()
	var se *skipError
	switch {
	case errors.As(err, &se):
		skipMsg = se.msg
	case err != nil:
		failErr = err
	default:
		started, admin = c, c.url
	}
	return admin, skipMsg, failErr
}

// withDatabase returns url with its database replaced by name. url is a postgres:// URL
// or a keyword/value DSN.
func withDatabase(base, name string) (string, error) {
	if strings.HasPrefix(base, "postgres://") || strings.HasPrefix(base, "postgresql://") {
		u, err := url.Parse(base)
		if err != nil {
			return "", fmt.Errorf("parse %s: %w", EnvURL, err)
		}
		u.Path = "/" + name
		q := u.Query()
		q.Del("dbname")
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return base + " dbname=" + name, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// skipError means the cluster cannot exist on this machine.
type skipError struct{ msg string }

func (e *skipError) Error() string { return e.msg }
