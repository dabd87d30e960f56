"""Suite-wide: the thread count is chosen (and said, once per process) before any test reads a command's output."""
import pytest

from engine.threads import configure_threads


@pytest.fixture(autouse=True, scope="session")
def threads_chosen_once():
    """Every command chooses torch's threads and the first one in a process says so on stderr; the suite is one
    process, so the choice is made here, and no test's output depends on which test ran first."""
    configure_threads()
