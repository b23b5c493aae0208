"""The customer's side of SM2 and SM3 for the conformance tests, through the pure-Python `gmssl`
package, and the few DER structures the vendor's formats use (a tiny encoder and reader, since
`cryptography` knows neither the SM2 curve nor the GM/T 0009 ciphertext structure)."""

import base64
import secrets

from gmssl import sm2, sm3

CURVE = sm2.default_ecc_table
ORDER = int(CURVE["n"], 16)
# SubjectPublicKeyInfo of an SM2 key up to the point: id-ecPublicKey (1.2.840.10045.2.1) with the
# named curve sm2p256v1 (1.2.156.10197.1.301, GB/T 32918), then the BIT STRING header.
SM2_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")
# The default signer id of GM/T 0009-2012, section 10: "1234567812345678".
DEFAULT_USER_ID = b"1234567812345678"


# ---- DER ----

def der_tlv(tag, content):
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def der_int(value):
    raw = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")
    return der_tlv(0x02, raw)


def der_octets(data):
    return der_tlv(0x04, data)


def der_seq(*parts):
    return der_tlv(0x30, b"".join(parts))


def der_read(data, pos=0):
    """One TLV at `pos`: (tag, content, position after it). Definite lengths only."""
    tag = data[pos]
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise ValueError("DER length runs past the data")
    return tag, data[pos:end], end


def der_sequence_items(data):
    """The (tag, content) items of the SEQUENCE that is the whole of `data`."""
    tag, content, end = der_read(data)
    if tag != 0x30 or end != len(data):
        raise ValueError("not exactly one DER SEQUENCE")
    items, pos = [], 0
    while pos < len(content):
        item_tag, item, pos = der_read(content, pos)
        items.append((item_tag, item))
    return items


def der_signature_rs(signature):
    """(r, s) of a DER SEQUENCE {r INTEGER, s INTEGER}."""
    items = der_sequence_items(signature)
    assert [t for t, _ in items] == [0x02, 0x02], "a signature is SEQUENCE {r INTEGER, s INTEGER}"
    return tuple(int.from_bytes(v, "big") for _, v in items)


# ---- SM3 / SM2 ----

def sm3_hash(data):
    return bytes.fromhex(sm3.sm3_hash(list(data)))


def _crypt(point, private_hex=None):
    # CryptSM2 strips a leading "04" with str.lstrip, which also eats leading 0 and 4 digits of x;
    # the point is set afterwards to keep it whole.
    c = sm2.CryptSM2(private_key=private_hex, public_key="", mode=1)
    c.public_key = point.hex()
    return c


class Sm2Key:
    """An SM2 key pair made here (the private half stays in the test), or a public key alone."""

    def __init__(self, point, private=None):
        assert len(point) == 64, "x || y, 32 bytes each"
        self.point = point
        self.private = private

    @classmethod
    def generate(cls):
        d = secrets.randbelow(ORDER - 2) + 1
        point = bytes.fromhex(_crypt(b"\0" * 64)._kg(d, CURVE["g"]))
        return cls(point, d)

    @classmethod
    def from_spki(cls, der):
        assert der[:len(SM2_SPKI_PREFIX)] == SM2_SPKI_PREFIX, der.hex()
        point = der[len(SM2_SPKI_PREFIX):]
        assert len(point) == 65 and point[0] == 0x04, "an uncompressed point"
        return cls(point[1:])

    def spki(self):
        return SM2_SPKI_PREFIX + b"\x04" + self.point

    def pem(self):
        body = base64.b64encode(self.spki()).decode()
        lines = [body[i:i + 64] for i in range(0, len(body), 64)]
        return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"

    def digest(self, message, user_id=DEFAULT_USER_ID):
        """e = SM3(Z || M), Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA) (GB/T 32918.2)."""
        z = sm3_hash((len(user_id) * 8).to_bytes(2, "big") + user_id
                     + bytes.fromhex(CURVE["a"] + CURVE["b"] + CURVE["g"]) + self.point)
        return sm3_hash(z + message)

    def verify(self, der_signature, message):
        """Verifies an SM2-with-SM3 DER signature over `message` (default user id)."""
        r, s = der_signature_rs(der_signature)
        if not (0 < r < ORDER and 0 < s < ORDER):
            return False
        return bool(_crypt(self.point).verify_with_sm3("%064x%064x" % (r, s), message))

    def sign(self, message):
        """An SM2-with-SM3 DER signature over `message` (default user id)."""
        assert self.private is not None
        hex_rs = _crypt(self.point, "%064x" % self.private).sign_with_sm3(message)
        return der_seq(der_int(int(hex_rs[:64], 16)), der_int(int(hex_rs[64:], 16)))

    def encrypt_asn1(self, plaintext):
        """SM2 encryption in C1C3C2 order, in the GM/T 0009 structure
        SEQUENCE {x INTEGER, y INTEGER, hash OCTET STRING, ciphertext OCTET STRING}."""
        raw = _crypt(self.point).encrypt(plaintext)
        x, y, c3, c2 = raw[:32], raw[32:64], raw[64:96], raw[96:]
        return der_seq(der_int(int.from_bytes(x, "big")), der_int(int.from_bytes(y, "big")),
                       der_octets(c3), der_octets(c2))

    def decrypt_c1c3c2(self, data):
        """Decrypts `04 || x || y || C3 || C2` (C1 an uncompressed point)."""
        assert self.private is not None
        assert data[0] == 0x04, "C1 is an uncompressed point"
        return _crypt(self.point, "%064x" % self.private).decrypt(data[1:])

    def decrypt_asn1(self, data):
        items = der_sequence_items(data)
        assert [t for t, _ in items] == [0x02, 0x02, 0x04, 0x04], "SEQUENCE {x, y, hash, ciphertext}"
        (_, x), (_, y), (_, c3), (_, c2) = items
        c1 = int.from_bytes(x, "big").to_bytes(32, "big") + int.from_bytes(y, "big").to_bytes(32, "big")
        assert len(c3) == 32
        return self.decrypt_c1c3c2(b"\x04" + c1 + c3 + c2)
