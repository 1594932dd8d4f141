"""The engine's public surface is exactly what `keyward.gateway.http` exports."""

import keyward.gateway.http as http


def test_every_public_name_is_exported() -> None:
    public = sorted(name for name in vars(http) if not name.startswith("_"))
    assert sorted(http.__all__) == public
