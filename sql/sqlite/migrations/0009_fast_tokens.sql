-- XEP-0484 FAST tokens. The token itself is never stored: it is derived
-- from the server secret and nonce (auth.DeriveToken); hash is its SHA-256.
-- Tokens go with the account (ON DELETE CASCADE) and are deleted when its
-- credentials change (AccountStore.SetCredentials).
CREATE TABLE fast_tokens (
	hash       BLOB    NOT NULL PRIMARY KEY,
	account    TEXT    NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
	user_agent TEXT    NOT NULL, -- the XEP-0388 user-agent id
	mechanism  TEXT    NOT NULL,
	nonce      BLOB    NOT NULL,
	created    INTEGER NOT NULL, -- Unix milliseconds
	expiry     INTEGER NOT NULL, -- Unix milliseconds
	count      INTEGER           -- the highest count used; NULL: never used
) STRICT, WITHOUT ROWID;

CREATE INDEX fast_tokens_account ON fast_tokens (account, user_agent);

-- A password change invalidates every token of the account.
CREATE TRIGGER fast_tokens_password AFTER UPDATE OF sha1_stored, sha256_stored ON accounts
BEGIN
	DELETE FROM fast_tokens WHERE account = NEW.name;
END;
