package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangar-dev/hangar"
)

// TestE2EUserProfiles drives every method of client.Beta.UserProfiles (with ActionURLs and
// Providers.Google.DataControls) against a real server, and follows an enrollment URL the
// way an end customer would: a plain browser request to HANGAR_PUBLIC_URL, no API key,
// which activates the profile's end_user_enrollment trust grant.
func TestE2EUserProfiles(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)
	up := c.Beta.UserProfiles

	// The SDK sends the user-profiles-2026-08-18 beta header: the legacy external_id form.
	p, err := up.New(ctx, anthropic.BetaUserProfileNewParams{Name: anthropic.String("Acme Corp"), ExternalID: anthropic.String("cust-42"),
		AccessType: anthropic.BetaUserProfileNewParamsAccessTypePassthrough, Metadata: map[string]string{"plan": "team"}})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if !strings.HasPrefix(p.ID, hangar.PrefixUserProfile) || p.Type != "user_profile" || p.Name != "Acme Corp" || p.ExternalID != "cust-42" ||
		p.AccessType != "passthrough" || p.Metadata["plan"] != "team" || len(p.TrustGrants) != 0 {
		t.Fatalf("created %s", p.RawJSON())
	}
	// Under the current header, external_user_details.
	cur, err := up.New(ctx, anthropic.BetaUserProfileNewParams{ExternalUserDetails: anthropic.BetaUserProfileExternalUserDetailsParams{
		Country: anthropic.String("SE"), EntityType: anthropic.BetaUserProfileExternalUserDetailsParamsEntityTypeIndividual,
		OnboardedAt: anthropic.Time(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))}}, option.WithHeader("anthropic-beta", "user-profiles-2026-09-04"))
	if err != nil {
		t.Fatal(err)
	}
	if cur.ExternalUserDetails.Country != "SE" || cur.ExternalUserDetails.EntityType != "individual" || cur.AccessType != "application" || cur.ExternalUserDetails.OnboardedAt.Year() != 2025 {
		t.Errorf("current form = %s", cur.RawJSON())
	}
	upd, err := up.Update(ctx, p.ID, anthropic.BetaUserProfileUpdateParams{Name: anthropic.String("Acme Inc"), Metadata: map[string]string{"plan": "", "seats": "40"}})
	if err != nil || upd.Name != "Acme Inc" || upd.Metadata["seats"] != "40" || len(upd.Metadata) != 1 || upd.ExternalID != "cust-42" {
		t.Fatalf("update = %v, %v", upd, err)
	}
	if got, err := up.Get(ctx, p.ID, anthropic.BetaUserProfileGetParams{}); err != nil || got.Name != "Acme Inc" {
		t.Fatalf("get = %v, %v", got, err)
	}
	page, err := up.List(ctx, anthropic.BetaUserProfileListParams{OrderBy: anthropic.BetaUserProfileListParamsOrderByName, Order: anthropic.BetaUserProfileListParamsOrderAsc})
	if err != nil || len(page.Data) != 2 || page.Data[0].ID != p.ID {
		t.Fatalf("list by name = %v, %v", page, err)
	}

	// Enrollment, as the end customer: the URL is on this server and needs no API key.
	eu, err := up.NewEnrollmentURL(ctx, p.ID, anthropic.BetaUserProfileNewEnrollmentURLParams{})
	if err != nil || eu.Type != "enrollment_url" || !strings.HasPrefix(eu.URL, srv.URL+"/enroll/") || eu.ExpiresAt.Before(time.Now()) {
		t.Fatalf("enrollment url = %v, %v", eu, err)
	}
	au, err := up.ActionURLs.New(ctx, p.ID, anthropic.BetaUserProfileActionURLNewParams{
		Action: anthropic.BetaUserProfileActionUnionParam{OfEnrollEndUser: &anthropic.BetaUserProfileEnrollEndUserActionParam{}}})
	if err != nil || au.Type != "user_profile_action_url" || !strings.HasPrefix(au.URL, srv.URL+"/enroll/") {
		t.Fatalf("action url = %v, %v", au, err)
	}
	resp, err := http.Get(au.URL)
	if err != nil {
		t.Fatal(err)
	}
	page1, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page1), "Acme Inc") {
		t.Fatalf("enrollment page: %d %s", resp.StatusCode, page1)
	}
	resp, err = http.Post(au.URL, "application/x-www-form-urlencoded", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("complete enrollment: %v %v", resp, err)
	}
	resp.Body.Close()
	if got, _ := up.Get(ctx, p.ID, anthropic.BetaUserProfileGetParams{}); got.TrustGrants["end_user_enrollment"].Status != "active" {
		t.Errorf("trust grants after enrollment = %s", got.RawJSON())
	}

	// Google data controls.
	dc := up.Providers.Google.DataControls
	def, err := dc.Get(ctx, p.ID, anthropic.BetaUserProfileProviderGoogleDataControlGetParams{})
	if err != nil || def.Type != "google_managed_data_controls" || def.UserProfileID != p.ID || def.CMEK.Type != "disabled" || def.Storage.Type != "disabled" {
		t.Fatalf("default controls = %v, %v", def, err)
	}
	on, err := dc.Update(ctx, p.ID, anthropic.BetaUserProfileProviderGoogleDataControlUpdateParams{
		CMEK: anthropic.BetaGoogleManagedCMEKControlParamsUnion{OfEnabled: &anthropic.BetaGoogleManagedCMEKEnabledParams{ExternalKeyIDs: map[string]string{"us": "ekey_us1"}}},
		Storage: anthropic.BetaGoogleManagedStorageControlParamsUnion{OfEnabled: &anthropic.BetaGoogleManagedStorageEnabledParams{
			Buckets: map[string]anthropic.BetaGoogleManagedBucketReferenceParam{"eu": {BucketName: "acme-eu", ProjectNumber: "1234"}}}},
	})
	if err != nil || on.CMEK.ExternalKeyIDs["us"] != "ekey_us1" || on.CMEK.Status["us"].Type != "failed" || !strings.Contains(on.CMEK.Status["us"].Error, "self-hosted") ||
		on.Storage.Buckets["eu"].BucketName != "acme-eu" || on.Storage.Status["eu"].Type != "failed" {
		t.Fatalf("enabled controls = %v, %v", on, err)
	}
	off, err := dc.Update(ctx, p.ID, anthropic.BetaUserProfileProviderGoogleDataControlUpdateParams{
		CMEK: anthropic.BetaGoogleManagedCMEKControlParamsUnion{OfDisabled: &anthropic.BetaGoogleManagedCMEKDisabledParams{}}})
	if err != nil || off.CMEK.Type != "disabled" || len(off.CMEK.RetiredKeys) != 1 || off.CMEK.RetiredKeys[0].ExternalKeyID != "ekey_us1" || off.Storage.Type != "enabled" {
		t.Fatalf("cmek disabled = %v, %v", off, err)
	}

	del, err := up.Delete(ctx, p.ID, anthropic.BetaUserProfileDeleteParams{})
	if err != nil || del.ID != p.ID || del.Type != "user_profile_deleted" {
		t.Fatalf("delete = %v, %v", del, err)
	}
	_, err = up.Get(ctx, p.ID, anthropic.BetaUserProfileGetParams{})
	wantStatus(t, err, http.StatusNotFound, "not_found_error")
	if resp, err := http.Get(eu.URL); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("enrollment URL of a deleted profile: %v %v", resp, err)
	}
}
