package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Garbage collection of layers (internal/envbuild.LayerCollector; docs/sandboxes.md
// "Environment builds").

// BuiltLayers returns the keys of the layers under <state-dir>/.layers (not the
// temporary directories of builds in progress).
func (p *Provider) BuiltLayers(ctx context.Context) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(p.stateDir, layersDir))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, e := range entries {
		if e.IsDir() && !strings.Contains(e.Name(), ".") {
			keys = append(keys, e.Name())
		}
	}
	return keys, nil
}

// RemoveLayer deletes the layer of key. It is first renamed out of the way, so that a
// build of the same key starting meanwhile builds afresh instead of finding half a layer;
// write bits are restored before the removal (packages unpack read-only directories).
func (p *Provider) RemoveLayer(ctx context.Context, key string) error {
	if key == "" || strings.ContainsAny(key, `/\.`) {
		return fmt.Errorf("local: bad layer key %q", key)
	}
	dir := filepath.Join(p.stateDir, layersDir, key)
	var rnd [4]byte
	rand.Read(rnd[:])
	gone := dir + ".gc-" + hex.EncodeToString(rnd[:])
	if err := os.Rename(dir, gone); err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("local: remove layer %s: %w", key, err)
	}
	filepath.WalkDir(gone, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	if err := os.RemoveAll(gone); err != nil {
		return fmt.Errorf("local: remove layer %s: %w", key, err)
	}
	return nil
}
