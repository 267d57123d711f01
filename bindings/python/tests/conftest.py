import pytest

import azmx_sync

RECEIPT = "azmx-receipt-7Hq2-Secret-Value"
LICENSE = "lic_test_01"


@pytest.fixture(scope="session")
def key():
    return azmx_sync.EnvelopeKey.derive(RECEIPT, LICENSE)


@pytest.fixture(scope="session")
def other_key():
    return azmx_sync.EnvelopeKey.derive("a different receipt", LICENSE)
