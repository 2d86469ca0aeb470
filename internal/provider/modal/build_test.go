package modal_test

import (
	"testing"

	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
	"github.com/hangar-dev/hangar/internal/provider/modal/modaltest"
)

func TestBuild(t *testing.T) {
	f := modaltest.New(t)
	f.ImageSetup, f.ImagePath = cloudtest.InstallStubs, cloudtest.StubPath
	p := newProvider(t, f)
	layer := cloudtest.RunBuild(t, p, func(string) { f.ForgetImages() })
	// The session of the layer ran the built image, the other the registry one.
	var images []string
	for _, c := range f.Created() {
		images = append(images, c.Definition.ImageId)
	}
	if len(images) != 2 || images[0] != layer || images[1] == layer {
		t.Errorf("sandboxes ran images %q, want the layer %q then another", images, layer)
	}
}

func TestLayerExists(t *testing.T) {
	f := modaltest.New(t)
	f.ImageSetup, f.ImagePath = cloudtest.InstallStubs, cloudtest.StubPath
	cloudtest.RunLayerCheck(t, newProvider(t, f), func() provider.Provider { return newProvider(t, f) }, func(string) { f.ForgetImages() })
}

func TestSandboxIsolated(t *testing.T) {
	cloudtest.RunIsolated(t, newProvider(t, modaltest.New(t)))
}
