#!/usr/bin/env bash
# The format check of the test command: every C++ file git tracks is formatted as the repo's
# .clang-format says (clang-format 14). Prints the files that are not and the command that
# fixes them; exits 1 if there is any.
set -euo pipefail
cd "$(dirname "$0")/.."
fmt=$(command -v clang-format-14 || command -v clang-format)
mapfile -t files < <(git ls-files '*.cpp' '*.h')
bad=()
for f in "${files[@]}"; do
  "$fmt" --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ "${#bad[@]}" -gt 0 ]; then
  printf 'not formatted: %s\n' "${bad[@]}"
  echo "fix: $fmt -i ${bad[*]}"
  exit 1
fi
echo "format: ${#files[@]} C++ files formatted as .clang-format says"
