# Shared helpers for scripts/*. Sourced, not run.
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Swift lives in /opt/swift on our machines, not always on PATH.
require_swift() {
  if ! command -v swift >/dev/null 2>&1; then
    for dir in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
      [ -x "$dir/swift" ] && export PATH="$dir:$PATH" && break
    done
  fi
  command -v swift >/dev/null 2>&1 || die "swift not found: install Swift 6 (https://www.swift.org/install/linux/) and put it on PATH"
}

# A virtual environment at $1 with the pinned packages of requirements file $2, installed from PyPI once
# and again whenever that file changes (a stamp holds its checksum). A failed install stops the caller.
python_venv() {
  local venv=$1 requirements=$2 stamp sum
  stamp="$venv/.requirements.sha256"
  sum=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then return 0; fi
  say "installing $(grep -cvE '^\s*(#|$)' "$requirements") pinned Python packages into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" || die "cannot create the virtual environment $venv (python3 -m venv; on Debian: apt-get install python3-venv)"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" ||
    die "cannot install the packages of $requirements from PyPI into $venv: see pip's message above"
  echo "$sum" >"$stamp"
}
