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
