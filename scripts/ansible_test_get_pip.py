"""Put pip into one of ansible-test's empty virtual environments, with no download site of its own.

ansible-test creates each sanity test's virtual environment without pip, then runs a "get-pip"
script it downloads from ci-files.testing.ansible.com and caches as
``~/.ansible/test/cache/get_pip_<version>.py``.  Where that site is not reachable (it is not on
every CI runner), ``scripts/sanity`` caches this file under that name instead.  ansible-test runs
it with the virtual environment's Python and pip's install arguments, for example
``--disable-pip-version-check pip==25.2 --no-setuptools --no-wheel``; it does the same with the
pip that Python bundles (``ensurepip``) and the package index pip is configured with.
"""

from __future__ import annotations

import subprocess
import sys

# get-pip's own flags (not pip's): this script never installs setuptools or wheel anyway.
OWN_FLAGS = {"--no-setuptools", "--no-wheel"}


def main() -> int:
    pip_args = [arg for arg in sys.argv[1:] if arg not in OWN_FLAGS]
    quiet = ["--disable-pip-version-check", "-q"]
    ensurepip = [sys.executable, "-m", "ensurepip", "--default-pip"]
    subprocess.run(ensurepip, check=True, stdout=subprocess.DEVNULL)
    command = [sys.executable, "-m", "pip", "install", *quiet, *pip_args]
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
