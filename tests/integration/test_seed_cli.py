"""`newswire seed` loads seeds/ once; running it again changes nothing."""

from tests.support import newswire


def test_seed_twice_changes_nothing(stack):
    first = newswire(["seed"], stack.env)
    assert first.returncode == 0, first.stderr
    counts = (stack.count("story"), stack.count("subscriber"))
    second = newswire(["seed"], stack.env)
    assert second.returncode == 0, second.stderr
    assert "nothing new" in second.stdout
    assert (stack.count("story"), stack.count("subscriber")) == counts
