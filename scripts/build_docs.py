"""Build the API reference of ``import sim`` with pdoc, from the public API's type hints and Google docstrings.

    python scripts/build_docs.py [OUT]       # default docs/api/ (generated, not committed)

Only the package's public names (``sim.__all__``) are documented, on one page.
Any warning pdoc gives about our code (an annotation it cannot resolve, a
docstring it cannot read) fails the build. CoupleModel inherits Mesa's Model,
whose own annotations name type variables pdoc cannot import; those warnings
are Mesa's, are counted and reported, and do not fail it.
"""

from __future__ import annotations

import inspect
import re
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "api"
_ANNOTATION = re.compile(r"Error parsing type annotation .* for (?P<name>[\w.]+)\. ")


def _from_mesa(qualified: str) -> bool:
    """Whether the member a warning names is defined by Mesa (inherited), not by us."""
    if qualified.startswith("mesa."):
        return True
    import sim
    parts = qualified.split(".")
    if len(parts) != 3 or parts[0] != "sim" or parts[1] not in sim.__all__:
        return False
    owner = getattr(sim, parts[1])
    if not inspect.isclass(owner):
        return False
    defining = next((c for c in owner.__mro__ if parts[2] in vars(c)), None)
    return defining is not None and defining.__module__.split(".")[0] == "mesa"


def build(out: str | Path = DEFAULT_OUT) -> tuple[list[str], list[str]]:
    """Write the reference into ``out``.

    Args:
        out: the folder to write (index.html, sim.html, search.js).

    Returns:
        The warnings about our code (the build failed if there are any) and
        those about members inherited from Mesa.
    """
    import pdoc
    import pdoc.render
    sys.path.insert(0, str(ROOT))
    pdoc.render.configure(docformat="google", show_source=False, search=True,
                          footer_text="cycles: the pursue-withdraw cycle in couples")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.pdoc("sim", "!sim.", output_directory=Path(out))
    ours, mesa = [], []
    for warning in caught:
        text = str(warning.message)
        match = _ANNOTATION.match(text)
        (mesa if match and _from_mesa(match.group("name")) else ours).append(text)
    return ours, mesa


def main(argv: list[str]) -> int:
    """Build into ``argv[0]`` (default docs/api); exit status 1 on any warning about our code."""
    out = Path(argv[0]) if argv else DEFAULT_OUT
    ours, mesa = build(out)
    for text in ours:
        print(f"build_docs: warning: {text}", file=sys.stderr)
    print(f"{out / 'sim.html'}: the API reference; {len(ours)} warnings about our code, {len(mesa)} about "
          "members inherited from Mesa")
    return 1 if ours else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
