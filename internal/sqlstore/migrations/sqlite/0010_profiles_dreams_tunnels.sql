-- Dreams (hangar.DreamStore), user profiles (hangar.UserProfileStore) and tunnels with
-- their CA certificates (hangar.TunnelStore). Each row keeps the resource as JSON in data;
-- the columns beside it are what queries filter on. A dream's owner/claim_until is the
-- claim of the instance running it (internal/dream).

CREATE TABLE dreams (
	pos         INTEGER PRIMARY KEY AUTOINCREMENT,
	id          TEXT    NOT NULL UNIQUE,
	status      TEXT    NOT NULL,
	archived    INTEGER NOT NULL DEFAULT 0,
	created_at  INTEGER NOT NULL,
	owner       TEXT,
	claim_until INTEGER,
	data        TEXT    NOT NULL
);
CREATE INDEX dreams_runnable ON dreams (status, pos) WHERE status IN ('pending', 'running');

CREATE TABLE user_profiles (
	pos        INTEGER PRIMARY KEY AUTOINCREMENT,
	id         TEXT    NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	data       TEXT    NOT NULL
);

CREATE TABLE tunnels (
	pos        INTEGER PRIMARY KEY AUTOINCREMENT,
	id         TEXT    NOT NULL UNIQUE,
	domain     TEXT    NOT NULL UNIQUE,
	archived   INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	data       TEXT    NOT NULL
);

CREATE TABLE tunnel_certificates (
	pos        INTEGER PRIMARY KEY AUTOINCREMENT,
	id         TEXT    NOT NULL UNIQUE,
	tunnel_id  TEXT    NOT NULL,
	archived   INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	data       TEXT    NOT NULL
);
CREATE INDEX tunnel_certificates_tunnel ON tunnel_certificates (tunnel_id, pos);
