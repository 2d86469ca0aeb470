-- The twin of internal/sqlstore's SQLite 0010_profiles_dreams_tunnels.sql.
-- Dreams (hangar.DreamStore), user profiles (hangar.UserProfileStore) and tunnels with
-- their CA certificates (hangar.TunnelStore). Each row keeps the resource as JSON in data;
-- the columns beside it are what queries filter on. A dream's owner/claim_until is the
-- claim of the instance running it (internal/dream).

CREATE TABLE dreams (
	pos         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id          TEXT    NOT NULL UNIQUE,
	status      TEXT    NOT NULL,
	archived    BOOLEAN NOT NULL DEFAULT FALSE,
	created_at  BIGINT  NOT NULL,
	owner       TEXT,
	claim_until BIGINT,
	data        TEXT    NOT NULL
);
CREATE INDEX dreams_runnable ON dreams (status, pos) WHERE status IN ('pending', 'running');

CREATE TABLE user_profiles (
	pos        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id         TEXT    NOT NULL UNIQUE,
	created_at BIGINT  NOT NULL,
	data       TEXT    NOT NULL
);

CREATE TABLE tunnels (
	pos        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id         TEXT    NOT NULL UNIQUE,
	domain     TEXT    NOT NULL UNIQUE,
	archived   BOOLEAN NOT NULL DEFAULT FALSE,
	created_at BIGINT  NOT NULL,
	data       TEXT    NOT NULL
);

CREATE TABLE tunnel_certificates (
	pos        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id         TEXT    NOT NULL UNIQUE,
	tunnel_id  TEXT    NOT NULL,
	archived   BOOLEAN NOT NULL DEFAULT FALSE,
	created_at BIGINT  NOT NULL,
	data       TEXT    NOT NULL
);
CREATE INDEX tunnel_certificates_tunnel ON tunnel_certificates (tunnel_id, pos);
