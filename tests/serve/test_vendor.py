"""The vendored browser libraries: the SHA-256 recorded in MANIFEST.json matches the files, and the wheel ships them."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "rxring" / "serve" / "static" / "vendor"


def test_recorded_sha256_matches_every_vendored_file():
    manifest = json.loads((VENDOR / "MANIFEST.json").read_text(encoding="utf-8"))
    cytoscape = manifest["packages"]["cytoscape"]
    assert cytoscape["version"] and cytoscape["licence"] == "MIT" and cytoscape["tarball_integrity"].startswith("sha512-")
    assert {"cytoscape.min.js", cytoscape["licence_file"]} <= set(cytoscape["files"])
    for name, digest in cytoscape["files"].items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    listed = {name for package in manifest["packages"].values() for name in package["files"]}
    assert listed == {p.name for p in VENDOR.iterdir()} - {"MANIFEST.json"}, "a vendored file is not in the manifest"


def test_the_refresh_script_verifies_offline():
    spec = importlib.util.spec_from_file_location("vendor_assets", ROOT / "scripts" / "vendor_assets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.verify() == []
    assert module.PINS["cytoscape"]["version"] == json.loads((VENDOR / "MANIFEST.json").read_text())["packages"]["cytoscape"]["version"]


def test_the_wheel_ships_templates_and_assets():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]["rxring"]
    assert {"serve/templates/*", "serve/static/*", "serve/static/vendor/*"} <= set(data)
