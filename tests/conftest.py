import pytest

from bannb.data.fashion_mnist import find_folder


@pytest.fixture(scope="session")
def fashion_mnist_available():
    """The real dataset: `make test` obtains it first, so a missing one is a set-up failure, not a skip."""
    if find_folder() is None:
        pytest.fail("Fashion-MNIST is not installed: run `make data` (or `make test`, which does it)")
    return True
