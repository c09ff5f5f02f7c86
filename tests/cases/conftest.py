"""What the case tests share: password hashes at argon2's lowest cost.

rxring hashes passwords with argon2-cffi's defaults (64 MiB, three passes: some 0.3
CPU-s for each hash and each check), and these tests make accounts and sign in by
the dozen; they check who may sign in and what each role may do, not what a hash
costs, so in this folder every hash is made with the smallest parameters (checks
read the parameters from the hash itself).  The account a wrong name is checked
against keeps rxring's own cost.
"""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher


@pytest.fixture(autouse=True, scope="module")
def quick_password_hashes():
    from rxring.cases import users

    default = users.PASSWORD_HASHER
    users.PASSWORD_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    users.PASSWORD_HASHER = default
