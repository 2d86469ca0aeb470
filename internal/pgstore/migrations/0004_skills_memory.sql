-- Custom skills and their immutable versions (hangar.SkillStore); the twin of
-- internal/sqlstore's SQLite 0004_skills_memory.sql. Version content lives in the blob
-- store under the version ID.

CREATE TABLE skills (
	pos        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id         TEXT   NOT NULL UNIQUE,
	source     TEXT   NOT NULL,
	created_at BIGINT NOT NULL,
	data       TEXT   NOT NULL
);

CREATE TABLE skill_versions (
	pos        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id         TEXT   NOT NULL UNIQUE,
	skill_id   TEXT   NOT NULL REFERENCES skills (id),
	version    TEXT   NOT NULL,
	size_bytes BIGINT NOT NULL,
	sha256     TEXT   NOT NULL,
	data       TEXT   NOT NULL,
	UNIQUE (skill_id, version)
);
-- Memory stores (hangar.MemoryStoreStore): the current memories, unique by path in their
-- store, and every version of them.
CREATE TABLE memory_stores (
	pos         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id          TEXT    NOT NULL UNIQUE,
	created_at  BIGINT  NOT NULL,
	archived_at BIGINT ,
	data        TEXT    NOT NULL
);

CREATE TABLE memories (
	pos      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id       TEXT    NOT NULL UNIQUE,
	store_id TEXT    NOT NULL REFERENCES memory_stores (id) ON DELETE CASCADE,
	path     TEXT    NOT NULL,
	data     TEXT    NOT NULL,
	UNIQUE (store_id, path)
);

CREATE TABLE memory_versions (
	pos        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id         TEXT    NOT NULL UNIQUE,
	store_id   TEXT    NOT NULL REFERENCES memory_stores (id) ON DELETE CASCADE,
	memory_id  TEXT    NOT NULL,
	session_id TEXT    NOT NULL DEFAULT '',
	operation  TEXT    NOT NULL,
	created_at BIGINT  NOT NULL,
	data       TEXT    NOT NULL
);
CREATE INDEX memory_versions_store ON memory_versions (store_id, pos);
