-- Built-in push app server (XEP-0357 app server relaying to FCM and APNs):
-- apps with their sealed credentials, and device registrations.
-- Times are Unix microseconds (0: never).
CREATE TABLE push_apps (
	name        TEXT PRIMARY KEY,
	platform    TEXT NOT NULL,
	credentials BLOB NOT NULL,
	updated     INTEGER NOT NULL
);

-- One row: bumped by every change to push_apps, polled by running servers.
CREATE TABLE push_apps_generation (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	gen INTEGER NOT NULL
);
INSERT INTO push_apps_generation (id, gen) VALUES (1, 0);

CREATE TABLE push_devices (
	node            TEXT PRIMARY KEY,
	secret          TEXT NOT NULL,
	app             TEXT NOT NULL REFERENCES push_apps (name) ON DELETE CASCADE,
	device          TEXT NOT NULL,
	token           TEXT NOT NULL,
	domain          TEXT NOT NULL,
	account         TEXT NOT NULL,
	created         INTEGER NOT NULL,
	last_used       INTEGER NOT NULL,
	last_success    INTEGER NOT NULL DEFAULT 0,
	last_error      INTEGER NOT NULL DEFAULT 0,
	last_error_text TEXT NOT NULL DEFAULT '',
	UNIQUE (app, device)
);
CREATE INDEX push_devices_device ON push_devices (device);
CREATE INDEX push_devices_last_used ON push_devices (last_used);
