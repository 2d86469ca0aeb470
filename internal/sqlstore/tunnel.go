package sqlstore

import (
	"context"
	"time"

	"github.com/hangar-dev/hangar"
)

// CreateTunnel stores a tunnel.
func (db *DB) CreateTunnel(ctx context.Context, t *hangar.Tunnel) error {
	data, err := encode(t)
	if err != nil {
		return wrap(err, "create tunnel %s", t.ID)
	}
	err = db.inTx(ctx, func(tx conn) error {
		_, err := tx.exec(ctx, `INSERT INTO tunnels (id, domain, archived, created_at, data) VALUES (?, ?, ?, ?, ?)`,
			t.ID, t.Domain, t.ArchivedAt != nil, nanos(t.CreatedAt), data)
		if db.d.isUnique(err) {
			return hangar.Errorf(hangar.KindConflict, "tunnel %s or domain %s already exists", t.ID, t.Domain)
		}
		return err
	})
	return wrap(err, "create tunnel %s", t.ID)
}

const tunnelSelect = `SELECT pos, data FROM tunnels`

func scanTunnel(row scanner) (*hangar.Tunnel, int64, error) {
	var (
		pos  int64
		data string
		t    hangar.Tunnel
	)
	if err := row.Scan(&pos, &data); err != nil {
		return nil, 0, err
	}
	return &t, pos, decode(data, &t)
}

func getTunnel(ctx context.Context, c conn, id string) (*hangar.Tunnel, error) {
	t, _, err := scanTunnel(c.queryRow(ctx, tunnelSelect+` WHERE id = ?`, id))
	return t, notFound(err, "tunnel", id)
}

// GetTunnel returns tunnel id.
func (db *DB) GetTunnel(ctx context.Context, id string) (*hangar.Tunnel, error) {
	t, err := getTunnel(ctx, db.reader(), id)
	return t, wrap(err, "get tunnel %s", id)
}

// GetTunnelByDomain returns the tunnel of a domain.
func (db *DB) GetTunnelByDomain(ctx context.Context, domain string) (*hangar.Tunnel, error) {
	t, _, err := scanTunnel(db.reader().queryRow(ctx, tunnelSelect+` WHERE domain = ?`, domain))
	return t, wrap(notFound(err, "tunnel for domain", domain), "get tunnel by domain %s", domain)
}

// ListTunnels lists tunnels.
func (db *DB) ListTunnels(ctx context.Context, f hangar.TunnelFilter) ([]*hangar.Tunnel, hangar.PageResult, error) {
	q := listQuery{selectFrom: tunnelSelect, posCol: "pos"}
	if !f.IncludeArchived {
		q.add("archived = ?", false)
	}
	out, res, err := list(ctx, db.reader(), q, f.Page, scanTunnel)
	return out, res, wrap(err, "list tunnels")
}

// UpdateTunnel calls fn with the tunnel in a transaction and saves it; archiving it
// archives its certificates too.
func (db *DB) UpdateTunnel(ctx context.Context, id string, fn func(t *hangar.Tunnel) error) (*hangar.Tunnel, error) {
	var out *hangar.Tunnel
	var fnErr error
	err := db.inTx(ctx, func(tx conn) error {
		t, err := getTunnel(ctx, tx, id)
		if err != nil {
			return err
		}
		wasArchived := t.ArchivedAt != nil
		if fnErr = fn(t); fnErr != nil {
			return fnErr
		}
		t.ID = id
		data, err := encode(t)
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE tunnels SET archived = ?, data = ? WHERE id = ?`, t.ArchivedAt != nil, data, id); err != nil {
			return err
		}
		if !wasArchived && t.ArchivedAt != nil {
			if err := archiveCertificates(ctx, tx, id, *t.ArchivedAt); err != nil {
				return err
			}
		}
		out = t
		return nil
	})
	if fnErr != nil {
		return nil, fnErr
	}
	return out, wrap(err, "update tunnel %s", id)
}

func archiveCertificates(ctx context.Context, tx conn, tunnelID string, now time.Time) error {
	rows, err := tx.query(ctx, certSelect+` WHERE tunnel_id = ? AND archived = ?`, tunnelID, false)
	if err != nil {
		return err
	}
	var certs []*hangar.TunnelCertificate
	for rows.Next() {
		c, _, err := scanCert(rows)
		if err != nil {
			rows.Close()
			return err
		}
		certs = append(certs, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range certs {
		if err := saveArchivedCert(ctx, tx, c, now); err != nil {
			return err
		}
	}
	return nil
}

func saveArchivedCert(ctx context.Context, tx conn, c *hangar.TunnelCertificate, now time.Time) error {
	t := now.UTC()
	c.ArchivedAt = &t
	data, err := encode(c)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, `UPDATE tunnel_certificates SET archived = ?, data = ? WHERE id = ?`, true, data, c.ID)
	return err
}

// CreateTunnelCertificate stores a certificate, at most MaxTunnelCertificates live ones.
func (db *DB) CreateTunnelCertificate(ctx context.Context, c *hangar.TunnelCertificate) error {
	data, err := encode(c)
	if err != nil {
		return wrap(err, "create tunnel certificate %s", c.ID)
	}
	err = db.inTx(ctx, func(tx conn) error {
		t, err := getTunnel(ctx, tx, c.TunnelID)
		if err != nil {
			return err
		}
		if t.ArchivedAt != nil {
			return hangar.Errorf(hangar.KindInvalidRequest, "tunnel %s is archived", t.ID)
		}
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM tunnel_certificates WHERE tunnel_id = ? AND archived = ?`, c.TunnelID, false).Scan(&n); err != nil {
			return err
		}
		if n >= hangar.MaxTunnelCertificates {
			return hangar.Errorf(hangar.KindConflict, "tunnel %s already holds %d certificates: archive one first", c.TunnelID, n)
		}
		_, err = tx.exec(ctx, `INSERT INTO tunnel_certificates (id, tunnel_id, archived, created_at, data) VALUES (?, ?, ?, ?, ?)`,
			c.ID, c.TunnelID, c.ArchivedAt != nil, nanos(c.CreatedAt), data)
		if db.d.isUnique(err) {
			return hangar.Errorf(hangar.KindConflict, "tunnel certificate %s already exists", c.ID)
		}
		return err
	})
	return wrap(err, "create tunnel certificate %s", c.ID)
}

const certSelect = `SELECT pos, data FROM tunnel_certificates`

func scanCert(row scanner) (*hangar.TunnelCertificate, int64, error) {
	var (
		pos  int64
		data string
		c    hangar.TunnelCertificate
	)
	if err := row.Scan(&pos, &data); err != nil {
		return nil, 0, err
	}
	return &c, pos, decode(data, &c)
}

func getCert(ctx context.Context, c conn, tunnelID, id string) (*hangar.TunnelCertificate, error) {
	cert, _, err := scanCert(c.queryRow(ctx, certSelect+` WHERE tunnel_id = ? AND id = ?`, tunnelID, id))
	return cert, notFound(err, "tunnel certificate", id)
}

// GetTunnelCertificate returns a tunnel's certificate.
func (db *DB) GetTunnelCertificate(ctx context.Context, tunnelID, id string) (*hangar.TunnelCertificate, error) {
	c, err := getCert(ctx, db.reader(), tunnelID, id)
	return c, wrap(err, "get tunnel certificate %s", id)
}

// ListTunnelCertificates lists a tunnel's certificates.
func (db *DB) ListTunnelCertificates(ctx context.Context, tunnelID string, f hangar.TunnelFilter) ([]*hangar.TunnelCertificate, hangar.PageResult, error) {
	q := listQuery{selectFrom: certSelect, posCol: "pos"}
	q.add("tunnel_id = ?", tunnelID)
	if !f.IncludeArchived {
		q.add("archived = ?", false)
	}
	out, res, err := list(ctx, db.reader(), q, f.Page, scanCert)
	return out, res, wrap(err, "list tunnel certificates")
}

// ArchiveTunnelCertificate archives a certificate once.
func (db *DB) ArchiveTunnelCertificate(ctx context.Context, tunnelID, id string, now time.Time) (*hangar.TunnelCertificate, error) {
	var out *hangar.TunnelCertificate
	err := db.inTx(ctx, func(tx conn) error {
		c, err := getCert(ctx, tx, tunnelID, id)
		if err != nil {
			return err
		}
		if c.ArchivedAt == nil {
			if err := saveArchivedCert(ctx, tx, c, now); err != nil {
				return err
			}
		}
		out = c
		return nil
	})
	return out, wrap(err, "archive tunnel certificate %s", id)
}
