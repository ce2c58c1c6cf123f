#!/usr/bin/env bash
# Installs the Debian packages the test suite needs for its real components, when missing:
#   PostgreSQL server (state store tests), Chromium + ChromeDriver (web pages), Java 17 (Spark),
#   gcc (the compiled pass built ahead of time, roamlike.rating.aot: optional for a run, tested).
# Idempotent: it installs nothing when every command is already there. Needs root (or sudo) to
# install; without either it prints what is missing and exits 0, and the tests that need a missing
# component are skipped locally (under CI=true they fail instead, see tests/conftest.py).
set -euo pipefail

# command that proves the package is there -> Debian package(s) providing it
declare -A need=(
  [pg_ctl]="postgresql"
  [chromium]="chromium"
  [chromedriver]="chromium-driver"
  [java]="openjdk-17-jre-headless"
  [gcc]="gcc"
)

have() {
  case "$1" in
    pg_ctl) command -v pg_ctl >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

missing=()
for cmd in "${!need[@]}"; do
  have "$cmd" || missing+=("${need[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo="sudo"
else
  echo "system-packages: missing ${missing[*]} (run: apt-get install ${missing[*]}); tests needing them will be skipped" >&2
  exit 0
fi
echo "system-packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
