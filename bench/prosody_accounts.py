#!/usr/bin/python3
"""Write Prosody 0.12 accounts directly into its data directory.

    prosody_accounts.py DATA_PATH HOST N [PREFIX]

creates PREFIX0..PREFIX<N-1>@HOST with the password equal to the name, in the
format mod_auth_internal_hashed reads (DATA_PATH/<host>/accounts/<user>.dat,
a Lua file returning a table). Only SCRAM-SHA-1 keys are stored, never the
password, exactly as `prosodyctl register` would store them, with 4096 PBKDF2
iterations (the count Dormouse and ejabberd use, so every server makes the
client do the same work). One `prosodyctl register` per account takes about a
second; this takes a few seconds for thousands.
"""

import hashlib
import hmac
import os
import re
import sys
import uuid

ITERATIONS = 4096


def encode(s):
    """util.datamanager's encode: every non-alphanumeric byte as %xx."""
    return re.sub(r"[^A-Za-z0-9]", lambda m: "%%%02x" % ord(m.group(0)), s)


def scram_sha1(password, salt, iterations):
    salted = hashlib.pbkdf2_hmac("sha1", password.encode(), salt.encode(), iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha1).digest()
    stored_key = hashlib.sha1(client_key).hexdigest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha1).hexdigest()
    return stored_key, server_key


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    data_path, host, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    prefix = sys.argv[4] if len(sys.argv) == 5 else "bench"
    accounts = os.path.join(data_path, encode(host), "accounts")
    os.makedirs(accounts, exist_ok=True)
    for i in range(n):
        user = "%s%d" % (prefix, i)
        salt = str(uuid.uuid4())  # Prosody uses a UUID string as the salt
        stored, server = scram_sha1(user, salt, ITERATIONS)
        with open(os.path.join(accounts, encode(user) + ".dat"), "w") as f:
            f.write(
                "return {\n"
                '\t["iteration_count"] = %d;\n'
                '\t["salt"] = "%s";\n'
                '\t["server_key"] = "%s";\n'
                '\t["stored_key"] = "%s";\n'
                "};\n" % (ITERATIONS, salt, server, stored)
            )
    print("created %d Prosody accounts (%s0..%s%d@%s)" % (n, prefix, prefix, n - 1, host))


if __name__ == "__main__":
    main()
