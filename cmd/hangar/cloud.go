package main

import (
	"encoding/json"
	"fmt"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider/daytona"
	"github.com/hangar-dev/hangar/internal/provider/e2b"
	"github.com/hangar-dev/hangar/internal/provider/fly"
	"github.com/hangar-dev/hangar/internal/provider/modal"
	"github.com/hangar-dev/hangar/internal/provider/sprites"
	"github.com/hangar-dev/hangar/internal/provider/vercel"
)

// cloudConfig holds the cloud sandbox providers' settings, read from the server's
// environment (docs/sandboxes.md, "Cloud providers"). Keys are Secrets here and only
// revealed into the JSON config their provider's factory decodes.
type cloudConfig struct {
	E2BKey                                       hangar.Secret
	E2BAPIURL, E2BDomain, E2BSandboxURL, E2BTmpl string
	VercelToken                                  hangar.Secret
	VercelTeam, VercelProject, VercelAPIURL      string
	VercelRuntime                                string
	DaytonaKey                                   hangar.Secret
	DaytonaAPIURL, DaytonaOrg, DaytonaTarget     string
	DaytonaSnapshot, DaytonaBuildImage           string
	SpritesToken                                 hangar.Secret
	SpritesAPIURL                                string
	FlyToken                                     hangar.Secret
	FlyApp, FlyAPIURL, FlyImage, FlyRegion       string
	ModalTokenID, ModalTokenSecret               hangar.Secret
	ModalURL, ModalEnvironment, ModalImage       string
}

// cloudConfigUsage lists the variables readCloudConfig reads, for serve's usage.
const cloudConfigUsage = `  E2B_API_KEY           the e2b sandbox provider's key; also E2B_TEMPLATE (default base),
                        E2B_API_URL, E2B_DOMAIN, E2B_SANDBOX_URL (self-hosted E2B)
  VERCEL_TOKEN          the vercel sandbox provider's token, with VERCEL_PROJECT_ID and
                        VERCEL_TEAM_ID; also VERCEL_SANDBOX_RUNTIME (default node24)
  DAYTONA_API_KEY       the daytona sandbox provider's key; also DAYTONA_API_URL,
                        DAYTONA_ORGANIZATION_ID, DAYTONA_TARGET, DAYTONA_SNAPSHOT,
                        DAYTONA_BUILD_IMAGE (environment builds' base image; default
                        daytonaio/sandbox:0.4.3)
  SPRITES_TOKEN         the sprites sandbox provider's token (also read from SPRITE_TOKEN);
                        also SPRITES_API_URL
  FLY_API_TOKEN         the fly sandbox provider's token, with FLY_APP_NAME; also FLY_IMAGE
                        (default node:22), FLY_REGION, FLY_API_URL
  MODAL_TOKEN_ID        the modal sandbox provider's token, with MODAL_TOKEN_SECRET; also
                        MODAL_ENVIRONMENT, MODAL_IMAGE (default node:22), HANGAR_MODAL_URL
                        (or MODAL_SERVER_URL; default https://api.modal.com)
`

func readCloudConfig(getenv func(string) string) cloudConfig {
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := getenv(k); v != "" {
				return v
			}
		}
		return ""
	}
	return cloudConfig{
		SpritesToken: hangar.Secret(first("SPRITES_TOKEN", "SPRITE_TOKEN")), SpritesAPIURL: first("SPRITES_API_URL", "SPRITE_API"),
		FlyToken: hangar.Secret(getenv("FLY_API_TOKEN")), FlyApp: getenv("FLY_APP_NAME"), FlyAPIURL: getenv("FLY_API_URL"),
		FlyImage: getenv("FLY_IMAGE"), FlyRegion: getenv("FLY_REGION"),
		E2BKey: hangar.Secret(getenv("E2B_API_KEY")), E2BAPIURL: getenv("E2B_API_URL"), E2BDomain: getenv("E2B_DOMAIN"),
		E2BSandboxURL: getenv("E2B_SANDBOX_URL"), E2BTmpl: getenv("E2B_TEMPLATE"),
		VercelToken: hangar.Secret(getenv("VERCEL_TOKEN")), VercelTeam: getenv("VERCEL_TEAM_ID"),
		VercelProject: getenv("VERCEL_PROJECT_ID"), VercelAPIURL: getenv("VERCEL_API_URL"), VercelRuntime: getenv("VERCEL_SANDBOX_RUNTIME"),
		DaytonaKey: hangar.Secret(getenv("DAYTONA_API_KEY")),
		DaytonaOrg: getenv("DAYTONA_ORGANIZATION_ID"), DaytonaTarget: getenv("DAYTONA_TARGET"), DaytonaSnapshot: getenv("DAYTONA_SNAPSHOT"),
		DaytonaBuildImage: getenv("DAYTONA_BUILD_IMAGE"), DaytonaAPIURL: getenv("DAYTONA_API_URL"),
		ModalTokenID: hangar.Secret(getenv("MODAL_TOKEN_ID")), ModalTokenSecret: hangar.Secret(getenv("MODAL_TOKEN_SECRET")),
		ModalURL: first("HANGAR_MODAL_URL", "MODAL_SERVER_URL"), ModalEnvironment: getenv("MODAL_ENVIRONMENT"), ModalImage: getenv("MODAL_IMAGE"),
	}
}

// addTo adds the cloud providers' JSON configs to out. A provider without credentials
// still gets its config: its factory then fails with an error naming the variable.
func (c cloudConfig) addTo(out map[string]json.RawMessage) error {
	for name, v := range map[string]any{
		"e2b": e2b.Config{APIKey: c.E2BKey.Reveal(), APIURL: c.E2BAPIURL, Domain: c.E2BDomain, SandboxURL: c.E2BSandboxURL, Template: c.E2BTmpl},
		"vercel": vercel.Config{Token: c.VercelToken.Reveal(), TeamID: c.VercelTeam, ProjectID: c.VercelProject,
			APIURL: c.VercelAPIURL, Runtime: c.VercelRuntime},
		"sprites": sprites.Config{Token: c.SpritesToken.Reveal(), APIURL: c.SpritesAPIURL},
		"fly":     fly.Config{Token: c.FlyToken.Reveal(), App: c.FlyApp, APIURL: c.FlyAPIURL, Image: c.FlyImage, Region: c.FlyRegion},
		"daytona": daytona.Config{APIKey: c.DaytonaKey.Reveal(), APIURL: c.DaytonaAPIURL, OrganizationID: c.DaytonaOrg,
			Target: c.DaytonaTarget, Snapshot: c.DaytonaSnapshot, BuildImage: c.DaytonaBuildImage},
		"modal": modal.Config{TokenID: c.ModalTokenID.Reveal(), TokenSecret: c.ModalTokenSecret.Reveal(), ServerURL: c.ModalURL,
			Environment: c.ModalEnvironment, Image: c.ModalImage},
	} {
		raw, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("provider %s config: %w", name, err)
		}
		out[name] = raw
	}
	return nil
}
