"""WeChat safe-mode ("消息加解密") message crypto: AES-256-CBC with the AppID appended and 32-byte PKCS#7.

Byte layout of the plaintext: 16 random bytes, the 4-byte big-endian length of the message, the message,
the AppID; padded with PKCS#7 to a multiple of 32 bytes; the IV is the first 16 bytes of the key.
Every failure raises ValueError; the protocol layer turns it into its own error type.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

ENCODING_AES_KEY_LENGTH = 43
PAD_BLOCK_SIZE = 32
AES_BLOCK_SIZE = 16
RANDOM_PREFIX_LENGTH = 16
LENGTH_FIELD = struct.Struct(">I")


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """Turn the 43-character EncodingAESKey from the Official Account console into the 32-byte AES key."""
    if len(encoding_aes_key) != ENCODING_AES_KEY_LENGTH or not encoding_aes_key.isascii():
        raise ValueError(f"EncodingAESKey must be {ENCODING_AES_KEY_LENGTH} base64 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as exc:
        raise ValueError("EncodingAESKey is not valid base64") from exc
    if len(key) != 32:
        raise ValueError("EncodingAESKey does not decode to 32 bytes")
    return key


def _cipher(key: bytes) -> Cipher:
    """Build the cipher WeChat uses: AES-256-CBC whose IV is the first half of the key."""
    return Cipher(algorithms.AES(key), modes.CBC(key[:AES_BLOCK_SIZE]))


def _random_prefix() -> bytes:
    """Sixteen unpredictable printable bytes; they stand in for the fixed IV, as in Tencent's samples."""
    return secrets.token_urlsafe(12).encode("ascii")


def encrypt(key: bytes, app_id: str, message: bytes) -> str:
    """Encrypt one message for WeChat and return it base64-encoded, ready for the <Encrypt> element."""
    plaintext = b"".join((_random_prefix(), LENGTH_FIELD.pack(len(message)), message, app_id.encode("utf-8")))
    pad_length = PAD_BLOCK_SIZE - len(plaintext) % PAD_BLOCK_SIZE
    plaintext += bytes([pad_length]) * pad_length
    encryptor = _cipher(key).encryptor()
    ciphertext = encryptor.update(plaintext) + encryptor.finalize()
    return base64.b64encode(ciphertext).decode("ascii")


def decrypt(key: bytes, app_id: str, encrypted: str) -> bytes:
    """Decrypt the content of an <Encrypt> element, refusing anything not addressed to `app_id`."""
    try:
        ciphertext = base64.b64decode(encrypted.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise ValueError("ciphertext is not valid base64") from exc
    if not ciphertext or len(ciphertext) % AES_BLOCK_SIZE:
        raise ValueError(f"ciphertext of {len(ciphertext)} bytes is not a whole number of AES blocks")
    decryptor = _cipher(key).decryptor()
    plaintext = decryptor.update(ciphertext) + decryptor.finalize()

    pad_length = plaintext[-1]
    if not 1 <= pad_length <= PAD_BLOCK_SIZE or plaintext[-pad_length:] != bytes([pad_length]) * pad_length:
        raise ValueError("bad PKCS#7 padding")
    body = plaintext[RANDOM_PREFIX_LENGTH:-pad_length]
    if len(body) < LENGTH_FIELD.size:
        raise ValueError("plaintext too short for its length field")
    (message_length,) = LENGTH_FIELD.unpack_from(body)
    message_end = LENGTH_FIELD.size + message_length
    if message_end > len(body):
        raise ValueError("message length runs past the end of the plaintext")
    if not hmac.compare_digest(body[message_end:], app_id.encode("utf-8")):
        raise ValueError("message is addressed to a different AppID")
    return body[LENGTH_FIELD.size : message_end]
