"""The site signing key: Ed25519, kept by the account that runs the station, outside the data folder.

A site signs what it records (every row of the evidence chain) and every appeal
bundle it writes, so a reviewer who did not make a bundle can tell it came from
this site and was not changed since. The private key is one PEM file (PKCS #8),
mode 0600, owned by the account that uses it; :func:`load_signer` refuses a key
any other account could read, or one that is a link. The public key is what a
seller publishes (:func:`public_pem`); a reviewer compares its fingerprint
(:func:`fingerprint`, ``SHA256:`` and the base64 of the SHA-256 of the raw
32-byte key, as OpenSSH shows keys) with the one ``evidence --verify`` prints.

Signing and verifying go through ``cryptography`` (OpenSSL); nothing here rolls
its own cryptography.
"""
from __future__ import annotations

import base64
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ...errors import PackcheckError

#: The environment variable that names the key file (default: :func:`default_key_path`).
KEY_ENV = "PACKCHECK_SIGNING_KEY"
#: The largest key file read (a PEM Ed25519 key is 119 bytes).
MAX_KEY_FILE_BYTES = 64 * 1024


class SigningKeyError(PackcheckError):
    """The signing key is missing, unsafe to use, or not an Ed25519 key."""


def default_key_path() -> Path:
    """``$PACKCHECK_SIGNING_KEY``, else ``$XDG_CONFIG_HOME/packcheck/site-key.pem`` (``~/.config/...``)."""
    named = os.environ.get(KEY_ENV)
    if named:
        return Path(named)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "packcheck" / "site-key.pem"


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(public: Ed25519PublicKey) -> str:
    """``SHA256:<base64>`` of the raw public key, as ``ssh-keygen -l`` shows keys.

    >>> key = Ed25519PublicKey.from_public_bytes(bytes(32))
    >>> fingerprint(key)
    'SHA256:Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU'
    """
    return "SHA256:" + base64.b64encode(hashlib.sha256(_raw(public)).digest()).decode().rstrip("=")


def public_pem(public: Ed25519PublicKey) -> str:
    """The public key as PEM (SubjectPublicKeyInfo), the form a seller publishes."""
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def public_b64(public: Ed25519PublicKey) -> str:
    return base64.b64encode(_raw(public)).decode()


def public_from_b64(text: str) -> Ed25519PublicKey:
    """The inverse of :func:`public_b64`; a :class:`SigningKeyError` when it is not a 32-byte key."""
    try:
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError):
        raise SigningKeyError("the public key in the bundle is not an Ed25519 key") from None


@dataclass(frozen=True)
class Signer:
    """A loaded private key: signs bytes; knows its public key and fingerprint."""

    private: Ed25519PrivateKey
    path: Path | None = None

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)

    def sign(self, data: bytes) -> str:
        """The base64 Ed25519 signature of ``data``."""
        return base64.b64encode(self.private.sign(data)).decode()


def verify_signature(public: Ed25519PublicKey, data: bytes, signature_b64: str) -> bool:
    """Whether ``signature_b64`` is ``public``'s signature of ``data``."""
    try:
        public.verify(base64.b64decode(signature_b64, validate=True), data)
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def _read_private_file(path: Path) -> bytes:
    """The key file's bytes, refused unless a regular file of this account that no one else can read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise SigningKeyError(f"no site signing key at {path}; create one with 'packcheck keys init' "
                        f"(or give --signing-key)") from None
    except OSError as e:
        if os.path.islink(path):
            raise SigningKeyError(f"the signing key {path} is a symbolic link; give the key file itself") from None
        raise SigningKeyError(f"the signing key {path} cannot be read ({e.strerror or e})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SigningKeyError(f"the signing key {path} is not a regular file")
        if st.st_uid != os.geteuid():
            raise SigningKeyError(f"the signing key {path} belongs to another account (uid {st.st_uid}); the key "
                            "must belong to the account that runs packcheck")
        if st.st_mode & 0o077:
            raise SigningKeyError(f"the signing key {path} can be read by other accounts (mode "
                            f"{stat.S_IMODE(st.st_mode):04o}); make it private with: chmod 600 {path}")
        if st.st_size > MAX_KEY_FILE_BYTES:
            raise SigningKeyError(f"{path} is {st.st_size} bytes, too large to be a signing key")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(MAX_KEY_FILE_BYTES)
    finally:
        os.close(fd)


def load_signer(path: str | os.PathLike | None = None) -> Signer:
    """Load the private key at ``path`` (default :func:`default_key_path`) for signing."""
    path = Path(path) if path is not None else default_key_path()
    data = _read_private_file(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise SigningKeyError(f"{path} is not a PEM private key without a password ({e})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} is not an Ed25519 key; create one with 'packcheck keys init'")
    return Signer(key, path)


def load_public(path: str | os.PathLike) -> Ed25519PublicKey:
    """A published public key (PEM), or the public half of a private key file."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise SigningKeyError(f"{path} is not a regular file; give the published key (.pem)")
            data = f.read(MAX_KEY_FILE_BYTES)
    except OSError as e:
        raise SigningKeyError(f"the public key {path} cannot be read ({e.strerror or e})") from None
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError):
            raise SigningKeyError(f"{path} is not a PEM public key; export one with 'packcheck keys export'") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{path} is not an Ed25519 key")
    return key


def init_key(path: str | os.PathLike | None = None, *, forbidden: tuple[Path, ...] = ()) -> Signer:
    """Make a new site key at ``path`` (mode 0600, never overwriting one).

    ``forbidden``: folders the key must not be inside (the data folder, the
    evidence folder: what a bundle, a kiosk or a backup of the data exposes).
    """
    path = Path(path) if path is not None else default_key_path()
    check_outside(path, forbidden)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise SigningKeyError(f"{path} already exists; a site keeps one key (its fingerprint is published). "
                        "Use it, or move it away first if you really mean to replace it") from None
    except OSError as e:
        raise SigningKeyError(f"cannot create the signing key {path} ({e.strerror or e})") from None
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    return Signer(key, path)


def check_outside(key_path: Path, folders: tuple[Path, ...]) -> None:
    """Refuse a key file inside any of ``folders`` (resolved, so a link cannot hide it)."""
    resolved = Path(os.path.realpath(key_path))
    for folder in folders:
        if folder is None:
            continue
        root = Path(os.path.realpath(folder))
        if resolved == root or root in resolved.parents:
            raise SigningKeyError(f"the signing key {key_path} is inside {folder}; keep it outside the data and "
                            "evidence folders (bundles, the kiosk and copies of those folders must never "
                            "carry it), e.g. in ~/.config/packcheck/")
