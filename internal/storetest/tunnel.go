package storetest

import (
	"context"
	"testing"

	"github.com/hangar-dev/hangar"
)

// Tunnels pins hangar.TunnelStore: unique domains, lookup by domain, the archived filter,
// at most MaxTunnelCertificates live certificates, and archiving a tunnel archiving its
// certificates in the same transaction.
func testTunnels(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()
	mk := func(domain string) *hangar.Tunnel {
		return &hangar.Tunnel{ID: hangar.NewID(hangar.PrefixTunnel), Domain: domain, CreatedAt: clk.Now(),
			TokenID: hangar.NewID(hangar.PrefixTunnelToken), TokenHash: "abc", SealedToken: []byte{1, 2, 3}, TokenKeyID: "k1"}
	}
	a, b := mk("a.tunnel.test"), mk("b.tunnel.test")
	for _, tn := range []*hangar.Tunnel{a, b} {
		if err := st.CreateTunnel(ctx, tn); err != nil {
			t.Fatal(err)
		}
	}
	wantKind(t, "CreateTunnel(same domain)", st.CreateTunnel(ctx, mk("a.tunnel.test")), hangar.KindConflict)
	got, err := st.GetTunnelByDomain(ctx, "b.tunnel.test")
	if err != nil || got.ID != b.ID || string(got.SealedToken) != "\x01\x02\x03" {
		t.Fatalf("by domain = %+v, %v", got, err)
	}
	_, err = st.GetTunnelByDomain(ctx, "c.tunnel.test")
	wantKind(t, "GetTunnelByDomain(missing)", err, hangar.KindNotFound)

	var certs []string
	for range 2 {
		c := &hangar.TunnelCertificate{ID: hangar.NewID(hangar.PrefixTunnelCertificate), TunnelID: a.ID, PEM: "pem", Fingerprint: "ff", CreatedAt: clk.Now()}
		if err := st.CreateTunnelCertificate(ctx, c); err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c.ID)
	}
	third := &hangar.TunnelCertificate{ID: hangar.NewID(hangar.PrefixTunnelCertificate), TunnelID: a.ID, CreatedAt: clk.Now()}
	wantKind(t, "CreateTunnelCertificate(third)", st.CreateTunnelCertificate(ctx, third), hangar.KindConflict)
	arch, err := st.ArchiveTunnelCertificate(ctx, a.ID, certs[0], clk.Now())
	if err != nil || arch.ArchivedAt == nil {
		t.Fatalf("archive certificate = %+v, %v", arch, err)
	}
	again, _ := st.ArchiveTunnelCertificate(ctx, a.ID, certs[0], clk.Now())
	if !again.ArchivedAt.Equal(*arch.ArchivedAt) {
		t.Error("archiving twice moved archived_at")
	}
	if err := st.CreateTunnelCertificate(ctx, third); err != nil {
		t.Fatalf("certificate after archiving one: %v", err)
	}
	_, err = st.GetTunnelCertificate(ctx, b.ID, certs[1])
	wantKind(t, "GetTunnelCertificate(other tunnel)", err, hangar.KindNotFound)
	live, _, _ := st.ListTunnelCertificates(ctx, a.ID, hangar.TunnelFilter{})
	all, _, _ := st.ListTunnelCertificates(ctx, a.ID, hangar.TunnelFilter{IncludeArchived: true})
	if len(live) != 2 || len(all) != 3 {
		t.Errorf("certificates live=%d all=%d, want 2 and 3", len(live), len(all))
	}

	at := clk.Now()
	if _, err := st.UpdateTunnel(ctx, a.ID, func(tn *hangar.Tunnel) error { tn.ArchivedAt = &at; return nil }); err != nil {
		t.Fatal(err)
	}
	if live, _, _ := st.ListTunnelCertificates(ctx, a.ID, hangar.TunnelFilter{}); len(live) != 0 {
		t.Errorf("%d live certificates after archiving the tunnel", len(live))
	}
	wantKind(t, "CreateTunnelCertificate(archived tunnel)", st.CreateTunnelCertificate(ctx,
		&hangar.TunnelCertificate{ID: hangar.NewID(hangar.PrefixTunnelCertificate), TunnelID: a.ID, CreatedAt: clk.Now()}), hangar.KindInvalidRequest)
	list, _, _ := st.ListTunnels(ctx, hangar.TunnelFilter{Page: hangar.Page{Desc: true}})
	if len(list) != 1 || list[0].ID != b.ID {
		t.Errorf("live tunnels = %d", len(list))
	}
	if list, _, _ := st.ListTunnels(ctx, hangar.TunnelFilter{IncludeArchived: true, Page: hangar.Page{Desc: true}}); len(list) != 2 || list[1].ID != a.ID {
		t.Errorf("all tunnels = %d", len(list))
	}
	if _, err := st.UpdateTunnel(ctx, b.ID, func(*hangar.Tunnel) error { return errSentinel }); err != errSentinel {
		t.Errorf("callback error = %v", err)
	}
}
