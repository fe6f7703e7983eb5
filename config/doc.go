// Package config holds Dormouse's configuration: one plain struct with
// defaults in code, loaded from an optional TOML file, then overridden by
// environment variables, then validated.
//
// # Sources, in order
//
//  1. [Default]: the built-in defaults (a server for "localhost" with its data
//     in ./dormouse-data, SQLite and a self-signed certificate).
//  2. A TOML file, if one is given. Every key is optional; keys the file does
//     not set keep their defaults. Unknown keys are an error, so a typo is
//     never silently ignored. dormouse.example.toml (see [Example]) lists
//     every key with its default.
//  3. Environment variables named DORMOUSE_<SECTION>_<KEY>, the upper-cased
//     TOML names joined by underscores: DORMOUSE_C2S_LISTEN=:15222,
//     DORMOUSE_STREAM_MANAGEMENT_RESUME_TIMEOUT=5m. Top-level keys have no
//     section: DORMOUSE_DOMAIN, DORMOUSE_DATA_DIR. Lists are comma-separated
//     (DORMOUSE_HOSTS=a.example,b.example) and maps are comma-separated
//     key=value pairs (DORMOUSE_COMPONENTS_SECRETS=push.example.org=s1,bridge.example.org=s2).
//     An environment variable replaces the whole value of its key. The
//     mapping is derived from the struct's toml tags, so a new key gets its
//     variable automatically.
//
// Any other variable starting with DORMOUSE_ is an error, except those
// starting with DORMOUSE_TEST_, which are reserved for test suites (for
// example to point integration tests at a database) and ignored here.
//
// # Durations and sizes
//
// Durations are strings in Go's syntax ("90s", "10m", "1h30m") with a day
// unit added ("365d", "1d12h"); see [Duration]. Sizes are integers in bytes.
//
// # Errors
//
// Every error [Load] and [Config.Validate] return is, or joins, *[Error]
// values naming the offending key by its TOML path, e.g.
//
//	config: c2s.max_stanza_size: must be at least 10000 bytes (got 5)
//
// so a command can tell configuration mistakes (exit status 2) apart from
// other failures with errors.As.
package config
