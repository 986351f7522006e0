"""Password hashing with argon2id, off the event loop.

Default parameters are OWASP's first argon2id recommendation (m=19 MiB, t=2, p=1): ≈16 ms per
hash on this project's 2-core reference machine. Hashing runs in threads of its own (argon2
releases the GIL), so slow hashes never stall other requests on the loop — and no more of them
at once than the process has cores: each hash fills 19 MiB, and six at a time per process (the
default executor's size) thrashed the caches so that 32 concurrent logins reached 62 % of the
cores ÷ hash-time ceiling (``make bench-gateway``).
"""

from __future__ import annotations

import asyncio
import os
import re
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from mediagw.common.text import has_control_characters

MIN_LENGTH = 10
MAX_LENGTH = 128
COMMON = frozenset(
    {"password123", "1234567890", "qwertyuiop", "letmein123", "iloveyou12", "password12",
     "0123456789", "abcdefghij", "passw0rd123", "welcome123"}
)  # fmt: skip


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


_NOT_COMMON = "(?!(?:" + "|".join(_any_case(word) for word in sorted(COMMON)) + ")$)"
_FOUR_DISTINCT = r"(?=(.)\1*(?!\1)(.)(?:\1|\2)*(?!\1|\2)(.)(?:\1|\2|\3)*(?!\1|\2|\3).)"
PASSWORD_PATTERN = (
    f"^{_NOT_COMMON}{_FOUR_DISTINCT}[^\\x00-\\x1f\\x7f]{{{MIN_LENGTH},{MAX_LENGTH}}}$"
)
"""The whole policy as one ECMA-262 regular expression: not a common password (in any case), at
least 4 distinct characters, printable, 10 to 128 characters. The documents carry it as the
password's ``pattern`` and ``password_problem`` enforces the very same expression, so a password
the document admits is never refused and one it excludes never accepted."""
_POLICY = re.compile(PASSWORD_PATTERN)


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None (see :data:`PASSWORD_PATTERN`)."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return f"must be {MIN_LENGTH} to {MAX_LENGTH} characters"
    if has_control_characters(password):
        return "must not contain control characters"
    if not _POLICY.match(password):
        return "is too easy to guess"
    return None


def hashing_threads() -> int:
    """This process's share of the cores: ``mediagw serve --workers N`` runs N processes on the
    same machine (it says how many in ``MG_SERVE_WORKERS``)."""
    workers = max(1, int(os.environ.get("MG_SERVE_WORKERS", "1") or 1))
    return max(1, (os.cpu_count() or 1) // workers)


class Passwords:
    def __init__(self, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        self._threads = ThreadPoolExecutor(
            max_workers=hashing_threads(), thread_name_prefix="argon2"
        )
        # A hash to verify against when the user does not exist, so unknown e-mails cost the
        # same time as wrong passwords and cannot be told apart by timing.
        self._decoy = self._hasher.hash("decoy password for absent users")

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(
            self._threads, self._hasher.hash, password
        )

    async def verify(self, stored: str | None, password: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(
            self._threads, self._verify, stored, password
        )

    def _verify(self, stored: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored or self._decoy, password) and bool(stored)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)
