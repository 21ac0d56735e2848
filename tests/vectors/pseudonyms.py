"""Known-answer vectors for ror-opendata's pseudonyms, computed independently of the Rust code with
Python's standard library only (hmac, hashlib, base64), so that a change in either implementation or
in the specification shows up as a failing test rather than as silently different pseudonyms.

Specification (src/disclose/pseudonym.rs, src/keys/mod.rs):
  key       = HKDF-SHA-256(ikm = master secret, salt = "ror-opendata pseudonym keys v1",
                           info = "ror-opendata/pseudonym/<audience>/epoch-<n>", length 32)
  input     = "<kind>:<canonical value>" in UTF-8 (the canonical value is written out below, by hand)
  pseudonym = base32 (RFC 4648, lower case, no padding) of the first 16 bytes of HMAC-SHA-256(key, input)

Usage: python3 tests/vectors/pseudonyms.py > tests/vectors/pseudonyms.json
"""

import base64
import hashlib
import hmac
import json

MASTER = bytes(range(32))  # 000102…1f: a test secret, never a real one
SALT = b"ror-opendata pseudonym keys v1"

# (kind, value as received, canonical value)
INPUTS = [
    ("idnat_ps", "810001234567", "810001234567"),
    ("idnat_ps", " 10001234567 ", "810001234567"),
    ("idnat_ps", "751012345", "0751012345"),
    ("finess", "10000123", "010000123"),
    ("finess", "2a0000012", "2A0000012"),
    ("siret", "123 456 789 00012", "12345678900012"),
    ("siren", "921317258", "921317258"),
    ("ror", "Organization/110000000", "110000000"),
    ("ror", "300000123", "300000123"),
    ("telephone", "+33 1 45 86 20 45", "0145862045"),
    ("telephone", "01.45.86.20.45", "0145862045"),
    ("telecom", "Accueil@Hopital.Example", "accueil@hopital.example"),
    ("email", " Jean.Dupont@Example.FR", "jean.dupont@example.fr"),
    ("texte", "  Élodie   Martin ", "ÉLODIE MARTIN"),
]
KEYS = [("public", 1), ("drees", 1), ("hdh", 1), ("drees", 2)]


def hkdf(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def main() -> None:
    vectors = []
    for audience, epoch in KEYS:
        key = hkdf(MASTER, SALT, f"ror-opendata/pseudonym/{audience}/epoch-{epoch}".encode())
        for kind, value, canonical in INPUTS:
            mac_input = f"{kind}:{canonical}"
            mac = hmac.new(key, mac_input.encode("utf-8"), hashlib.sha256).digest()
            pseudonym = base64.b32encode(mac[:16]).decode().rstrip("=").lower()
            vectors.append({"audience": audience, "epoch": epoch, "kind": kind, "value": value, "mac_input": mac_input, "pseudonym": pseudonym})
    print(json.dumps({"master_secret_hex": MASTER.hex(), "hkdf_salt": SALT.decode(), "vectors": vectors}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
