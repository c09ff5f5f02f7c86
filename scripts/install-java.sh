#!/usr/bin/env bash
# JDK 17+ and Maven, needed by the local Neo4j server (downloaded from Maven Central and
# started by a small Java launcher) and by PySpark. Installs them from Debian's packages
# when missing (as root, or with sudo); does nothing when they are present.
set -euo pipefail

if command -v java >/dev/null && command -v javac >/dev/null && command -v mvn >/dev/null; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install-java.sh: java/javac/mvn missing and no root to install openjdk-17-jdk-headless and maven" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends openjdk-17-jdk-headless maven >/dev/null
java -version 2>&1 | head -1
