"""Fetch the website's JavaScript (MathJax, Mermaid, the widget manager) from pinned npm packages.

The site must read offline, so it serves these files itself instead of loading them from a CDN.
Each package in ``site/assets.json`` is pinned by version and by the registry's sha512 integrity:
the tarball comes from ``npm pack``, its hash is checked, and only the listed files are copied
into ``_build/assets/vendor/<dest>/``, which ``_config.yml`` adds to the site's static files.

    python site/fetch_assets.py            # fetch what is missing, print what is served
    python site/fetch_assets.py --check    # exit 1 if the vendored files are missing or stale
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPEC = HERE / "assets.json"
OUT = ROOT / "_build" / "assets" / "vendor"
TARBALLS = ROOT / "_build" / "assets" / "npm"
MANIFEST = "MANIFEST.json"


class AssetError(RuntimeError):
    """A vendored package could not be fetched or did not match its pin."""


def load_spec(path: Path = SPEC) -> list[dict]:
    """The pinned packages listed in ``assets.json``."""
    try:
        packages = json.loads(path.read_text())["packages"]
    except (OSError, ValueError, KeyError) as err:
        raise AssetError(f"{path}: expected a JSON object with a 'packages' list ({err})") from err
    for pkg in packages:
        missing = {"package", "version", "integrity", "dest", "strip", "include"} - set(pkg)
        if missing:
            raise AssetError(f"{path}: entry {pkg.get('package', pkg)!r} lacks {sorted(missing)}")
    return packages


def sri_sha512(path: Path) -> str:
    """The file's Subresource-Integrity string (``sha512-<base64>``), as npm records it."""
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


def npm_pack(pkg: dict, into: Path) -> Path:
    """Download ``package@version`` as a tarball with ``npm pack`` and check its integrity."""
    into.mkdir(parents=True, exist_ok=True)
    spec = f"{pkg['package']}@{pkg['version']}"
    filename = pkg["package"].lstrip("@").replace("/", "-") + f"-{pkg['version']}.tgz"
    tarball = into / filename
    if not tarball.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise AssetError(
                "npm not found: the website's MathJax, Mermaid and widget files come from npm "
                "packages. Install Node.js and npm (Debian: apt-get install nodejs npm)."
            )
        cmd = [npm, "pack", spec, "--json", "--pack-destination", str(into)]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0 or not tarball.exists():
            raise AssetError(f"`{' '.join(cmd)}` failed ({run.returncode}):\n{run.stderr.strip()}")
    actual = sri_sha512(tarball)
    if actual != pkg["integrity"]:
        tarball.unlink()
        raise AssetError(
            f"{spec}: the tarball's integrity is {actual}, but assets.json pins "
            f"{pkg['integrity']}; the download was removed."
        )
    return tarball


def wanted(rel: str, include: list[str]) -> bool:
    """Whether a path inside the package is one of the files the site serves (never maps)."""
    return not rel.endswith(".map") and any(fnmatch.fnmatchcase(rel, pat) for pat in include)


def extract(pkg: dict, tarball: Path, out: Path) -> dict:
    """Copy the listed files of the tarball into ``out/<dest>``; returns their count and bytes."""
    dest = out / pkg["dest"]
    tmp = out / f".tmp-{pkg['dest']}"
    shutil.rmtree(tmp, ignore_errors=True)
    strip = pkg["strip"].strip("/")
    files, size = 0, 0
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar.getmembers():
            rel = member.name.split("/", 1)[1] if "/" in member.name else member.name
            if not member.isfile() or not wanted(rel, pkg["include"]):
                continue
            target_rel = rel[len(strip) + 1 :] if strip and rel.startswith(strip + "/") else rel
            target = tmp / target_rel
            if ".." in Path(target_rel).parts:
                raise AssetError(f"{tarball.name}: refusing path {member.name!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            target.write_bytes(source.read())
            files += 1
            size += member.size
    if files == 0:
        raise AssetError(f"{tarball.name}: none of {pkg['include']} matched a file")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return {"files": files, "bytes": size}


def pins(packages: list[dict]) -> list[list[str]]:
    return [[p["package"], p["version"], p["integrity"]] for p in packages]


def up_to_date(packages: list[dict], out: Path) -> bool:
    """True when ``out`` holds exactly the pinned versions, every one with its files."""
    try:
        manifest = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("pins") == pins(packages) and all(
        (out / p["dest"]).is_dir() for p in packages
    )


def fetch(out: Path = OUT, tarballs: Path = TARBALLS, spec: Path = SPEC) -> dict:
    """Make ``out`` hold the pinned files; returns the manifest (package, version, files, bytes)."""
    packages = load_spec(spec)
    if up_to_date(packages, out):
        return json.loads((out / MANIFEST).read_text())
    out.mkdir(parents=True, exist_ok=True)
    served = []
    for pkg in packages:
        counts = extract(pkg, npm_pack(pkg, tarballs), out)
        served.append({k: pkg[k] for k in ("package", "version", "dest", "purpose")} | counts)
    manifest = {"pins": pins(packages), "served": served}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check, fetch nothing")
    args = parser.parse_args(argv)
    if args.check:
        ok = up_to_date(load_spec(), OUT)
        print("vendored assets are " + ("up to date" if ok else f"missing or stale in {OUT}"))
        return 0 if ok else 1
    try:
        manifest = fetch()
    except AssetError as err:
        print(f"fetch_assets: {err}", file=sys.stderr)
        return 1
    total = 0
    for item in manifest["served"]:
        total += item["bytes"]
        print(
            f"  {item['package']}@{item['version']:<8} {item['files']:4d} files "
            f"{item['bytes'] / 1e6:6.2f} MB  -> _static/vendor/{item['dest']}/"
        )
    print(f"  {'all':<30} {total / 1e6:6.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
