"""Packages with Python dependencies: one environment per dependency set, built from a local wheelhouse
(machines without internet), reused for the next run, and still seeing the executor's Robot Framework."""

import subprocess
import zipfile
from pathlib import Path

from executor.packages import EnvManager


def make_wheel(folder: Path, name: str = "rpa_demo_dep", version: str = "1.0") -> Path:
    """A minimal pure-Python wheel, built without any network."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": 'VALUE = "from the wheelhouse"\n',
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: rpa-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{dist}/RECORD"] = "".join(f"{p},,\n" for p in [*files, f"{dist}/RECORD"])
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for p, text in files.items():
            zf.writestr(p, text)
    return path


def test_environment_is_built_offline_and_reused(tmp_path):
    """The dependency comes from the wheelhouse; the same set reuses the environment; RF stays importable."""
    make_wheel(tmp_path / "wheelhouse")
    envs = EnvManager(tmp_path / "envs", wheelhouse=tmp_path / "wheelhouse")
    said: list[str] = []
    python = envs.python_for(["rpa-demo-dep==1.0"], said.append)
    out = subprocess.run(
        [python, "-c", "import rpa_demo_dep, robot, executor; print(rpa_demo_dep.VALUE)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "from the wheelhouse"
    assert any(s.startswith("Building environment") for s in said)
    again: list[str] = []
    assert envs.python_for(["rpa-demo-dep==1.0"], again.append) == python
    assert any("reused" in s for s in again)


def test_missing_dependency_fails_with_the_dependencies_error(tmp_path):
    """A dependency the wheelhouse does not have fails the run clearly, not with a traceback."""
    import pytest

    from executor import errors
    from executor.errors import RunError

    (tmp_path / "wheelhouse").mkdir()
    envs = EnvManager(tmp_path / "envs", wheelhouse=tmp_path / "wheelhouse")
    with pytest.raises(RunError) as err:
        envs.python_for(["no-such-package==9.9"], lambda _s: None)
    assert err.value.code == errors.DEPENDENCIES_FAILED
    assert "pip install failed" in str(err.value)
