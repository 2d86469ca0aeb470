package cloud

import (
	"strings"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

func TestCannotBuild(t *testing.T) {
	var log strings.Builder
	err := CannotBuild("fly", provider.BuildSpec{Key: "k1", Packages: hangar.Packages{Apt: []string{"jq"}}, Log: &log},
		"no images from machines", "use an image that has them (PACKAGES) as FLY_IMAGE")
	want := "the fly provider cannot build environment packages (no images from machines): use an image that has them (apt: jq) as FLY_IMAGE, or remove config.packages"
	if !hangar.IsKind(err, hangar.KindInvalidRequest) || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
	if log.String() != "==> "+want+"\n" {
		t.Errorf("log = %q", log.String())
	}
	if err := CannotBuild("fly", provider.BuildSpec{Key: "Bad/Key"}, "", ""); err == nil || !strings.Contains(err.Error(), "bad key") {
		t.Errorf("bad key: %v", err)
	}
}
