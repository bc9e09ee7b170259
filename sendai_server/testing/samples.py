"""The sample documents packaged with sendai-server (sendai_server/samples/), for a test to
upload: `sendai.sample("invoice.pdf")` is a path that `upload()` and `outcome()` take."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def sample_names() -> list[str]:
    """The names of the packaged samples, sorted."""
    folder = resources.files("sendai_server").joinpath("samples")
    return sorted(entry.name for entry in folder.iterdir()
                  if entry.is_file() and not entry.name.startswith("."))


def sample(name: str = "invoice.pdf") -> Path:
    """The packaged sample `name` as a path; FileNotFoundError naming the samples there are
    when there is none of that name."""
    if name not in sample_names():
        raise FileNotFoundError(f"no sample {name!r}; the samples are: "
                                + ", ".join(sample_names()))
    path = resources.files("sendai_server").joinpath("samples", name)
    # An installed package is a folder of files (setup.cfg's package_data); a zipped one is
    # not supported by the plugin's server anyway (it writes its database beside the tests).
    return Path(str(path))
