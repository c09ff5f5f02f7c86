#!/usr/bin/env python3
"""Vendor the workbench's browser libraries from npm, and verify what is vendored.

`rxring serve` loads no asset from outside the Python package (issue 16): each
library is fetched once with ``npm pack`` (the registry's tarball, whose integrity
npm checks), its minified file and licence are copied into
``rxring/serve/static/vendor/``, and ``MANIFEST.json`` there records the package,
version, tarball integrity, licence and the SHA-256 of every copied file.

    python scripts/vendor_assets.py            # verify the files against MANIFEST.json (no network)
    python scripts/vendor_assets.py --refresh  # fetch the pinned versions again and rewrite MANIFEST.json
    python scripts/vendor_assets.py --refresh --set cytoscape=3.35.0   # move a pin

Exit status 1 when a file is missing or its SHA-256 differs from the manifest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[1] / "rxring" / "serve" / "static" / "vendor"
MANIFEST = VENDOR / "MANIFEST.json"

#: What is vendored: npm package -> version, the file taken from the tarball and the name it gets here.
PINS = {
    "cytoscape": {
        "version": "3.35.0",
        "files": {"package/dist/cytoscape.min.js": "cytoscape.min.js"},
        "licence": {"package/LICENSE": "LICENSE-cytoscape.txt"},
        "licence_id": "MIT",
    },
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refresh(pins: dict) -> dict:
    """Fetch every pinned package with ``npm pack`` and copy its files here; the new manifest."""
    manifest = {"note": "written by scripts/vendor_assets.py --refresh; verify with scripts/vendor_assets.py",
                "packages": {}}
    VENDOR.mkdir(parents=True, exist_ok=True)
    for name, pin in pins.items():
        spec = f"{name}@{pin['version']}"
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run(["npm", "pack", spec, "--json"], cwd=tmp, check=True, capture_output=True, text=True)
            info = json.loads(out.stdout)[0]
            with tarfile.open(Path(tmp) / info["filename"]) as tar:
                members = {**pin["files"], **pin["licence"]}
                for member, target in members.items():
                    source = tar.extractfile(member)
                    if source is None:
                        raise SystemExit(f"{spec}: {member} is not a file in the tarball")
                    with open(VENDOR / target, "wb") as handle:
                        shutil.copyfileobj(source, handle)
        manifest["packages"][name] = {
            "version": pin["version"],
            "registry": "https://registry.npmjs.org/",
            "tarball_integrity": info.get("integrity"),
            "licence": pin["licence_id"],
            "licence_file": next(iter(pin["licence"].values())),
            "files": {target: sha256(VENDOR / target) for target in {**pin["files"], **pin["licence"]}.values()},
        }
    MANIFEST.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def verify() -> list[str]:
    """Problems of the vendored files against MANIFEST.json ([] when every SHA-256 matches)."""
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    problems = []
    for name, package in manifest["packages"].items():
        for file, digest in package["files"].items():
            path = VENDOR / file
            if not path.exists():
                problems.append(f"{name}: {file} missing")
            elif sha256(path) != digest:
                problems.append(f"{name}: {file} SHA-256 {sha256(path)} != recorded {digest}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--refresh", action="store_true", help="fetch the pinned versions with npm pack")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VERSION", help="move a pin (with --refresh)")
    args = parser.parse_args(argv)
    if args.refresh:
        pins = json.loads(json.dumps(PINS))
        for item in args.set:
            name, _, version = item.partition("=")
            pins[name]["version"] = version
        manifest = refresh(pins)
        for name, package in manifest["packages"].items():
            print(f"{name} {package['version']}: {', '.join(package['files'])}")
        if args.set:
            print("remember to update PINS in scripts/vendor_assets.py to the versions set")
    problems = verify()
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"OK: vendored files match {MANIFEST.relative_to(VENDOR.parents[3])}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
