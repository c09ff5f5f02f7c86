#!/bin/sh
# Install headless Chromium and a CJK font for rxring's browser tests, and poppler (pdftoppm, with
# poppler-data's CMaps for the PDFs' built-in Chinese font STSong-Light) for the PDF tests (Debian/Ubuntu).
# Idempotent: does nothing when all are present.  Needs root (or sudo) for apt-get.
# Used by the lead's test script and CI; tests/report/conftest.py finds /usr/bin/chromium.
set -eu

have_browser() {
    for b in chromium chromium-browser google-chrome; do
        if command -v "$b" >/dev/null 2>&1; then return 0; fi
    done
    return 1
}

have_cjk_font() {
    command -v fc-list >/dev/null 2>&1 && fc-list :lang=zh 2>/dev/null | grep -q .
}

have_poppler() {
    command -v pdftoppm >/dev/null 2>&1 && [ -d /usr/share/poppler/cMap/Adobe-GB1 ]
}

if have_browser && have_cjk_font && have_poppler; then
    echo "install-browser: chromium, a CJK font and poppler are already installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install-browser: need root (or sudo) to run apt-get" >&2; exit 1
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: apt-get not found; install chromium, fonts-noto-cjk and poppler-utils by hand" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-noto-cjk fontconfig poppler-utils poppler-data
fc-cache -f >/dev/null 2>&1 || true
echo "install-browser: installed $(chromium --version 2>/dev/null || echo chromium)"
